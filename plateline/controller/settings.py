"""Settings of the line controller: plain values, filled in from the site configuration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from plateline.contract import EventType

#: Events of one tray in flow order, as the reference PLC writes them (``line.md``).
REFERENCE_ROUTE: tuple[EventType, ...] = (
    EventType.ENTERED,
    EventType.AT_CAMERA,
    EventType.AT_SCALE,
    EventType.AT_LABELER,
    EventType.DIVERTED,
)


@dataclass(frozen=True)
class ControllerSettings:
    """Timings and choices of one line's controller (times in seconds, lengths in mm).

    ``required_stations`` are the stations whose check must pass for a PASS, in flow
    order (their reasons' precedence follows that order). ``event_route`` is the
    sequence of events each tray must produce; anything else is a TRACKING_ERROR.
    """

    line_id: str
    heartbeat_period_s: float = 0.1
    plc_heartbeat_timeout_s: float = 1.0
    status_poll_s: float = 0.05
    event_poll_s: float = 0.01
    verdict_poll_s: float = 0.02
    command_timeout_s: float = 2.0
    field_of_view_mm: float = 150.0
    scan_grace_s: float = 0.1
    scan_timeout_s: float = 0.5
    verdict_stall_alarm_s: float = 2.0
    frames_dir: Path | None = None
    required_stations: tuple[str, ...] = ("INFEED", "VISION")
    event_route: tuple[EventType, ...] = REFERENCE_ROUTE
    torn_read_retries: int = 3
    vision_timeout_s: float = 10.0
    fault_retry_s: float = 1.0
    link_wait_s: float = 5.0

    def __post_init__(self) -> None:
        if not self.line_id:
            raise ValueError("line_id must not be empty")
        for name in ("heartbeat_period_s", "plc_heartbeat_timeout_s", "status_poll_s",
                     "event_poll_s", "verdict_poll_s", "command_timeout_s",
                     "field_of_view_mm", "scan_grace_s", "scan_timeout_s", "verdict_stall_alarm_s", "vision_timeout_s",
                     "fault_retry_s", "link_wait_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.heartbeat_period_s * 2 >= self.plc_heartbeat_timeout_s:
            raise ValueError("heartbeat_period_s must be well below plc_heartbeat_timeout_s")
        if not self.event_route or self.event_route[0] is not EventType.ENTERED:
            raise ValueError("event_route must begin with ENTERED")
        if self.event_route[-1] is not EventType.DIVERTED:
            raise ValueError("event_route must end with DIVERTED")
        if len(set(self.event_route)) != len(self.event_route):
            raise ValueError("event_route lists an event twice")
        if len(set(self.required_stations)) != len(self.required_stations):
            raise ValueError("required_stations lists a station twice")
