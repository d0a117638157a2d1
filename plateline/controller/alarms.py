"""The controller's alarms: what is wrong now, for the HMI and the log.

An alarm that follows its cause is cleared by the code that raised it; a latched
alarm (something happened that an operator must see) stays until an operator
Reset or Clear. A repeated raise of an active alarm is counted, not logged again.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum

from plateline.contract import ConveyorAlarm
from plateline.records.models import utcnow

log = logging.getLogger(__name__)


class Severity(str, Enum):
    WARNING = "warning"
    FAULT = "fault"
    CRITICAL = "critical"  # a tray may have gone where it must not


class AlarmCode(str, Enum):
    """The controller's own alarm codes (the PLC's ALARMS bits come as ``CONV_<bit>``)."""

    LINK_DOWN = "LINK_DOWN"
    PLC_HEARTBEAT_LOST = "PLC_HEARTBEAT_LOST"
    PLC_RESTARTED = "PLC_RESTARTED"
    TRACKING_ERROR = "TRACKING_ERROR"
    EVENT_RING = "EVENT_RING"
    VERDICT_STALL = "VERDICT_STALL"
    VERDICT_RING = "VERDICT_RING"
    WRONG_OUTFEED = "WRONG_OUTFEED"
    DATABASE_ERROR = "DATABASE_ERROR"
    INTERNAL_FAULT = "INTERNAL_FAULT"
    COMMAND_FAILED = "COMMAND_FAILED"


def plc_alarm_code(bit: ConveyorAlarm) -> str:
    """Alarm code of one PLC ALARMS bit, e.g. ``CONV_ESTOP``."""
    return f"CONV_{bit.name}"


@dataclass(frozen=True)
class Alarm:
    code: str
    text: str
    severity: Severity
    latched: bool
    raised_at: datetime
    count: int = 1
    cleared_at: datetime | None = None


Observer = Callable[[Alarm], None]


@dataclass
class Alarms:
    """Active alarms and a bounded history of raised and cleared ones."""

    history_size: int = 500
    _active: dict[str, Alarm] = field(default_factory=dict)
    _observers: list[Observer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.history: deque[Alarm] = deque(maxlen=self.history_size)

    def raise_(self, code: AlarmCode | str, text: str, *, severity: Severity = Severity.FAULT,
               latched: bool = False) -> None:
        key = code.value if isinstance(code, AlarmCode) else code
        current = self._active.get(key)
        if current is not None:
            self._active[key] = replace(current, text=text, count=current.count + 1,
                                        latched=current.latched or latched)
            return
        alarm = Alarm(key, text, severity, latched, utcnow())
        self._active[key] = alarm
        level = logging.CRITICAL if severity is Severity.CRITICAL else (
            logging.ERROR if severity is Severity.FAULT else logging.WARNING)
        log.log(level, "alarm %s: %s", key, text)
        self._changed(alarm)

    def clear(self, code: AlarmCode | str) -> None:
        """Clear an alarm whose cause went away (latched alarms stay)."""
        key = code.value if isinstance(code, AlarmCode) else code
        current = self._active.get(key)
        if current is None or current.latched:
            return
        self._drop(key)

    def reset_latched(self) -> None:
        """Operator Reset/Clear: latched alarms go."""
        for key in [k for k, a in self._active.items() if a.latched]:
            self._drop(key)

    def is_active(self, code: AlarmCode | str) -> bool:
        return (code.value if isinstance(code, AlarmCode) else code) in self._active

    @property
    def active(self) -> list[Alarm]:
        """Active alarms, oldest first."""
        return sorted(self._active.values(), key=lambda a: a.raised_at)

    def add_observer(self, callback: Observer) -> Callable[[], None]:
        """Call ``callback(alarm)`` on every raise and clear; returns a remover."""
        self._observers.append(callback)
        return lambda: self._observers.remove(callback) if callback in self._observers else None

    def _drop(self, key: str) -> None:
        alarm = replace(self._active.pop(key), cleared_at=utcnow())
        log.info("alarm %s cleared", key)
        self._changed(alarm)

    def _changed(self, alarm: Alarm) -> None:
        self.history.append(alarm)
        for callback in list(self._observers):
            try:
                callback(alarm)
            except Exception:  # an HMI observer's bug must not stop the line logic
                log.exception("alarm observer failed")
