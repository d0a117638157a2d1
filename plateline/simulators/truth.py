"""The truth of a run: what each tray really was and what should have become of it.

The plant writes one JSON object per tray (JSON Lines) when the tray's trip ends
(diverted or lost). ``compare`` checks the controller's exported records against
it; ``predict`` says what an ideal controller's run of a scenario ends in.
Rules: ``docs/scenario.md``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

from plateline.contract import Reason
from plateline.simulators.layout import CHECK_DONE_MM, GATE_MM, PITCH_MM, WINDOW_MM
from plateline.simulators.scenario import Scenario

OUTFEED, REJECT_BIN, LOST = "outfeed", "reject_bin", "lost"


class EventRef(Protocol):
    """A PLC event: ``number`` is its absolute event number once it is in the ring."""

    @property
    def number(self) -> int | None: ...


def final_expectation(scenario_reason: Reason, outcome: str, lost_at_mm: float | None,
                      verdict_taken: bool) -> tuple[Reason, str]:
    """The reason and outcome the records must show, given what the PLC did.

    - lost (removed by hand, or on the belt at a PLC restart): the scenario's
      reason if the check that finds it was already done (its station's window
      had closed when the tray was lost), else TRACKING_ERROR;
    - reached the gate without a verdict taken: reject bin, the scenario's
      reason if not NONE, else NO_VERDICT;
    - otherwise: outfeed for NONE, reject bin for any other reason.
    """
    if outcome == LOST:
        done_at = CHECK_DONE_MM.get(scenario_reason)
        found = done_at is not None and lost_at_mm is not None and lost_at_mm >= done_at
        return (scenario_reason if found else Reason.TRACKING_ERROR), LOST
    if not verdict_taken:
        reason = scenario_reason if scenario_reason is not Reason.NONE else Reason.NO_VERDICT
        return reason, REJECT_BIN
    return scenario_reason, (OUTFEED if scenario_reason is Reason.NONE else REJECT_BIN)


@dataclass
class _Open:
    serial: int
    tray: int
    plc_boot: int
    event: EventRef


class TruthRecorder:
    """Collects truth rows in entry order and appends each to a JSON Lines file."""

    def __init__(self, scenario: Scenario, path: Path | None = None):
        self._scenario = scenario
        self._open: dict[int, _Open] = {}
        self._rows: list[dict[str, Any]] = []
        self._path = path
        self._file: TextIO | None = None

    def open(self) -> None:
        """Create (truncate) the JSON Lines file, if one was given."""
        if self._path is not None and self._file is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self._path.open("w", encoding="utf-8")

    def entered(self, serial: int, tray: int, plc_boot: int, event: EventRef) -> None:
        self._open[serial] = _Open(serial, tray, plc_boot, event)

    def closed(self, serial: int, outcome: str, verdict: tuple[int, int] | None,
               lost_cause: str | None = None, lost_at_mm: float | None = None) -> dict[str, Any]:
        """Record the end of tray ``serial``'s trip; ``verdict`` is (VERDICT, REASON) taken."""
        info = self._open.pop(serial)
        spec = self._scenario.tray(serial)
        expected = self._scenario.expected(serial)
        reason, expected_outcome = final_expectation(expected, outcome, lost_at_mm,
                                                     verdict is not None)
        row: dict[str, Any] = {
            "serial": serial,
            "tray": info.tray,
            "plc_boot": info.plc_boot,
            "enter_seq": info.event.number,
            "order_id": spec.ticket if spec.readable else None,
            "plates": [{"text": p.text, "type": p.plate_type, "rows": p.rows} for p in spec.plates],
            "scenario_reason": expected.name,
            "plc_verdict": None if verdict is None else {
                "verdict": "pass" if verdict[0] == 1 else "reject",
                "reason": Reason(verdict[1]).name},
            "outcome": outcome,
            "lost_cause": lost_cause,
            "lost_at_mm": None if lost_at_mm is None else round(lost_at_mm, 1),
            "reason": reason.name,
            "verdict": "pass" if reason is Reason.NONE else "reject",
            "expected_outcome": expected_outcome,
            "note": spec.note,
        }
        self._rows.append(row)
        if self._file is not None:
            self._file.write(json.dumps(row, ensure_ascii=False) + "\n")
            self._file.flush()
        return row

    def open_serials(self) -> list[int]:
        return sorted(self._open)

    def rows(self) -> list[dict[str, Any]]:
        """Closed trays' rows, in entry order."""
        return sorted(self._rows, key=lambda r: r["serial"])

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_truth(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


@dataclass(frozen=True)
class Mismatch:
    """One difference between the truth and the controller's records."""

    serial: int | None
    tray: int | None
    field: str
    expected: Any
    actual: Any

    def __str__(self) -> str:
        who = f"tray serial {self.serial} (carrier {self.tray})" if self.serial else "record"
        return f"{who}: {self.field}: expected {self.expected!r}, got {self.actual!r}"


def _match(truth: Sequence[Mapping[str, Any]], records: Sequence[Mapping[str, Any]]
           ) -> tuple[list[tuple[Mapping[str, Any], Mapping[str, Any] | None]], list[Mapping[str, Any]]]:
    seen = [t for t in truth if t.get("enter_seq") is not None]
    keyed = records and all(r.get("plc_boot") is not None and r.get("enter_seq") is not None
                            for r in records)
    if keyed:
        by_key = {(int(r["plc_boot"]), int(r["enter_seq"]) % 65536): r for r in records}
        pairs = [(t, by_key.pop((int(t["plc_boot"]), int(t["enter_seq"]) % 65536), None))
                 for t in seen]
        return pairs, list(by_key.values())
    ordered_t = sorted(seen, key=lambda t: (t["plc_boot"], t["enter_seq"]))
    ordered_r = sorted(records, key=lambda r: (str(r.get("entered_at") or ""), str(r.get("item_id"))))
    pairs = [(t, ordered_r[i] if i < len(ordered_r) else None) for i, t in enumerate(ordered_t)]
    return pairs, list(ordered_r[len(ordered_t):])


def compare(truth_rows: Sequence[Mapping[str, Any]],
            record_rows: Sequence[Mapping[str, Any]]) -> list[Mismatch]:
    """Differences between truth rows and exported records (``orders.md`` shape).

    Records are matched by ``plc_boot`` + ``enter_seq`` when every record has
    them, else by entry order. Compared: tray, order_id (when the infeed check
    had been done), reason, outcome, verdict (not for lost or NO_VERDICT trays,
    whose verdict the controller may have decided either way), and whether the
    PLC itself sent the tray where it should have gone.
    """
    pairs, extra = _match(truth_rows, record_rows)
    out: list[Mismatch] = []
    for t, r in pairs:
        serial, tray = t["serial"], t["tray"]

        def diff(field: str, want: Any, got: Any, serial: int = serial, tray: int = tray) -> None:
            if want != got:
                out.append(Mismatch(serial, tray, field, want, got))

        if t["outcome"] != t["expected_outcome"]:
            diff("plc_outcome", t["expected_outcome"], t["outcome"])
        if r is None:
            out.append(Mismatch(serial, tray, "record", "a record", None))
            continue
        diff("tray", tray, r.get("tray"))
        scanned = t["outcome"] != LOST or (t["lost_at_mm"] or 0) >= WINDOW_MM
        if scanned:
            diff("order_id", t["order_id"], r.get("order_id"))
        diff("reason", t["reason"], r.get("reason"))
        diff("outcome", t["expected_outcome"], r.get("outcome"))
        if t["expected_outcome"] != LOST and t["reason"] != Reason.NO_VERDICT.name:
            diff("verdict", t["verdict"], r.get("verdict"))
    for r in extra:
        out.append(Mismatch(None, r.get("tray"), "record", None, r.get("item_id")))
    return out


@dataclass(frozen=True)
class Prediction:
    """What a scenario's tray ends in with an ideal controller; ``certain`` is False
    when real-time timing could decide it either way."""

    reason: Reason
    outcome: str
    certain: bool = True


def predict(scenario: Scenario) -> dict[int, Prediction]:
    """Final reason and outcome of every tray, assuming a prompt, correct controller."""
    losses: list[tuple[float, int | None, str]] = []  # (odometer, serial or None=all, cause)
    stalls: list[tuple[float, float | None]] = []
    for f in scenario.faults:
        if f.at_mm is None:
            continue
        at = scenario.entry_mm(f.tray) + f.at_mm
        if f.kind == "plc_restart":
            losses.append((at, None, "plc_restart"))
        elif f.kind == "remove_tray":
            losses.append((at, f.tray, "removed"))
        elif f.kind == "verdict_stall":
            stalls.append((at, None if f.length_mm is None else at + f.length_mm))
    out: dict[int, Prediction] = {}
    for serial in range(1, len(scenario.trays) + 1):
        enter = scenario.entry_mm(serial)
        gate = enter + GATE_MM
        expected = scenario.expected(serial)
        hits = sorted(at for at, who, _ in losses if who in (None, serial) and enter <= at < gate)
        if hits:
            reason, outcome = final_expectation(expected, LOST, hits[0] - enter, True)
            out[serial] = Prediction(reason, outcome)
            continue
        taken, certain = True, True
        for start, end in stalls:
            if end is not None and start <= enter and end > gate:
                taken = False  # stalled for the whole trip
            elif start < gate and (end is None or end > gate - PITCH_MM):
                certain = False  # depends on when the verdict was written
        reason, outcome = final_expectation(expected, OUTFEED, None, taken)
        out[serial] = Prediction(reason, outcome, certain)
    return out
