"""Geometry of the reference line (``line.md``): distances in mm from the infeed eye.

Shared by the plant, the truth rules, the scenario tools and the demo generator,
so that every one of them measures the same belt.
"""

from __future__ import annotations

from plateline.contract import EventType, Reason

PITCH_MM = 400.0
NOMINAL_SPEED_MM_S = 300
MAX_SPEED_FACTOR = 20.0

ENTER_MM = 0.0
CAMERA_MM = 600.0
PACKER_MM = 1200.0
SCALE_MM = 2400.0
LABELER_MM = 3000.0
GATE_MM = 4000.0

#: A scanner or camera sees a tray for this much travel after the station's event.
WINDOW_MM = 150.0

#: A tray rests on the weighing platform for this much travel after AT_SCALE ...
SCALE_REST_MM = 300.0
#: ... and its weight is dynamic for the first part of it,
SCALE_DYNAMIC_MM = 100.0
#: or until the belt has stood this long (real time).
SCALE_SETTLE_S = 0.3

#: Station events raised on the way, in flow order (the gate is handled apart).
STATION_EVENTS: tuple[tuple[float, EventType], ...] = (
    (ENTER_MM, EventType.ENTERED),
    (CAMERA_MM, EventType.AT_CAMERA),
    (SCALE_MM, EventType.AT_SCALE),
    (LABELER_MM, EventType.AT_LABELER),
)

#: Where the field of view of each simulated reader begins.
VIEW_STATIONS: dict[str, float] = {"S1": ENTER_MM, "CAM1": CAMERA_MM, "P1": LABELER_MM,
                                    "S2": LABELER_MM}

#: Devices of the first slice, and the stations added after it (judged when selected).
SLICE1_DEVICES: tuple[str, ...] = ("CONV", "S1", "CAM1")
NEW_STATIONS: tuple[str, ...] = ("PACK", "W1", "P1", "S2")

_INFEED = (Reason.NOREAD, Reason.UNKNOWN_ORDER, Reason.ORDER_CANCELLED, Reason.DUPLICATE_ORDER)
_VISION = (Reason.VISION_FAULT, Reason.PLATE_COUNT, Reason.PLATE_MISMATCH, Reason.PLATE_TYPE)

#: Travel after which the check that finds a reason has certainly been done
#: (its station's window has closed).
CHECK_DONE_MM: dict[Reason, float] = {
    **{r: ENTER_MM + WINDOW_MM for r in _INFEED},
    **{r: CAMERA_MM + WINDOW_MM for r in _VISION},
    Reason.SEAL_FAIL: PACKER_MM,
    Reason.SCALE_FAULT: SCALE_MM + SCALE_REST_MM,
    Reason.WEIGHT_OUT_OF_RANGE: SCALE_MM + SCALE_REST_MM,
    Reason.PRINTER_FAULT: LABELER_MM + WINDOW_MM,
    Reason.LABEL_VERIFY_FAIL: LABELER_MM + WINDOW_MM,
}


#: Order of the checks (``line.md``): when several fail, the first one is the reason.
PRECEDENCE: tuple[Reason, ...] = (
    *_INFEED, *_VISION, Reason.SEAL_FAIL, Reason.SCALE_FAULT, Reason.WEIGHT_OUT_OF_RANGE,
    Reason.PRINTER_FAULT, Reason.LABEL_VERIFY_FAIL)


def first_failure(reasons: list[Reason]) -> Reason:
    """The reason that stands among ``reasons`` (NONE when empty); reasons outside the
    check order (set by hand in a scenario) come first."""
    failing = [r for r in reasons if r is not Reason.NONE]
    if not failing:
        return Reason.NONE
    return min(failing, key=lambda r: PRECEDENCE.index(r) if r in PRECEDENCE else -1)


def carrier_of(serial: int) -> int:
    """Carrier (tray id 1..999) of the scenario's tray number ``serial`` (1-based)."""
    return (serial - 1) % 999 + 1
