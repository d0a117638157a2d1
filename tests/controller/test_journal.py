"""The journal: one transaction per batch, nothing stored twice, INFEED binding rules."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from plateline.contract import EventType, Reason
from plateline.controller.journal import (
    CloseItem,
    Cursor,
    DecideVerdict,
    Journal,
    JournalConflict,
    NewItem,
    Op,
)
from plateline.controller.model import PASS, Outcome, PlcEvent, Verdict
from plateline.recipes import Recipe
from plateline.records.models import Item, LineCursor, Order, StationResult
from plateline.records.models import PlcEvent as PlcEventRow

from .harness import add_order

LINE = "L1"
NOW = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def entered(number: int, tray: int) -> tuple[PlcEvent, tuple[int, int]]:
    return PlcEvent(number, EventType.ENTERED, tray, 0), (1, number)


async def new_items(journal: Journal, *trays: int, start: int = 0) -> list[tuple[int, int]]:
    events = [entered(start + i, t) for i, t in enumerate(trays)]
    ops = [NewItem(key, ev.tray, NOW) for ev, key in events]
    await journal.store_event_batch(1, events, ops)
    return [key for _, key in events]


def count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_batch_is_stored_once(sessions: sessionmaker[Session]) -> None:
    async with Journal(sessions, LINE) as journal:
        await journal.set_cursor(Cursor(1, 0, 0))
        events = [entered(0, 5), entered(1, 6)]
        ops = [NewItem(key, ev.tray, NOW) for ev, key in events]
        created = await journal.store_event_batch(1, events, ops)
        assert set(created) == {(1, 0), (1, 1)}
        assert created[(1, 0)].public_id.startswith("L1-")
        with pytest.raises(JournalConflict):
            await journal.store_event_batch(1, events, ops)  # the same batch again
        with pytest.raises(JournalConflict):
            await journal.store_event_batch(1, [entered(5, 7)], [])  # a gap
        with pytest.raises(JournalConflict):
            await journal.store_event_batch(2, [entered(2, 7)], [])  # another boot
        state = await journal.load()
    assert state.cursor == Cursor(1, 2, 0)
    assert [it.tray for it in state.open_items] == [5, 6]
    assert count(sessions, PlcEventRow) == 2
    assert count(sessions, Item) == 2


async def test_a_failing_batch_leaves_nothing(sessions: sessionmaker[Session]) -> None:
    async with Journal(sessions, LINE) as journal:
        await journal.set_cursor(Cursor(1, 0, 0))
        events = [entered(0, 5)]
        # closing an item that does not exist fails the whole transaction
        ops: list[Op] = [NewItem((1, 0), 5, NOW), CloseItem((1, 99), Outcome.LOST, PASS, NOW)]
        with pytest.raises(JournalConflict):
            await journal.store_event_batch(1, events, ops)
        assert (await journal.load()).cursor == Cursor(1, 0, 0)
    assert count(sessions, PlcEventRow) == 0
    assert count(sessions, Item) == 0


async def test_a_queued_job_runs_although_its_caller_was_cancelled(
        sessions: sessionmaker[Session]) -> None:
    async with Journal(sessions, LINE) as journal:
        await journal.set_cursor(Cursor(1, 0, 0))
        (a,) = await new_items(journal, 5)
        release = threading.Event()
        busy = journal._submit(lambda s: release.wait(5))  # the writer is busy
        async def store_verdict() -> None:
            await journal.apply([DecideVerdict(a, PASS, NOW)])

        waiter = asyncio.create_task(store_verdict())
        await asyncio.sleep(0.05)
        waiter.cancel()  # e.g. the tray closed at the gate meanwhile
        release.set()
        await busy
        await journal.apply([])  # commits in order: the cancelled one is done by now
    with sessions() as s:
        item = s.scalars(select(Item)).one()
        assert item.verdict == "pass"


async def test_exactly_one_verdict_and_planned_numbers(sessions: sessionmaker[Session]) -> None:
    async with Journal(sessions, LINE) as journal:
        await journal.set_cursor(Cursor(1, 0, 65535))
        a, b = await new_items(journal, 5, 6)
        await journal.apply([DecideVerdict(a, PASS, NOW)])
        with pytest.raises(JournalConflict):
            await journal.apply([DecideVerdict(a, Verdict.reject(Reason.NOREAD), NOW)])
        with pytest.raises(JournalConflict):
            await journal.plan_verdict(1, b)  # no verdict yet
        await journal.apply([DecideVerdict(b, Verdict.reject(Reason.NOREAD), NOW)])
        assert await journal.pending_verdicts() == [a, b]
        pa = await journal.plan_verdict(1, a)
        pb = await journal.plan_verdict(1, b)
        assert (pa.number, pb.number) == (65535, 65536)  # absolute, past the 16-bit wrap
        with pytest.raises(JournalConflict):
            await journal.plan_verdict(1, a)  # planned already
        assert await journal.pending_verdicts() == []
        again = await journal.planned_verdict(1, 65536)
        assert again is not None and again.verdict == Verdict.reject(Reason.NOREAD)
        await journal.mark_written(1, 65536)
    with sessions() as s:
        rows = {it.tray: it for it in s.scalars(select(Item))}
        assert rows[5].verdict_written and not rows[6].verdict_written
        assert s.get(LineCursor, LINE).verdicts_planned == 65537  # type: ignore[union-attr]


async def test_bind_order_rules(sessions: sessionmaker[Session],
                                recipes: dict[str, Recipe]) -> None:
    add_order(sessions, "ORDER-001")
    add_order(sessions, "ORDER-002", status="cancelled")
    add_order(sessions, "ORDER-003", product="no-such-product")
    add_order(sessions, "ORDER-004", plate_count=1)  # disagrees with plate-pair
    async with Journal(sessions, LINE) as journal:
        await journal.set_cursor(Cursor(1, 0, 0))
        keys = await new_items(journal, 1, 2, 3, 4, 5, 6)

        async def bind(key: tuple[int, int], code: str) -> Reason:
            result, facts = await journal.bind_order(key, code, recipes, None)
            assert result.stored
            assert (facts is not None) == result.ok
            return result.reason

        assert await bind(keys[0], "ORDER-001") is Reason.NONE
        assert await bind(keys[1], "ORDER-001") is Reason.DUPLICATE_ORDER  # on the line
        assert await bind(keys[2], "NOPE-0001") is Reason.UNKNOWN_ORDER
        assert await bind(keys[3], "ORDER-002") is Reason.ORDER_CANCELLED
        assert await bind(keys[4], "ORDER-003") is Reason.UNKNOWN_ORDER
        assert await bind(keys[5], "ORDER-004") is Reason.UNKNOWN_ORDER
    with sessions() as s:
        assert s.get(Order, "ORDER-001").frozen  # type: ignore[union-attr]
        items = {it.tray: it for it in s.scalars(select(Item))}
        assert items[1].recipe_id == "plate-pair" and items[1].recipe_version == "1.0"
        assert items[3].order_id == "NOPE-0001"  # the barcode read, known or not
        reasons = dict(s.execute(select(Item.tray, StationResult.reason)
                                 .join(StationResult, StationResult.item_id == Item.id)).all())
        assert reasons[2] == "DUPLICATE_ORDER"


async def test_binding_carries_the_label_facts_kept_out_of_reprs(
        sessions: sessionmaker[Session], recipes: dict[str, Recipe]) -> None:
    add_order(sessions, "ORDER-001")
    async with Journal(sessions, LINE) as journal:
        await journal.set_cursor(Cursor(1, 0, 0))
        (key,) = await new_items(journal, 1)
        result, facts = await journal.bind_order(key, "ORDER-001", recipes, None)
        assert result.ok and facts is not None and facts.label is not None
        assert facts.label == await journal.order_label("ORDER-001")
    assert facts.label.waybill_no == "SF1234567890"
    for personal in (facts.label.recipient_phone, facts.label.recipient_name):
        assert personal not in repr(facts) and personal not in repr(facts.label)


async def test_an_order_runs_again_after_reject_or_loss_but_not_after_packing(
        sessions: sessionmaker[Session], recipes: dict[str, Recipe]) -> None:
    add_order(sessions, "ORDER-001")
    async with Journal(sessions, LINE) as journal:
        await journal.set_cursor(Cursor(1, 0, 0))
        (a,) = await new_items(journal, 1)
        assert (await journal.bind_order(a, "ORDER-001", recipes, None))[0].ok
        # rejected (e.g. by VISION) but still on the line: another tray of it is a duplicate
        # (the rule does not depend on how far the first tray's checks have got)
        await journal.apply([DecideVerdict(a, Verdict.reject(Reason.PLATE_MISMATCH), NOW)])
        (dup,) = await new_items(journal, 2, start=1)
        result, _ = await journal.bind_order(dup, "ORDER-001", recipes, None)
        assert result.reason is Reason.DUPLICATE_ORDER
        # once the rejected tray is off the line, in the reject bin: may run again
        await journal.apply([CloseItem(a, Outcome.REJECT_BIN,
                                       Verdict.reject(Reason.PLATE_MISMATCH), NOW),
                             CloseItem(dup, Outcome.REJECT_BIN,
                                       Verdict.reject(Reason.DUPLICATE_ORDER), NOW)])
        (b,) = await new_items(journal, 3, start=2)
        assert (await journal.bind_order(b, "ORDER-001", recipes, None))[0].ok
        # lost to tracking: may run again
        await journal.apply([CloseItem(b, Outcome.LOST, Verdict.reject(Reason.TRACKING_ERROR),
                                       NOW)])
        (c,) = await new_items(journal, 4, start=3)
        assert (await journal.bind_order(c, "ORDER-001", recipes, None))[0].ok
        # packed: never again
        await journal.apply([DecideVerdict(c, PASS, NOW), CloseItem(c, Outcome.OUTFEED, PASS,
                                                                     NOW)])
        (d,) = await new_items(journal, 5, start=4)
        result, _ = await journal.bind_order(d, "ORDER-001", recipes, None)
        assert result.reason is Reason.DUPLICATE_ORDER
        assert result.data["packed_as"]


async def test_operator_actions_and_restart_state(sessions: sessionmaker[Session]) -> None:
    async with Journal(sessions, LINE) as journal:
        assert (await journal.load()).cursor is None
        await journal.record_action("alice", "command START", {"result": "TAKEN"})
    with sessions() as s:
        from plateline.records.models import OperatorAction
        (row,) = s.scalars(select(OperatorAction)).all()
        assert (row.user, row.action, row.line_id) == ("alice", "command START", LINE)
