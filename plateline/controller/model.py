"""Plain values passed between the controller's parts (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from plateline.contract import EventType, Reason, VerdictCode

#: An item is known by the PLC boot and the absolute number of its ENTERED event:
#: unique per line, known before the database has given the item its id.
ItemKey = tuple[int, int]


class Outcome(str, Enum):
    """What became of a tray, as the PLC reported it."""

    OUTFEED = "outfeed"
    REJECT_BIN = "reject_bin"
    LOST = "lost"


#: ``StationResult.reason`` of a check that was not done because the tray was
#: already rejected.
SKIPPED = "SKIPPED"


@dataclass(frozen=True)
class CheckResult:
    """What one station's check found: ``ok`` exactly when ``reason`` is NONE.

    ``data`` goes into ``StationResult.data``; ``stored`` is True when the station
    has already written its result in the same transaction as its other work.
    """

    ok: bool
    reason: Reason
    data: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False
    stored: bool = False
    started_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.skipped:
            if self.ok:
                raise ValueError("a skipped check is not a pass")
        elif self.ok != (self.reason is Reason.NONE):
            raise ValueError("a check is ok exactly when its reason is NONE")

    @classmethod
    def passed(cls, data: dict[str, Any] | None = None, **kw: Any) -> CheckResult:
        return cls(True, Reason.NONE, data or {}, **kw)

    @classmethod
    def failed(cls, reason: Reason, data: dict[str, Any] | None = None, **kw: Any) -> CheckResult:
        return cls(False, reason, data or {}, **kw)

    @classmethod
    def skip(cls, because: Reason | None, **kw: Any) -> CheckResult:
        return cls(False, Reason.NONE, {"skipped": True,
                                        "because": because.name if because else None},
                   skipped=True, **kw)

    @property
    def reason_name(self) -> str:
        return SKIPPED if self.skipped else self.reason.name


@dataclass(frozen=True)
class Verdict:
    """The controller's decision for one tray."""

    code: VerdictCode
    reason: Reason

    def __post_init__(self) -> None:
        if (self.code is VerdictCode.PASS) != (self.reason is Reason.NONE):
            raise ValueError("a PASS has reason NONE and a REJECT has a reason")

    @classmethod
    def reject(cls, reason: Reason) -> Verdict:
        return cls(VerdictCode.REJECT, reason)

    @property
    def word(self) -> str:
        """The ``Item.verdict`` spelling: ``pass`` or ``reject``."""
        return "pass" if self.code is VerdictCode.PASS else "reject"


PASS = Verdict(VerdictCode.PASS, Reason.NONE)


@dataclass(frozen=True)
class PlcEvent:
    """One event of the PLC's event ring, numbered absolutely since the PLC's boot."""

    number: int
    type: EventType
    tray: int
    arg: int


@dataclass(frozen=True)
class ItemClose:
    """How an item ends: what the PLC did with the tray, and the record's final verdict."""

    outcome: Outcome
    verdict: Verdict
