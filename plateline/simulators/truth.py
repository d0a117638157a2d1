"""The truth of a run: what each tray really was and what should have become of it.

The plant writes one JSON object per tray (JSON Lines) when the tray's trip ends
(diverted or lost). ``compare`` checks the controller's exported records against
it; ``predict`` says what an ideal controller's run of a scenario ends in.
Rules: ``docs/scenario.md``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

from plateline.contract import Reason
from plateline.simulators.layout import (
    CHECK_DONE_MM,
    GATE_MM,
    LABELER_MM,
    PACKER_MM,
    PITCH_MM,
    WINDOW_MM,
    first_failure,
)
from plateline.simulators.scenario import PRINTER_STRETCHES, Scenario

#: A packer restart this close before a tray leaves the packer certainly costs its seal
#: result; up to PACK_RECOVERY_MM after it, whether the packer is back in Execute depends
#: on real time (its restart, the controller's reconnect and commands).
PACK_DOWN_CERTAIN_MM = 200.0
PACK_RECOVERY_MM = 40 * PITCH_MM

OUTFEED, REJECT_BIN, LOST = "outfeed", "reject_bin", "lost"


class EventRef(Protocol):
    """A PLC event: ``number`` is its absolute event number once it is in the ring."""

    @property
    def number(self) -> int | None: ...


def tray_reason(scenario: Scenario, serial: int, stations: Collection[str] = (), *,
                seal: str | None = None, printer_fault: bool | None = None) -> Reason:
    """The reason tray ``serial`` should end in, faults of the belt and the PLC aside.

    The scenario's reason (infeed and vision checks, ``expect``), then the checks of
    the stations in ``stations`` (device names: ``PACK``, ``W1``, ``P1`` and ``S2``)
    in the order of ``line.md``; the first failing one stands. ``seal`` ("ok", "bad",
    "none": no result) and ``printer_fault`` (at the tray's AT_LABELER) are what
    happened; None: what the scenario says. A tray the operator rejects by hand is
    OPERATOR_REJECT unless a check had already failed it where the operator pressed.
    """
    faults = scenario.tray_faults(serial)
    found = [scenario.expected(serial)]
    if "PACK" in stations:
        if seal is None:
            seal = "bad" if "bad_seal" in faults else "ok"
        if seal != "ok":
            found.append(Reason.SEAL_FAIL)
    if "W1" in stations:
        if scenario.scale_fault(serial) is not None:
            found.append(Reason.SCALE_FAULT)
        elif not scenario.weight_ok(serial):
            found.append(Reason.WEIGHT_OUT_OF_RANGE)
    if "P1" in stations:
        if printer_fault is None:
            printer_fault = bool(printer_fault_at_labeler(scenario, serial))
        if printer_fault:
            found.append(Reason.PRINTER_FAULT)
        elif "misprint" in faults and "S2" in stations:
            found.append(Reason.LABEL_VERIFY_FAIL)
    reason = first_failure(found)
    pressed = scenario.operator_reject_at(serial)
    if pressed is not None and not (
            reason is not Reason.NONE and CHECK_DONE_MM.get(reason, 0.0) <= pressed):
        reason = Reason.OPERATOR_REJECT
    return reason


def printer_fault_at_labeler(scenario: Scenario, serial: int) -> bool | None:
    """Whether a printer fault is shown when tray ``serial`` reaches the labeler; None
    when a fault that lasts a time (not a belt length) could decide it either way."""
    at = scenario.entry_mm(serial) + LABELER_MM
    for f in scenario.faults:
        if f.kind not in PRINTER_STRETCHES or f.at_mm is None:
            continue
        start = scenario.entry_mm(f.tray) + f.at_mm
        if f.length_mm is not None:
            if start <= at < start + f.length_mm:
                return True
        elif start <= at < start + GATE_MM:
            return None
    return False


def final_expectation(scenario_reason: Reason, outcome: str, lost_at_mm: float | None,
                      verdict_taken: bool, done_at_mm: float | None = None
                      ) -> tuple[Reason, str]:
    """The reason and outcome the records must show, given what the PLC did.

    - lost (removed by hand, or on the belt at a PLC restart): the scenario's
      reason if the check that finds it was already done (its station's window
      had closed when the tray was lost), else TRACKING_ERROR;
    - reached the gate without a verdict taken: reject bin, the scenario's
      reason if not NONE, else NO_VERDICT;
    - otherwise: outfeed for NONE, reject bin for any other reason.

    ``done_at_mm`` overrides where the reason's check is done (an operator's reject).
    """
    if outcome == LOST:
        done_at = CHECK_DONE_MM.get(scenario_reason) if done_at_mm is None else done_at_mm
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

    def __init__(self, scenario: Scenario, path: Path | None = None,
                 stations: Collection[str] = ()):
        self._scenario = scenario
        self.stations = frozenset(stations)
        self._seal: dict[int, str] = {}
        self._printer: dict[int, bool] = {}
        self._label: dict[int, str | None] = {}
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

    def sealed(self, serial: int, seal: str) -> None:
        """Tray ``serial`` left the packer: "ok", "bad", or "none" (no result made)."""
        self._seal[serial] = seal

    def printer_checked(self, serial: int, faulted: bool) -> None:
        """Tray ``serial`` reached the labeler while the printer showed a fault, or not."""
        self._printer[serial] = faulted

    def labelled(self, serial: int, barcode: str | None) -> None:
        """A label was stuck on tray ``serial`` (``barcode`` None: unreadable)."""
        self._label[serial] = barcode

    def closed(self, serial: int, outcome: str, verdict: tuple[int, int] | None,
               lost_cause: str | None = None, lost_at_mm: float | None = None) -> dict[str, Any]:
        """Record the end of tray ``serial``'s trip; ``verdict`` is (VERDICT, REASON) taken."""
        info = self._open.pop(serial)
        spec = self._scenario.tray(serial)
        scenario = self._scenario
        expected = tray_reason(scenario, serial, self.stations, seal=self._seal.get(serial),
                               printer_fault=self._printer.get(serial))
        pressed = scenario.operator_reject_at(serial)
        reason, expected_outcome = final_expectation(
            expected, outcome, lost_at_mm, verdict is not None,
            pressed if expected is Reason.OPERATOR_REJECT else None)
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
        if self.stations:
            row.update({
                "product": scenario.product(serial),
                "weight_g": scenario.weight_g(serial) if "W1" in self.stations else None,
                "seal": self._seal.get(serial) if "PACK" in self.stations else None,
                "printer_fault": self._printer.get(serial) if "P1" in self.stations else None,
                "label": self._label.get(serial),
                "operator_reject_at_mm": pressed,
            })
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


def predict(scenario: Scenario, stations: Collection[str] = ()) -> dict[int, Prediction]:
    """Final reason and outcome of every tray, assuming a prompt, correct controller
    that checks the stations of ``stations`` besides CONV, S1 and CAM1."""
    losses: list[tuple[float, int | None, str]] = []  # (odometer, serial or None=all, cause)
    stalls: list[tuple[float, float | None]] = []
    pack_restarts = [scenario.entry_mm(f.tray) + f.at_mm for f in scenario.faults
                     if f.kind == "packer_restart" and f.at_mm is not None]
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
        certain = True
        seal: str | None = None
        for restart in pack_restarts if "PACK" in stations else ():
            since = enter + PACKER_MM - restart
            if 0 <= since < PACK_DOWN_CERTAIN_MM:
                seal = "none"
            elif 0 <= since < PACK_RECOVERY_MM:
                certain = False
        printer = printer_fault_at_labeler(scenario, serial) if "P1" in stations else False
        if printer is None:
            certain = False
        expected = tray_reason(scenario, serial, stations, seal=seal, printer_fault=printer)
        pressed = scenario.operator_reject_at(serial)
        done_at = pressed if expected is Reason.OPERATOR_REJECT else None
        hits = sorted(at for at, who, _ in losses if who in (None, serial) and enter <= at < gate)
        if hits:
            reason, outcome = final_expectation(expected, LOST, hits[0] - enter, True, done_at)
            out[serial] = Prediction(reason, outcome, certain)
            continue
        taken = True
        for start, end in stalls:
            if end is not None and start <= enter and end > gate:
                taken = False  # stalled for the whole trip
            elif start < gate and (end is None or end > gate - PITCH_MM):
                certain = False  # depends on when the verdict was written
        reason, outcome = final_expectation(expected, OUTFEED, None, taken)
        out[serial] = Prediction(reason, outcome, certain)
    return out
