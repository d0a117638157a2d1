"""Codes shared with the PLCs and devices (``shared/spec``): the integration contract.

Both the controller and the simulators use these; nothing here knows about
registers, nodes or sockets.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag


class _KeepUnknown(IntEnum):
    """An IntEnum that maps unknown wire values to a pseudo-member instead of raising."""

    @classmethod
    def _missing_(cls, value: object) -> _KeepUnknown | None:
        if not isinstance(value, int):
            return None
        member = int.__new__(cls, value)
        member._name_ = f"UNKNOWN_{value}"
        member._value_ = value
        return member


class PackMLState(_KeepUnknown):
    """PackML state codes (``STATE`` register, ``Packer.Status.StateCurrent``)."""

    UNDEFINED = 0
    CLEARING = 1
    STOPPED = 2
    STARTING = 3
    IDLE = 4
    SUSPENDED = 5
    EXECUTE = 6
    STOPPING = 7
    ABORTING = 8
    ABORTED = 9
    HOLDING = 10
    HELD = 11
    UNHOLDING = 12
    SUSPENDING = 13
    UNSUSPENDING = 14
    RESETTING = 15
    COMPLETING = 16
    COMPLETE = 17


class PackMLCommand(_KeepUnknown):
    """PackML command codes (``CMD`` register, ``Packer.Command.CntrlCmd``)."""

    RESET = 1
    START = 2
    STOP = 3
    HOLD = 4
    UNHOLD = 5
    SUSPEND = 6
    UNSUSPEND = 7
    ABORT = 8
    CLEAR = 9


class UnitMode(_KeepUnknown):
    PRODUCTION = 1
    MAINTENANCE = 2
    MANUAL = 3


class CmdResult(_KeepUnknown):
    """``CMD_RESULT``: what the PLC did with the last command."""

    TAKEN = 0
    REFUSED = 1
    UNKNOWN_COMMAND = 2


class ConveyorAlarm(IntFlag):
    """``ALARMS`` bits of the conveyor PLC."""

    ESTOP = 1 << 0
    GUARD_DOOR = 1 << 1
    INFEED_JAM = 1 << 2
    GATE_JAM = 1 << 3
    AIR_PRESSURE_LOW = 1 << 4
    REJECT_BIN_FULL = 1 << 5
    EVENT_RING_OVERFLOW = 1 << 6
    CTRL_HEARTBEAT_LOST = 1 << 7
    VERDICT_RING_ERROR = 1 << 8


class EventType(_KeepUnknown):
    """``TYPE`` of an event-ring slot."""

    ENTERED = 1
    AT_CAMERA = 2
    AT_SCALE = 3
    AT_LABELER = 4
    DIVERTED = 5
    LOST = 6


class DivertTarget(_KeepUnknown):
    """``ARG`` of a DIVERTED event."""

    OUTFEED = 1
    REJECT_BIN = 2


class VerdictCode(_KeepUnknown):
    """``VERDICT`` of a verdict-ring slot."""

    PASS = 1
    REJECT = 2


class Reason(_KeepUnknown):
    """Reason codes shared with the PLC (``line.md``)."""

    NONE = 0
    NOREAD = 1
    UNKNOWN_ORDER = 2
    DUPLICATE_ORDER = 3
    PLATE_MISMATCH = 4
    PLATE_COUNT = 5
    PLATE_TYPE = 6
    VISION_FAULT = 7
    SEAL_FAIL = 8
    WEIGHT_OUT_OF_RANGE = 9
    SCALE_FAULT = 10
    LABEL_VERIFY_FAIL = 11
    PRINTER_FAULT = 12
    NO_VERDICT = 13
    TRACKING_ERROR = 14
    ORDER_CANCELLED = 15
    OPERATOR_REJECT = 16


#: When several checks fail, the reason is the first of these (``line.md``).
REASON_PRECEDENCE: tuple[Reason, ...] = (
    Reason.NOREAD,
    Reason.UNKNOWN_ORDER,
    Reason.ORDER_CANCELLED,
    Reason.DUPLICATE_ORDER,
    Reason.VISION_FAULT,
    Reason.PLATE_COUNT,
    Reason.PLATE_MISMATCH,
    Reason.PLATE_TYPE,
    Reason.SEAL_FAIL,
    Reason.SCALE_FAULT,
    Reason.WEIGHT_OUT_OF_RANGE,
    Reason.PRINTER_FAULT,
    Reason.LABEL_VERIFY_FAIL,
)


def first_reason(reasons: list[Reason] | tuple[Reason, ...] | set[Reason]) -> Reason:
    """The reason that wins when several checks failed; NONE when none did."""
    failing = [r for r in reasons if r is not Reason.NONE]
    if not failing:
        return Reason.NONE
    ranked = [r for r in REASON_PRECEDENCE if r in failing]
    return ranked[0] if ranked else failing[0]


#: Plate types of ``orders.md`` in the spelling used everywhere.
PLATE_TYPES: tuple[str, ...] = ("blue", "yellow", "green", "yellow_green", "white", "black", "ebike")

#: Province abbreviations of GA 36-2018, in the order of ``orders.md``.
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"

#: Last-character suffixes of ordinary plates.
PLATE_SUFFIXES = "挂学警港澳领使"

#: Ring sequence numbers count modulo this.
SEQ_MODULO = 65536
