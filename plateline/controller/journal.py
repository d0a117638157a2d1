"""The journal: every database write of the controller, in one writer thread.

All work runs in a single-thread executor, so the event loop never blocks on the
database and writes are serialized in the order they were asked for: a job asked
for before another is committed before it. Each method is one transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

from sqlalchemy import and_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from plateline.contract import EventType, Reason, VerdictCode
from plateline.controller.model import (
    PASS,
    SKIPPED,
    CheckResult,
    ItemKey,
    Outcome,
    PlcEvent,
    Verdict,
)
from plateline.drivers.zpl import WaybillLabel
from plateline.errors import PlatelineError
from plateline.recipes import Recipe
from plateline.records.models import (
    Item,
    LineCursor,
    OperatorAction,
    Order,
    StationResult,
    utcnow,
)
from plateline.records.models import (
    PlcEvent as PlcEventRow,
)

log = logging.getLogger(__name__)
#: A transaction this late (queue wait included) is logged: the disk is too slow.
SLOW_JOB_S = 0.25
T = TypeVar("T")


class JournalError(PlatelineError):
    """A database write or read failed (the transaction was rolled back)."""


class JournalConflict(JournalError):
    """The database does not stand where the caller thinks (e.g. events already stored)."""


@dataclass(frozen=True)
class Cursor:
    """Where the controller stands in the PLC's rings (absolute counts since the PLC's boot)."""

    plc_boot: int
    events_handled: int
    verdicts_planned: int


@dataclass
class OpenItem:
    """An item still on the line, as the database knows it (for a restart)."""

    key: ItemKey
    db_id: int
    public_id: str
    tray: int
    order_id: str | None
    verdict: Verdict | None
    verdict_seq: int | None
    verdict_written: bool
    last_event: EventType
    results: dict[str, CheckResult] = field(default_factory=dict)


@dataclass(frozen=True)
class JournalState:
    cursor: Cursor | None
    open_items: list[OpenItem]  # in ENTERED order


# -- operations applied in one transaction -------------------------------------------

@dataclass(frozen=True)
class NewItem:
    key: ItemKey
    tray: int
    at: datetime


@dataclass(frozen=True)
class DecideVerdict:
    key: ItemKey
    verdict: Verdict
    at: datetime


@dataclass(frozen=True)
class AddResult:
    key: ItemKey
    station: str
    result: CheckResult
    at: datetime


@dataclass(frozen=True)
class CloseItem:
    key: ItemKey
    outcome: Outcome
    verdict: Verdict
    at: datetime


@dataclass(frozen=True)
class OperatorReject:
    """An operator's reject by hand: the item's verdict becomes ``verdict`` (a PASS
    already planned is planned again as this REJECT) and the action is recorded."""

    key: ItemKey
    verdict: Verdict
    user: str
    detail: dict[str, Any]
    at: datetime


Op = NewItem | DecideVerdict | AddResult | CloseItem | OperatorReject


@dataclass(frozen=True)
class StoredItem:
    db_id: int
    public_id: str


@dataclass(frozen=True)
class PlannedVerdict:
    """A verdict with its absolute ring number: what goes into the verdict-ring slot."""

    number: int
    key: ItemKey
    tray: int
    verdict: Verdict


@dataclass(frozen=True)
class OrderFacts:
    """What the later stations need of the order bound at INFEED.

    ``label`` is what LABEL prints (with the recipe's template), read with the order
    at INFEED so that the labeler's short window never waits for the database
    (personal data: kept in memory for the tray's pass only, never logged).
    """

    order_id: str
    product: str
    plate_no: str | None
    plate_type: str | None
    plate_count: int
    recipe_version: str
    min_confidence: float
    label: WaybillLabel | None = field(default=None, repr=False, compare=False)


class Journal:
    """Database writer of one line (async context manager; one thread)."""

    def __init__(self, sessions: sessionmaker[Session], line_id: str) -> None:
        self._sessions = sessions
        self.line_id = line_id
        self._executor: ThreadPoolExecutor | None = None

    async def __aenter__(self) -> Self:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"journal-{self.line_id}")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Finish the jobs already asked for and stop the thread; safe twice."""
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown, True)

    # -- plumbing ------------------------------------------------------------------

    def _submit(self, job: Callable[[Session], T]) -> asyncio.Future[T]:
        """Queue ``job`` now (so call order is commit order) and return its future."""
        if self._executor is None:
            raise JournalError("journal is not open")

        queued = time.monotonic()

        def run() -> T:
            began = time.monotonic()
            try:
                with self._sessions() as session, session.begin():
                    return job(session)
            except SQLAlchemyError as err:
                raise JournalError(f"database: {type(err).__name__}: {err}") from err
            finally:
                done = time.monotonic()
                if done - queued > SLOW_JOB_S:  # a slow disk eats the stations' windows
                    log.warning("journal: %s waited %.0f ms and took %.0f ms",
                                _job_name(job),
                                (began - queued) * 1000, (done - began) * 1000)

        # Once queued, a job runs: a caller that is cancelled while it waits (a tray
        # closed at the gate while one of its results was being stored) does not take
        # the job out of the queue.
        return asyncio.shield(asyncio.get_running_loop().run_in_executor(self._executor, run))

    # -- start-up ------------------------------------------------------------------

    def load(self) -> asyncio.Future[JournalState]:
        """The cursor and the items still open on this line."""
        return self._submit(self._load)

    def _load(self, s: Session) -> JournalState:
        row = s.get(LineCursor, self.line_id)
        cursor = (Cursor(row.plc_boot, row.events_handled, row.verdicts_planned)
                  if row is not None else None)
        items = s.scalars(select(Item).where(Item.line_id == self.line_id,
                                             Item.closed_at.is_(None))
                          .order_by(Item.plc_boot, Item.enter_seq)).all()
        result = []
        for it in items:
            last = s.scalars(select(PlcEventRow.type).where(PlcEventRow.item_id == it.id)
                             .order_by(PlcEventRow.seq.desc()).limit(1)).first()
            result.append(OpenItem(
                key=(it.plc_boot, it.enter_seq), db_id=it.id, public_id=it.public_id(),
                tray=it.tray, order_id=it.order_id, verdict=_verdict_of(it),
                verdict_seq=it.verdict_seq, verdict_written=it.verdict_written,
                last_event=EventType(last if last is not None else EventType.ENTERED),
                results={r.station: _result_of(r) for r in it.results}))
        return JournalState(cursor, result)

    def set_cursor(self, cursor: Cursor, ops: Sequence[Op] = ()) -> asyncio.Future[None]:
        """Move the cursor (first start, PLC restart) and apply ``ops`` with it."""

        def job(s: Session) -> None:
            self._apply(s, ops, {})
            self._put_cursor(s, cursor)

        return self._submit(job)

    def _put_cursor(self, s: Session, cursor: Cursor) -> None:
        row = s.get(LineCursor, self.line_id)
        if row is None:
            row = LineCursor(line_id=self.line_id)
            s.add(row)
        row.plc_boot = cursor.plc_boot
        row.events_handled = cursor.events_handled
        row.verdicts_planned = cursor.verdicts_planned
        row.updated_at = utcnow()

    # -- events ----------------------------------------------------------------------

    def store_event_batch(self, plc_boot: int, events: Sequence[tuple[PlcEvent, ItemKey | None]],
                          ops: Sequence[Op]) -> asyncio.Future[dict[ItemKey, StoredItem]]:
        """Store events, what they caused, and the advanced cursor, in one transaction.

        ``events`` must continue exactly where the cursor stands; JournalConflict
        otherwise (nothing is stored twice). Returns the new items' ids.
        """
        events = list(events)
        ops = list(ops)

        def job(s: Session) -> dict[ItemKey, StoredItem]:
            row = s.get(LineCursor, self.line_id)
            first = events[0][0].number if events else None
            if row is None or row.plc_boot != plc_boot or (
                    first is not None and row.events_handled != first):
                where = "none" if row is None else f"boot {row.plc_boot} at {row.events_handled}"
                raise JournalConflict(f"cursor is {where}, batch is boot {plc_boot} at {first}")
            created: dict[ItemKey, StoredItem] = {}
            ids = self._apply(s, ops, created)
            for ev, key in events:
                s.add(PlcEventRow(line_id=self.line_id, plc_boot=plc_boot, seq=ev.number,
                                  type=int(ev.type), tray=ev.tray, arg=ev.arg,
                                  item_id=ids(key) if key is not None else None))
            row.events_handled += len(events)
            row.updated_at = utcnow()
            return created

        return self._submit(job)

    def apply(self, ops: Sequence[Op]) -> asyncio.Future[None]:
        """Apply results, verdicts and closings in one transaction."""
        ops = list(ops)

        def job(s: Session) -> None:
            self._apply(s, ops, {})

        return self._submit(job)

    def _apply(self, s: Session, ops: Sequence[Op],
               created: dict[ItemKey, StoredItem]) -> Callable[[ItemKey], int]:
        cache: dict[ItemKey, Item] = {}

        def item(key: ItemKey) -> Item:
            if key not in cache:
                found = s.scalars(select(Item).where(
                    Item.line_id == self.line_id, Item.plc_boot == key[0],
                    Item.enter_seq == key[1])).one_or_none()
                if found is None:
                    raise JournalConflict(f"no item {key} on line {self.line_id}")
                cache[key] = found
            return cache[key]

        for op in ops:
            if isinstance(op, NewItem):
                new = Item(line_id=self.line_id, tray=op.tray, plc_boot=op.key[0],
                           enter_seq=op.key[1], entered_at=op.at)
                s.add(new)
                s.flush()
                cache[op.key] = new
                created[op.key] = StoredItem(new.id, new.public_id())
            elif isinstance(op, AddResult):
                it = item(op.key)
                s.add(StationResult(item_id=it.id, station=op.station, ok=op.result.ok,
                                    reason=op.result.reason_name, data=op.result.data,
                                    started_at=op.result.started_at, finished_at=op.at))
            elif isinstance(op, DecideVerdict):
                it = item(op.key)
                if it.verdict is not None:
                    raise JournalConflict(f"item {it.public_id()} already has a verdict")
                _set_verdict(it, op.verdict, op.at)
            elif isinstance(op, CloseItem):
                it = item(op.key)
                if it.closed_at is not None:
                    raise JournalConflict(f"item {it.public_id()} is already closed")
                if _verdict_of(it) != op.verdict:
                    _set_verdict(it, op.verdict, op.at)
                it.outcome = op.outcome.value
                it.closed_at = op.at
            elif isinstance(op, OperatorReject):
                it = item(op.key)
                if it.closed_at is not None:
                    raise JournalConflict(f"item {it.public_id()} is already closed")
                if _verdict_of(it) != op.verdict:
                    _set_verdict(it, op.verdict, op.at)
                    it.verdict_seq = None  # the new verdict goes to the PLC as well
                    it.verdict_written = False
                s.add(OperatorAction(line_id=self.line_id, user=op.user, at=op.at,
                                     action="reject", detail={**op.detail,
                                                              "item_id": it.public_id()}))
        s.flush()
        return lambda key: item(key).id

    # -- verdicts --------------------------------------------------------------------

    def plan_verdict(self, plc_boot: int, key: ItemKey) -> asyncio.Future[PlannedVerdict]:
        """Give the item's verdict the next absolute ring number, durably."""

        def job(s: Session) -> PlannedVerdict:
            row = s.get(LineCursor, self.line_id)
            if row is None or row.plc_boot != plc_boot:
                raise JournalConflict(f"no cursor for boot {plc_boot}")
            it = s.scalars(select(Item).where(
                Item.line_id == self.line_id, Item.plc_boot == key[0],
                Item.enter_seq == key[1])).one()
            verdict = _verdict_of(it)
            if verdict is None or it.verdict_seq is not None:
                raise JournalConflict(f"item {it.public_id()}: no verdict to plan")
            it.verdict_seq = row.verdicts_planned
            row.verdicts_planned += 1
            row.updated_at = utcnow()
            return PlannedVerdict(it.verdict_seq, key, it.tray, verdict)

        return self._submit(job)

    def planned_verdict(self, plc_boot: int, number: int) -> asyncio.Future[PlannedVerdict | None]:
        """The verdict planned under ``number`` in this boot, if any (to write it again)."""

        def job(s: Session) -> PlannedVerdict | None:
            it = s.scalars(select(Item).where(
                Item.line_id == self.line_id, Item.plc_boot == plc_boot,
                Item.verdict_seq == number)).one_or_none()
            if it is None:
                return None
            verdict = _verdict_of(it)
            assert verdict is not None
            return PlannedVerdict(number, (it.plc_boot, it.enter_seq), it.tray, verdict)

        return self._submit(job)

    def mark_written(self, plc_boot: int, below: int) -> asyncio.Future[None]:
        """Every verdict numbered below ``below`` is in the PLC's ring."""

        def job(s: Session) -> None:
            s.execute(update(Item).where(
                Item.line_id == self.line_id, Item.plc_boot == plc_boot,
                Item.verdict_seq < below, Item.verdict_written.is_(False))
                .values(verdict_written=True))

        return self._submit(job)

    def set_verdicts_planned(self, plc_boot: int, planned: int) -> asyncio.Future[None]:
        """Re-base the verdict count on the PLC's (after an inconsistency)."""

        def job(s: Session) -> None:
            row = s.get(LineCursor, self.line_id)
            if row is None or row.plc_boot != plc_boot:
                raise JournalConflict(f"no cursor for boot {plc_boot}")
            row.verdicts_planned = planned
            row.updated_at = utcnow()

        return self._submit(job)

    def pending_verdicts(self) -> asyncio.Future[list[ItemKey]]:
        """Open items with a verdict not yet given a ring number, in decision order."""

        def job(s: Session) -> list[ItemKey]:
            rows = s.execute(select(Item.plc_boot, Item.enter_seq).where(
                Item.line_id == self.line_id, Item.closed_at.is_(None),
                Item.verdict.is_not(None), Item.verdict_seq.is_(None))
                .order_by(Item.verdict_at, Item.id)).all()
            return [(b, n) for b, n in rows]

        return self._submit(job)

    # -- INFEED ------------------------------------------------------------------------

    def bind_order(self, key: ItemKey, barcode: str, recipes: Mapping[str, Recipe],
                   started_at: datetime | None) -> asyncio.Future[tuple[CheckResult, OrderFacts | None]]:
        """The INFEED order check and binding, with its result, in one transaction.

        Run one at a time in ENTERED order (the journal's single thread and the
        station's sequencing guarantee it), so two trays of one order cannot both pass.
        """

        def job(s: Session) -> tuple[CheckResult, OrderFacts | None]:
            it = s.scalars(select(Item).where(
                Item.line_id == self.line_id, Item.plc_boot == key[0],
                Item.enter_seq == key[1])).one()
            it.order_id = barcode
            result, facts = _order_check(s, it, barcode, recipes)
            if facts is not None:
                it.recipe_id = facts.product
                it.recipe_version = facts.recipe_version
            if result.ok:
                order = s.get(Order, barcode)
                assert order is not None
                order.frozen = True
            result = CheckResult(result.ok, result.reason, result.data, stored=True,
                                 started_at=started_at)
            s.add(StationResult(item_id=it.id, station="INFEED", ok=result.ok,
                                reason=result.reason_name, data=result.data,
                                started_at=started_at, finished_at=utcnow()))
            return result, facts if result.ok else None

        return self._submit(job)

    # -- LABEL -----------------------------------------------------------------------

    def order_label(self, order_id: str) -> asyncio.Future[WaybillLabel]:
        """The waybill number and recipient of ``order_id`` (LookupError if it is gone)."""

        def job(s: Session) -> WaybillLabel:
            order = s.get(Order, order_id)
            if order is None:
                raise LookupError(f"order {order_id} not found")
            return _label_of(order)

        return self._submit(job)

    # -- operators ---------------------------------------------------------------------

    def record_action(self, user: str, action: str, detail: dict[str, Any]) -> asyncio.Future[None]:
        def job(s: Session) -> None:
            s.add(OperatorAction(line_id=self.line_id, user=user, action=action, detail=detail))

        return self._submit(job)


def _order_check(s: Session, it: Item, barcode: str, recipes: Mapping[str, Recipe]
                 ) -> tuple[CheckResult, OrderFacts | None]:
    data: dict[str, Any] = {"barcode": barcode}
    order = s.get(Order, barcode)
    if order is None:
        return CheckResult.failed(Reason.UNKNOWN_ORDER, data), None
    data["product"] = order.product
    if order.status == "cancelled":
        return CheckResult.failed(Reason.ORDER_CANCELLED, data), None
    if order.status != "open":
        data["problem"] = f"order status {order.status!r}"
        return CheckResult.failed(Reason.UNKNOWN_ORDER, data), None
    recipe = recipes.get(order.product)
    if recipe is None:
        data["problem"] = "no recipe of this line for the product"
        return CheckResult.failed(Reason.UNKNOWN_ORDER, data), None
    facts = OrderFacts(order.order_id, order.product, order.plate_no, order.plate_type,
                       recipe.plates.count, recipe.version, recipe.vision.min_confidence,
                       _label_of(order))
    data.update(recipe_version=recipe.version, plate_no=order.plate_no,
                plate_type=order.plate_type, plate_count=recipe.plates.count)
    if order.plate_count != recipe.plates.count or (
            recipe.plates.count and order.plate_type not in recipe.plates.types):
        data["problem"] = "order disagrees with its recipe"
        return CheckResult.failed(Reason.UNKNOWN_ORDER, data), facts
    packed = s.scalars(select(Item.id).where(
        Item.order_id == barcode, Item.outcome == Outcome.OUTFEED.value).limit(1)).first()
    if packed is not None:
        data["packed_as"] = packed
        return CheckResult.failed(Reason.DUPLICATE_ORDER, data), facts
    on_line = s.scalars(
        select(Item.id).join(StationResult, and_(StationResult.item_id == Item.id,
                                                 StationResult.station == "INFEED",
                                                 StationResult.ok.is_(True)))
        .where(Item.order_id == barcode, Item.closed_at.is_(None), Item.id != it.id)
        .limit(1)).first()
    if on_line is not None:
        data["on_line_as"] = on_line
        return CheckResult.failed(Reason.DUPLICATE_ORDER, data), facts
    return CheckResult.passed(data), facts


def _job_name(job: Callable[..., Any]) -> str:
    qualname: str = getattr(job, "__qualname__", "job")
    return qualname.replace(".<locals>.job", "").rsplit(".", 1)[-1]


def _label_of(order: Order) -> WaybillLabel:
    return WaybillLabel(order.order_id, order.waybill_no, order.recipient_name,
                        order.recipient_phone, order.recipient_address)


def _verdict_of(it: Item) -> Verdict | None:
    if it.verdict is None:
        return None
    if it.verdict == "pass":
        return PASS
    try:
        reason = Reason[it.reason] if it.reason else Reason.TRACKING_ERROR
    except KeyError:
        reason = Reason.TRACKING_ERROR
    return Verdict(VerdictCode.REJECT, reason)


def _set_verdict(it: Item, verdict: Verdict, at: datetime) -> None:
    it.verdict = verdict.word
    it.reason = verdict.reason.name
    it.verdict_at = at


def _result_of(r: StationResult) -> CheckResult:
    if r.reason == SKIPPED:
        return CheckResult(False, Reason.NONE, dict(r.data or {}), skipped=True, stored=True)
    if r.ok:
        return CheckResult(True, Reason.NONE, dict(r.data or {}), stored=True)
    try:
        reason = Reason[r.reason]
    except KeyError:
        reason = Reason.TRACKING_ERROR
    if reason is Reason.NONE:
        reason = Reason.TRACKING_ERROR
    return CheckResult(False, reason, dict(r.data or {}), stored=True)
