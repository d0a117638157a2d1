"""Scenarios: what is physically on each tray, and which faults happen when.

The file format (JSON or TOML) is described in ``docs/scenario.md``. Faults that
stop or change things are tied to tray positions ("when tray 12 is at 1800 mm"),
so a scenario plays out the same at every speed factor.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from plateline.contract import PLATE_TYPES, Reason
from plateline.errors import ConfigError
from plateline.simulators.layout import GATE_MM, PITCH_MM
from plateline.simulators.orderfile import SimOrder, read_orders
from plateline.simulators.products import pack_weight, physical_product, product_window
from plateline.simulators.views import CameraFault, PlateOnTray

FORMAT = "plateline-scenario/1"

#: Fault kinds that need ``at_mm`` (a position of their tray) and their default duration.
POSITIONAL_FAULTS: dict[str, float | None] = {
    "estop": 0.5,
    "jam": 0.5,
    "plc_restart": 1.0,
    "drop_connection": 0.5,
    "remove_tray": None,
    "verdict_stall": None,
    "packer_restart": 1.0,
    "packer_drop_session": None,
    "operator_reject": None,
    "printer_paper_out": None,
    "printer_head_open": None,
    "printer_paused": None,
}
#: Printer faults that last a stretch of belt travel (``length_mm``) or a time (``duration_s``).
PRINTER_STRETCHES: dict[str, str] = {
    "printer_paper_out": "paper_out",
    "printer_head_open": "head_open",
    "printer_paused": "paused",
}
#: Scale faults shown while that tray rests on the weighing platform.
SCALE_FAULTS: dict[str, str] = {
    "scale_silent": "silent",
    "scale_busy": "busy",
    "scale_overload": "overload",
}
#: Faults that only name their tray (besides the camera's and the scale's).
TRAY_FAULTS = frozenset({"bad_seal", "misprint"})
#: Fault kinds that only name their tray: the camera fails while that tray is under it.
CAMERA_FAULTS: dict[str, CameraFault] = {
    "camera_timeout": "timeout",
    "camera_corrupt": "corrupt",
    "camera_http_error": "http_error",
}
FAULT_KINDS = (frozenset(POSITIONAL_FAULTS) | frozenset(CAMERA_FAULTS) | frozenset(SCALE_FAULTS)
               | TRAY_FAULTS)
_STRETCHES = frozenset({"verdict_stall", *PRINTER_STRETCHES})


@dataclass(frozen=True)
class TraySpec:
    """One tray: its job ticket, the plates lying on it, and what the line should decide.

    ``product`` is the order's product (its weight window is the one checked; None:
    what the plates look like); ``weight_g`` the packed tray's real weight (None:
    a typical pack of what is on it).
    """

    ticket: str | None = None
    readable: bool = True
    plates: tuple[PlateOnTray, ...] = ()
    gap_before: int = 0
    expect: Reason | None = None
    note: str = ""
    product: str | None = None
    weight_g: float | None = None


@dataclass(frozen=True)
class FaultSpec:
    """A fault, tied to tray ``tray`` (1-based scenario number).

    Positional kinds happen when that tray is ``at_mm`` from the infeed eye
    (negative: before it enters; beyond the gate: after it left). ``duration_s``
    is real time; ``verdict_stall`` lasts ``length_mm`` of belt travel (or
    ``duration_s`` when no length is given).
    """

    kind: str
    tray: int
    at_mm: float | None = None
    duration_s: float | None = None
    length_mm: float | None = None

    @property
    def duration(self) -> float:
        default = POSITIONAL_FAULTS.get(self.kind)
        value = self.duration_s if self.duration_s is not None else default
        return float(value or 0.0)


@dataclass(frozen=True)
class Scenario:
    """A whole run: trays in infeed order and faults."""

    trays: tuple[TraySpec, ...]
    faults: tuple[FaultSpec, ...] = ()
    name: str = "scenario"
    seed: int = 0
    orders: tuple[str, ...] = ()
    _entries: tuple[float, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _validate(self)
        entries: list[float] = []
        slot = -1
        for tray in self.trays:
            slot += 1 + tray.gap_before
            entries.append((slot + 1) * PITCH_MM)
        object.__setattr__(self, "_entries", tuple(entries))

    def tray(self, serial: int) -> TraySpec:
        return self.trays[serial - 1]

    def entry_mm(self, serial: int) -> float:
        """Belt travel (odometer, mm) at which tray ``serial`` passes the infeed eye."""
        return self._entries[serial - 1]

    def camera_fault(self, serial: int) -> CameraFault:
        for fault in self.faults:
            if fault.tray == serial and fault.kind in CAMERA_FAULTS:
                return CAMERA_FAULTS[fault.kind]
        return "none"

    def tray_faults(self, serial: int) -> frozenset[str]:
        """Kinds of the faults that only name tray ``serial`` (bad seal, scale, misprint...)."""
        return frozenset(f.kind for f in self.faults if f.tray == serial and f.at_mm is None)

    def scale_fault(self, serial: int) -> str | None:
        """What the scale shows while tray ``serial`` rests on it (None: no fault)."""
        for fault in self.faults:
            if fault.tray == serial and fault.kind in SCALE_FAULTS:
                return SCALE_FAULTS[fault.kind]
        return None

    def weight_g(self, serial: int) -> float:
        """Real weight of tray ``serial`` once packed (g)."""
        tray = self.tray(serial)
        if tray.weight_g is not None:
            return tray.weight_g
        return pack_weight(tray.plates, f"{self.seed}/{serial}")

    def product(self, serial: int) -> str:
        """The product whose weight window tray ``serial`` is checked against."""
        tray = self.tray(serial)
        return tray.product or physical_product(tray.plates)

    def weight_ok(self, serial: int) -> bool:
        return product_window(self.product(serial)).contains(self.weight_g(serial))

    def operator_reject_at(self, serial: int) -> float | None:
        """Where the operator rejects tray ``serial`` by hand (mm), None if not."""
        marks = [f.at_mm for f in self.faults
                 if f.tray == serial and f.kind == "operator_reject" and f.at_mm is not None]
        return min(marks) if marks else None

    def expected(self, serial: int) -> Reason:
        reason = self.tray(serial).expect
        if reason is None:
            raise ConfigError(f"tray {serial} has no expected reason (give 'expect' or order files)")
        return reason

    def with_expectations(self, orders: Mapping[str, SimOrder]) -> Scenario:
        """A copy where every tray without ``expect`` gets the derived reason."""
        derived = derive_expected(self, orders)
        trays = tuple(t if t.expect is not None else replace(t, expect=r)
                      for t, r in zip(self.trays, derived))
        trays = tuple(replace(t, product=orders[t.ticket].product)
                      if t.product is None and t.ticket is not None and t.ticket in orders
                      else t for t in trays)
        return replace(self, trays=trays)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "name": self.name, "seed": self.seed, "orders": list(self.orders),
            "trays": [_tray_dict(t) for t in self.trays],
            "faults": [{k: v for k, v in vars(f).items() if v is not None} for f in self.faults],
        }


def _tray_dict(t: TraySpec) -> dict[str, Any]:
    out: dict[str, Any] = {"ticket": t.ticket}
    if not t.readable:
        out["readable"] = False
    out["plates"] = [{"text": p.text, "type": p.plate_type, "rows": p.rows} for p in t.plates]
    if t.gap_before:
        out["gap_before"] = t.gap_before
    if t.expect is not None:
        out["expect"] = t.expect.name
    if t.note:
        out["note"] = t.note
    if t.product is not None:
        out["product"] = t.product
    if t.weight_g is not None:
        out["weight_g"] = t.weight_g
    return out


def _validate(s: Scenario) -> None:
    if not s.trays:
        raise ConfigError("scenario has no trays")
    for n, t in enumerate(s.trays, start=1):
        if t.gap_before < 0:
            raise ConfigError(f"tray {n}: gap_before must be >= 0")
        for p in t.plates:
            if p.plate_type not in PLATE_TYPES or p.rows not in (1, 2) or not p.text:
                raise ConfigError(f"tray {n}: bad plate {p!r}")
        if t.weight_g is not None and not 0 <= t.weight_g < 100_000:
            raise ConfigError(f"tray {n}: weight_g {t.weight_g!r} out of range")
        if t.product is not None:
            product_window(t.product)
    for f in s.faults:
        if f.kind not in FAULT_KINDS:
            raise ConfigError(f"unknown fault kind {f.kind!r}")
        if not 1 <= f.tray <= len(s.trays):
            raise ConfigError(f"fault {f.kind}: no tray {f.tray}")
        if f.kind in POSITIONAL_FAULTS and f.at_mm is None:
            raise ConfigError(f"fault {f.kind} on tray {f.tray}: at_mm is required")
        if f.kind in _STRETCHES and f.length_mm is None and f.duration_s is None:
            raise ConfigError(f"{f.kind} needs length_mm or duration_s")
        if (f.duration_s is not None and f.duration_s < 0) or (
                f.length_mm is not None and f.length_mm <= 0):
            raise ConfigError(f"fault {f.kind}: negative duration or length")


def _plate(d: Mapping[str, Any], where: str) -> PlateOnTray:
    if isinstance(d, Sequence) and not isinstance(d, str):
        d = dict(zip(("text", "type", "rows"), d))
    try:
        return PlateOnTray(str(d["text"]), str(d["type"]), int(d.get("rows", 1)))
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"{where}: bad plate {d!r}") from err


def _reason(name: Any, where: str) -> Reason | None:
    if name is None:
        return None
    try:
        return Reason[str(name).upper()]
    except KeyError as err:
        raise ConfigError(f"{where}: unknown reason {name!r}") from err


def _number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: {value!r} is not a number") from err


def scenario_from_dict(data: Mapping[str, Any]) -> Scenario:
    """Build a scenario from parsed JSON/TOML; ConfigError when something is wrong."""
    fmt = data.get("format", FORMAT)
    if fmt != FORMAT:
        raise ConfigError(f"unsupported scenario format {fmt!r}")
    trays: list[TraySpec] = []
    for n, t in enumerate(data.get("trays", []), start=1):
        where = f"tray {n}"
        known = {"ticket", "readable", "plates", "gap_before", "expect", "note", "product",
                 "weight_g"}
        if extra := set(t) - known:
            raise ConfigError(f"{where}: unknown keys {sorted(extra)}")
        ticket = t.get("ticket")
        trays.append(TraySpec(
            ticket=None if ticket in (None, "") else str(ticket),
            readable=bool(t.get("readable", True)),
            plates=tuple(_plate(p, where) for p in t.get("plates", [])),
            gap_before=int(t.get("gap_before", 0)),
            expect=_reason(t.get("expect"), where),
            note=str(t.get("note", "")),
            product=None if t.get("product") is None else str(t["product"]),
            weight_g=_number(t.get("weight_g"), where),
        ))
    faults: list[FaultSpec] = []
    for f in data.get("faults", []):
        if extra := set(f) - {"kind", "tray", "at_mm", "duration_s", "length_mm"}:
            raise ConfigError(f"fault {f!r}: unknown keys {sorted(extra)}")
        try:
            faults.append(FaultSpec(
                kind=str(f["kind"]), tray=int(f["tray"]),
                at_mm=None if f.get("at_mm") is None else float(f["at_mm"]),
                duration_s=None if f.get("duration_s") is None else float(f["duration_s"]),
                length_mm=None if f.get("length_mm") is None else float(f["length_mm"]),
            ))
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"bad fault {f!r}") from err
    return Scenario(trays=tuple(trays), faults=tuple(faults), name=str(data.get("name", "scenario")),
                    seed=int(data.get("seed", 0)), orders=tuple(data.get("orders", ())))


def load_scenario(path: Path) -> Scenario:
    """Load a ``.json`` or ``.toml`` scenario; trays without ``expect`` are derived
    from the order files the scenario names (relative to the scenario file)."""
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode()) if path.suffix == ".toml" else json.loads(raw)
    except (OSError, ValueError) as err:
        raise ConfigError(f"cannot read scenario {path}: {err}") from err
    scenario = scenario_from_dict(data)
    if any(t.expect is None for t in scenario.trays) and scenario.orders:
        files = [path.parent / p for p in scenario.orders]
        scenario = scenario.with_expectations(read_orders(files))
    return scenario


def save_scenario(scenario: Scenario, path: Path) -> None:
    """Write ``scenario`` as JSON (UTF-8, one tray a line would be nicer but this is stable)."""
    path.write_text(json.dumps(scenario.to_dict(), ensure_ascii=False, indent=1) + "\n",
                    encoding="utf-8")


def derive_expected(scenario: Scenario, orders: Mapping[str, SimOrder]) -> list[Reason]:
    """The reason an ideal controller decides for each tray, faults aside.

    Order of checks as in ``line.md``. A tray is DUPLICATE_ORDER when an earlier
    tray bound to the same order is still on the line when it enters (whatever
    that tray's verdict), or left the line earlier with a pass. Documents (0
    plates) are verified by barcode and weight: no camera check. Faults that
    change outcomes afterwards (lost trays, NO_VERDICT) are the truth rules' job.
    """
    out: list[Reason] = []
    for i, tray in enumerate(scenario.trays):
        reason = _infeed(scenario, orders, out, i)
        if reason is Reason.NONE:
            reason = _vision(scenario, orders[tray.ticket or ""], i)
        out.append(reason)
    return out


def _infeed(s: Scenario, orders: Mapping[str, SimOrder], done: list[Reason], i: int) -> Reason:
    tray = s.trays[i]
    if tray.ticket is None or not tray.readable:
        return Reason.NOREAD
    order = orders.get(tray.ticket)
    if order is None:
        return Reason.UNKNOWN_ORDER
    if order.status == "cancelled":
        return Reason.ORDER_CANCELLED
    enter = s.entry_mm(i + 1)
    for j in range(i):
        other = s.trays[j]
        if other.ticket != tray.ticket or not other.readable:
            continue
        on_line = enter - s.entry_mm(j + 1) < GATE_MM
        if on_line or done[j] is Reason.NONE:
            return Reason.DUPLICATE_ORDER
    return Reason.NONE


def _vision(s: Scenario, order: SimOrder, i: int) -> Reason:
    tray = s.trays[i]
    if order.plate_count == 0:
        return Reason.NONE  # documents are verified by barcode and weight, not by the camera
    if s.camera_fault(i + 1) != "none":
        return Reason.VISION_FAULT
    if len(tray.plates) != order.plate_count:
        return Reason.PLATE_COUNT
    if any(p.text != order.plate_no for p in tray.plates):
        return Reason.PLATE_MISMATCH
    if any(p.plate_type != order.plate_type for p in tray.plates):
        return Reason.PLATE_TYPE
    return Reason.NONE
