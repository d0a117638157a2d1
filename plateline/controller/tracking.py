"""Tray tracking: PLC events in, items, station checks and verdicts out.

A tray id only points at the item that entered on it last (ids come round again).
The tracker is driven by the event consumer, one batch at a time and in ring
order; it changes its memory at once and returns the database operations the
batch caused, which the consumer stores in the batch's transaction. Station
checks run as tasks; their results and the verdicts they decide are stored by the
journal before anyone acts on them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from plateline.contract import DivertTarget, EventType, Reason, VerdictCode
from plateline.controller.alarms import AlarmCode, Alarms, Severity
from plateline.controller.journal import (
    AddResult,
    CloseItem,
    DecideVerdict,
    Journal,
    JournalError,
    NewItem,
    Op,
    OpenItem,
    OrderFacts,
    StoredItem,
)
from plateline.controller.model import (
    PASS,
    CheckResult,
    ItemKey,
    Outcome,
    PlcEvent,
    Verdict,
)
from plateline.controller.settings import ControllerSettings
from plateline.controller.verdict import first_failure, fold
from plateline.records.models import utcnow

log = logging.getLogger(__name__)


class Station(Protocol):
    """One station's check (``stations/``): adding a station is one such module."""

    name: str
    event: EventType  # the event that brings a tray to the station
    fault_reason: Reason  # the reason of a check that failed or could not be done

    def start(self, item: TrackedItem, window: Window) -> asyncio.Future[CheckResult]:
        """Begin checking ``item`` (called in event order) while it is in ``window``.
        Cancelling the future abandons the check."""
        ...

    async def run(self) -> None:
        """The station's workers; runs until cancelled."""
        ...


@runtime_checkable
class TrayWatcher(Protocol):
    """A station that also follows trays through other events than its own (PACK
    matches the packer's results to the trays that passed the camera)."""

    def tray_at(self, item: TrackedItem, event: EventType) -> None:
        """``item`` reached ``event`` (called in event order, after the stations of
        that event were started)."""
        ...


@dataclass(eq=False)
class TrackedItem:
    """One tray's trip, in memory."""

    key: ItemKey
    tray: int
    stage: int = 0  # index in the event route of the last event seen
    db_id: int | None = None
    public_id: str | None = None
    results: dict[str, CheckResult] = field(default_factory=dict)
    verdict: Verdict | None = None
    verdict_number: int | None = None  # absolute verdict-ring number once planned
    planned_verdict: Verdict | None = None  # the verdict ``verdict_number`` carries
    order: OrderFacts | None = None
    closed: bool = False
    stored: asyncio.Event = field(default_factory=asyncio.Event)  # the item row exists
    verdict_stored: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _result_events: dict[str, asyncio.Event] = field(default_factory=dict)

    @property
    def rejected(self) -> bool:
        return self.verdict is not None and self.verdict.code is VerdictCode.REJECT

    def _result_event(self, station: str) -> asyncio.Event:
        return self._result_events.setdefault(station, asyncio.Event())

    async def wait_result(self, station: str) -> CheckResult:
        """The result of ``station`` for this item, once there is one."""
        await self._result_event(station).wait()
        return self.results[station]

    def label(self) -> str:
        return self.public_id or f"tray {self.tray} (event {self.key[1]})"


@dataclass
class Counters:
    """What the line did since the controller started (closed items)."""

    trays: int = 0  # ENTERED
    passed: int = 0  # closed with a PASS
    rejected: Counter[str] = field(default_factory=Counter)  # closed, by reason
    outcomes: Counter[str] = field(default_factory=Counter)

    def snapshot(self) -> dict[str, Any]:
        return {"trays": self.trays, "passed": self.passed,
                "rejected": dict(self.rejected), "outcomes": dict(self.outcomes)}


Spawn = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]


class Tracker:
    """Tray ids to items, the event rules of ``line.md``, station tasks, verdicts."""

    def __init__(self, settings: ControllerSettings, plc_boot: int, journal: Journal,
                 alarms: Alarms, stations: Sequence[Station], counters: Counters, *,
                 spawn: Spawn, on_verdict: Callable[[TrackedItem], None],
                 verdict_taken: Callable[[int], bool],
                 tray_has_outstanding_verdict: Callable[[int], bool]) -> None:
        self.settings = settings
        self.plc_boot = plc_boot
        self.journal = journal
        self.alarms = alarms
        self.stations = list(stations)
        self._watchers = [s for s in self.stations if isinstance(s, TrayWatcher)]
        self.counters = counters
        self._route = settings.event_route
        self._spawn = spawn
        self._on_verdict = on_verdict
        self._verdict_taken = verdict_taken
        self._tray_outstanding = tray_has_outstanding_verdict
        self.by_tray: dict[int, TrackedItem] = {}
        self.items: dict[ItemKey, TrackedItem] = {}

    # -- start-up ------------------------------------------------------------------

    def restore(self, open_items: Sequence[OpenItem]) -> list[Op]:
        """Rebuild from the database after a (re)start.

        A restart in the middle of a tray is doubt: an item without a verdict is
        rejected with the first failure already found, else TRACKING_ERROR.
        """
        ops: list[Op] = []
        now = utcnow()
        for oi in open_items:
            stage = self._route.index(oi.last_event) if oi.last_event in self._route else 0
            item = TrackedItem(key=oi.key, tray=oi.tray, stage=stage, db_id=oi.db_id,
                               public_id=oi.public_id, results=dict(oi.results),
                               verdict=oi.verdict, verdict_number=oi.verdict_seq,
                               planned_verdict=oi.verdict if oi.verdict_seq is not None
                               else None)
            item.stored.set()
            for station in item.results:
                item._result_event(station).set()
            if item.verdict is None:
                reason = first_failure(item.results, self.settings.required_stations)
                item.verdict = Verdict.reject(reason or Reason.TRACKING_ERROR)
                ops.append(DecideVerdict(item.key, item.verdict, now))
                log.warning("%s: undecided at restart, rejected %s", item.label(),
                            item.verdict.reason.name)
            else:
                item.verdict_stored.set()
            older = self.by_tray.get(item.tray)
            if older is not None:
                self._report(f"tray {item.tray} holds two open items; "
                             f"{older.label()} is lost")
                self._close(older, Outcome.LOST, ops, now)
            self.by_tray[item.tray] = item
            self.items[item.key] = item
        return ops

    def mark_restored(self) -> None:
        """The ops of :meth:`restore` are committed."""
        for item in self.items.values():
            item.verdict_stored.set()

    # -- events ----------------------------------------------------------------------

    def apply(self, batch: Sequence[tuple[PlcEvent, Window]]
              ) -> tuple[list[tuple[PlcEvent, ItemKey | None]], list[Op]]:
        """Apply events in ring order, each with the window of its stations.

        Returns each event with the item it belongs to and the operations to store in
        the batch's transaction. Station checks start at once.
        """
        ops: list[Op] = []
        keyed: list[tuple[PlcEvent, ItemKey | None]] = []
        for ev, window in batch:
            keyed.append((ev, self._apply_one(ev, window, ops)))
        return keyed, ops

    def batch_stored(self, created: Mapping[ItemKey, StoredItem]) -> None:
        """The batch is committed: new items have their ids, forced verdicts are durable."""
        for key, stored in created.items():
            item = self.items.get(key)
            if item is None:
                continue
            item.db_id = stored.db_id
            item.public_id = stored.public_id
            item.stored.set()
        for item in self.items.values():
            if item.verdict is not None and item.stored.is_set():
                item.verdict_stored.set()

    def _apply_one(self, ev: PlcEvent, window: Window, ops: list[Op]) -> ItemKey | None:
        now = utcnow()
        if ev.type is EventType.ENTERED:
            return self._entered(ev, window, ops, now)
        item = self.by_tray.get(ev.tray)
        if item is None:
            self._report(f"event {ev.number} {ev.type.name} for tray {ev.tray}: "
                         "no item on the line")
            return None
        if ev.type is EventType.LOST:
            log.warning("%s: the PLC lost the tray", item.label())
            self._close(item, Outcome.LOST, ops, now)
            return item.key
        if ev.type not in self._route:
            self._report(f"event {ev.number}: unknown type {int(ev.type)} for {item.label()}")
            self._force(item, Reason.TRACKING_ERROR, ops, now)
            return item.key
        index = self._route.index(ev.type)
        if index != item.stage + 1:
            self._report(f"event {ev.number} {ev.type.name} for {item.label()} out of order "
                         f"(after {self._route[item.stage].name})")
            self._force(item, Reason.TRACKING_ERROR, ops, now)
        item.stage = max(item.stage, index)
        if ev.type is EventType.DIVERTED:
            target = DivertTarget(ev.arg)
            if target is DivertTarget.OUTFEED:
                self._close(item, Outcome.OUTFEED, ops, now)
            elif target is DivertTarget.REJECT_BIN:
                self._close(item, Outcome.REJECT_BIN, ops, now)
            else:
                self._report(f"event {ev.number}: DIVERTED {item.label()} to unknown "
                             f"target {ev.arg}")
                self._force(item, Reason.TRACKING_ERROR, ops, now)
                self._close(item, Outcome.LOST, ops, now)
        else:
            self._arrive(item, ev.type, window)
        return item.key

    def _entered(self, ev: PlcEvent, window: Window, ops: list[Op], now: Any) -> ItemKey:
        old = self.by_tray.get(ev.tray)
        if old is not None:
            self._report(f"tray {ev.tray} entered again while {old.label()} is on the line; "
                         "that one is lost")
            self._close(old, Outcome.LOST, ops, now)
        item = TrackedItem(key=(self.plc_boot, ev.number), tray=ev.tray)
        ops.append(NewItem(item.key, item.tray, now))
        self.by_tray[item.tray] = item
        self.items[item.key] = item
        self.counters.trays += 1
        if self._tray_outstanding(item.tray):
            # A verdict of an earlier item on this carrier may still reach the PLC.
            self._report(f"tray {item.tray} entered while a verdict of its previous trip "
                         "is still outstanding")
            self._force(item, Reason.TRACKING_ERROR, ops, now)
        self._arrive(item, EventType.ENTERED, window)
        return item.key

    # -- stations --------------------------------------------------------------------

    def _arrive(self, item: TrackedItem, event: EventType, window: Window) -> None:
        for station in self.stations:
            if station.event is not event:
                continue
            if item.rejected:
                future: asyncio.Future[CheckResult] = asyncio.get_running_loop().create_future()
                future.set_result(CheckResult.skip(item.verdict.reason if item.verdict else None,
                                                   started_at=utcnow()))
            else:
                future = station.start(item, window)
            task = self._spawn(self._run_station(item, station, future))
            item.tasks.add(task)
            task.add_done_callback(item.tasks.discard)
        for watcher in self._watchers:
            watcher.tray_at(item, event)

    async def _run_station(self, item: TrackedItem, station: Station,
                           future: asyncio.Future[CheckResult]) -> None:
        started = utcnow()
        try:
            result = await future
        except JournalError:
            raise
        except Exception as err:  # noqa: BLE001 - a check that broke is that station's REJECT
            log.error("%s: %s check failed: %s: %s", item.label(), station.name,
                      type(err).__name__, err)
            result = CheckResult.failed(station.fault_reason,
                                        {"error": f"{type(err).__name__}: {err}"},
                                        started_at=started)
        await item.stored.wait()
        await self.record_result(item, station.name, result)

    async def record_result(self, item: TrackedItem, station: str, result: CheckResult) -> None:
        """Store a station's result and the verdict it decides, then hand the verdict on."""
        if item.closed or station in item.results:
            if not result.stored:
                await self.journal.apply([AddResult(item.key, station, result, utcnow())])
            return
        item.results[station] = result
        item._result_event(station).set()
        ops: list[Op] = [] if result.stored else [AddResult(item.key, station, result, utcnow())]
        decided = None
        if item.verdict is None:
            decided = fold(self.settings.required_stations, item.results)
            if decided is not None:
                item.verdict = decided
                ops.append(DecideVerdict(item.key, decided, utcnow()))
        if ops:
            await self.journal.apply(ops)
        if decided is not None:
            item.verdict_stored.set()
            log.info("%s: verdict %s %s", item.label(), decided.word, decided.reason.name)
            self._on_verdict(item)

    # -- verdicts and closing ------------------------------------------------------------

    def send_verdict(self, item: TrackedItem) -> None:
        """Hand ``item``'s stored verdict to the verdict writer (again, when it changed)."""
        self._on_verdict(item)

    def _force(self, item: TrackedItem, reason: Reason, ops: list[Op], now: Any) -> None:
        """Reject ``item`` now, unless it has a verdict already (exactly one per item)."""
        if item.verdict is not None:
            return
        item.verdict = Verdict.reject(reason)
        ops.append(DecideVerdict(item.key, item.verdict, now))
        log.warning("%s: rejected %s", item.label(), reason.name)
        self._on_verdict(item)

    def _close(self, item: TrackedItem, outcome: Outcome, ops: list[Op], now: Any) -> None:
        final = self._final_verdict(item, outcome)
        if outcome is Outcome.OUTFEED and final != PASS:
            self.alarms.raise_(AlarmCode.WRONG_OUTFEED,
                               f"{item.label()} went to the outfeed without a PASS taken "
                               f"by the PLC ({final.reason.name})",
                               severity=Severity.CRITICAL, latched=True)
        ops.append(CloseItem(item.key, outcome, final, now))
        item.closed = True
        item.verdict = final
        self.items.pop(item.key, None)
        if self.by_tray.get(item.tray) is item:
            del self.by_tray[item.tray]
        for task in list(item.tasks):
            task.cancel()
        self.counters.outcomes[outcome.value] += 1
        if final == PASS:
            self.counters.passed += 1
        else:
            self.counters.rejected[final.reason.name] += 1
        log.info("%s: closed %s, %s %s", item.label(), outcome.value, final.word,
                 final.reason.name)

    def _final_verdict(self, item: TrackedItem, outcome: Outcome) -> Verdict:
        if outcome is Outcome.LOST:
            if item.rejected:
                assert item.verdict is not None
                return item.verdict
            reason = first_failure(item.results, self.settings.required_stations)
            return Verdict.reject(reason or Reason.TRACKING_ERROR)
        if item.verdict is None:
            reason = first_failure(item.results, self.settings.required_stations)
            return Verdict.reject(reason or Reason.NO_VERDICT)
        if item.verdict.code is VerdictCode.REJECT:
            return item.verdict
        taken = item.verdict_number is not None and self._verdict_taken(item.verdict_number)
        if not taken:
            return Verdict.reject(Reason.NO_VERDICT)
        if outcome is Outcome.REJECT_BIN:
            # The PLC diverts a tray whose PASS it took to the outfeed; VD_READ, read
            # after the event, has moved since: it took the PASS after the gate.
            log.warning("%s: PASS taken by the PLC only after the tray passed the gate",
                        item.label())
            return Verdict.reject(Reason.NO_VERDICT)
        return PASS

    def close_all_lost(self) -> list[Op]:
        """Every open item is lost (the PLC restarted): the closing operations."""
        ops: list[Op] = []
        now = utcnow()
        for item in list(self.items.values()):
            self._close(item, Outcome.LOST, ops, now)
        return ops

    def cancel_all(self) -> None:
        for item in self.items.values():
            for task in list(item.tasks):
                task.cancel()

    def _report(self, text: str) -> None:
        self.alarms.raise_(AlarmCode.TRACKING_ERROR, text, severity=Severity.WARNING,
                           latched=True)


@dataclass(frozen=True, slots=True)
class Window:
    """Where a tray is in time after the PLC event that brought it to a station.

    The event was written after ``base`` (the send time of the last ring read that did
    not hold it) and before ``seen`` (when the read that held it was answered), on a belt
    running at most ``speed_mm_s``. Times are ``time.monotonic()``. An unknown base or
    speed closes every window at once.
    """

    base: float | None
    speed_mm_s: float | None
    field_of_view_mm: float
    seen: float | None = None

    @classmethod
    def closed(cls, field_of_view_mm: float = 150.0) -> Window:
        """A window that is already closed (nothing known of the tray's position)."""
        return cls(None, None, field_of_view_mm)

    def after(self, travel_mm: float) -> float:
        """The earliest time the tray can have travelled ``travel_mm`` past the station:
        until then it is certainly short of that point."""
        if self.base is None or not self.speed_mm_s or self.speed_mm_s <= 0:
            return float("-inf")
        return self.base + travel_mm / self.speed_mm_s

    @property
    def closes(self) -> float:
        """The end of the station's field of view: a trigger later may see no tray."""
        return self.after(self.field_of_view_mm)

    def reached_by(self, travel_mm: float) -> float:
        """When the tray has travelled ``travel_mm`` if the belt keeps its speed, taking
        the event as late as it can have been written (when to expect it, not a bound)."""
        if self.seen is None or not self.speed_mm_s or self.speed_mm_s <= 0:
            return self.after(travel_mm)
        return self.seen + travel_mm / self.speed_mm_s

