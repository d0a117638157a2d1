"""The rings: wrap-around at 65536, overflow, resume after a restart, PLC restart,
a dropped link; nothing handled twice, nothing lost."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from plateline.contract import (
    CmdResult,
    ConveyorAlarm,
    EventType,
    PackMLCommand,
    PackMLState,
)
from plateline.controller.journal import Journal, NewItem
from plateline.controller.model import PlcEvent
from plateline.drivers.tagmap import TagMap
from plateline.recipes import Recipe
from plateline.records.models import LineCursor, OperatorAction, utcnow
from plateline.records.models import PlcEvent as PlcEventRow
from plateline.simulators.conveyor import EV_READ, EV_WRITE, VD_READ, VD_WRITE, PlcConfig

from .harness import (
    add_order,
    all_acknowledged,
    at_camera,
    controller,
    devices,
    enter,
    item_rows,
    open_item,
    start_line,
    to_gate,
    wait_until,
)


def stored_events(sessions: sessionmaker[Session]) -> list[tuple[int, int, int, int]]:
    with sessions() as s:
        return [tuple(r) for r in s.execute(  # type: ignore[misc]
            select(PlcEventRow.plc_boot, PlcEventRow.seq, PlcEventRow.type, PlcEventRow.tray)
            .order_by(PlcEventRow.plc_boot, PlcEventRow.seq)).all()]


def cursor(sessions: sessionmaker[Session]) -> LineCursor:
    with sessions() as s:
        row = s.get(LineCursor, "L1")
        assert row is not None
        s.expunge(row)
        return row


@pytest.fixture
def orders(sessions: sessionmaker[Session]) -> None:
    add_order(sessions, *(f"ORDER-{n:03d}" for n in range(1, 31)))


async def test_wrap_around_at_65536(orders: None, sessions: sessionmaker[Session],
                                    conv_map: TagMap, recipes: dict[str, Recipe]) -> None:
    config = PlcConfig(acting_s=0.05, first_event_no=65530, first_verdict_no=65533)
    async with devices(config) as dev, controller(dev, sessions, conv_map, recipes) as line:
        await start_line(line, dev)
        for tray in range(1, 6):
            await enter(line, dev, tray, f"ORDER-{tray:03d}")
            await at_camera(line, dev, tray)
            await to_gate(line, dev, tray)
        assert dev.plc.register(EV_WRITE) == (65530 + 25) % 65536  # wrapped
        assert dev.plc.register(VD_WRITE) == dev.plc.register(VD_READ) == (65533 + 5) % 65536
    rows = item_rows(sessions)
    assert [(r.verdict, r.outcome) for r in rows] == [("pass", "outfeed")] * 5
    assert [r.verdict_seq for r in rows] == list(range(65533, 65538))  # absolute, no reuse
    assert [e[1] for e in stored_events(sessions)] == list(range(65530, 65555))
    c = cursor(sessions)
    assert (c.events_handled, c.verdicts_planned) == (65555, 65538)


async def test_event_ring_overflow_recovers(sessions: sessionmaker[Session], conv_map: TagMap,
                                            recipes: dict[str, Recipe]) -> None:
    async with devices() as dev, controller(dev, sessions, conv_map, recipes) as line:
        await start_line(line, dev)
        dev.scan.code = None
        numbers = [dev.plc.enter(tray) for tray in range(1, 21)]  # 20 at once, ring holds 16
        assert numbers[16:] == [-1] * 4  # kept by the PLC until there is room
        assert dev.plc.plc.alarms & ConveyorAlarm.EVENT_RING_OVERFLOW
        await wait_until(lambda: len(line.tracker.items) == 20 if line.tracker else False,
                         what="all 20 trays tracked")
        await all_acknowledged(dev)
        await wait_until(lambda: not dev.plc.plc.alarms & ConveyorAlarm.EVENT_RING_OVERFLOW,
                         what="overflow cleared")
        await line.wait_for_state(PackMLState.HELD, timeout=5)  # the PLC held the line
        assert await line.command(PackMLCommand.UNHOLD, "test") is CmdResult.TAKEN
        await line.wait_for_state(PackMLState.EXECUTE, timeout=5)
    assert [e[1] for e in stored_events(sessions)] == list(range(20))
    assert len(item_rows(sessions)) == 20


async def test_resume_after_a_crash_between_commit_and_ack(
        orders: None, sessions: sessionmaker[Session], conv_map: TagMap,
        recipes: dict[str, Recipe]) -> None:
    async with devices() as dev:
        async with controller(dev, sessions, conv_map, recipes) as line:
            await start_line(line, dev)
            await enter(line, dev, 1, "ORDER-001")
            await all_acknowledged(dev)
        # the controller is gone; two more trays enter
        dev.plc.enter(2)
        dev.plc.enter(3)
        assert (dev.plc.register(EV_WRITE), dev.plc.register(EV_READ)) == (3, 1)
        # it had stored them (commit) but died before writing EV_READ:
        async with Journal(sessions, "L1") as journal:
            events = [(PlcEvent(n, EventType.ENTERED, tray, 0), (1, n))
                      for n, tray in ((1, 2), (2, 3))]
            await journal.store_event_batch(1, events, [NewItem(k, e.tray, utcnow())
                                                        for e, k in events])
        async with controller(dev, sessions, conv_map, recipes) as line:
            await wait_until(lambda: dev.plc.register(EV_READ) == 3, what="EV_READ written")
            dev.plc.enter(4)
            await all_acknowledged(dev)
            await wait_until(lambda: open_item(line, 4) is not None, what="tray 4")
    assert [e[1] for e in stored_events(sessions)] == [0, 1, 2, 3]
    rows = item_rows(sessions)
    assert [r.tray for r in rows] == [1, 2, 3, 4]
    # the trays that were on the line across the restart are rejected, not guessed
    assert all(r.verdict == "reject" for r in rows[:3])
    assert {r.reason for r in rows[:3]} == {"TRACKING_ERROR"}


async def test_plc_restart_loses_the_trays_on_the_belt(
        orders: None, sessions: sessionmaker[Session], conv_map: TagMap,
        recipes: dict[str, Recipe]) -> None:
    async with devices() as dev, controller(dev, sessions, conv_map, recipes) as line:
        await start_line(line, dev)
        await enter(line, dev, 1, "ORDER-001")
        await enter(line, dev, 2, None)
        await all_acknowledged(dev)
        dev.plc.restart(0.3)
        await wait_until(lambda: line.alarms.is_active("PLC_RESTARTED"), what="restart seen")
        await wait_until(lambda: line.tracker is not None and not line.tracker.items
                         and line.line_state.core_ready, what="trays lost")
        await line.wait_for_state(PackMLState.STOPPED, timeout=5)
        await start_line(line, dev)
        assert not line.line_state.latch
        await enter(line, dev, 1, "ORDER-001")  # the order may run again, same carrier
        await at_camera(line, dev, 1)
        await to_gate(line, dev, 1)
    rows = item_rows(sessions)
    assert [(r.plc_boot, r.enter_seq, r.outcome, r.verdict, r.reason) for r in rows] == [
        (1, 0, "lost", "reject", "TRACKING_ERROR"),
        (1, 1, "lost", "reject", "NOREAD"),
        (2, 0, "outfeed", "pass", "NONE"),
    ]
    c = cursor(sessions)
    assert (c.plc_boot, c.events_handled) == (2, 5)


async def test_a_dropped_link_holds_the_line_and_costs_the_trays_nothing(
        orders: None, sessions: sessionmaker[Session], conv_map: TagMap,
        recipes: dict[str, Recipe]) -> None:
    async with devices() as dev, controller(dev, sessions, conv_map, recipes) as line:
        await start_line(line, dev)
        await enter(line, dev, 1, "ORDER-001")
        dev.plc.server.drop_connections(0.2)
        await line.wait_for_state(PackMLState.HELD, timeout=5)
        assert "LINK_DOWN" in line.line_state.latch
        # the link is back, CONV still runs (shorter than its heartbeat watch): we hold it
        await wait_until(lambda: dev.plc.plc.state is PackMLState.HELD, what="CONV held")
        await line.wait_for_state(PackMLState.HELD, timeout=5)
        assert set(line.line_state.latch) == {"LINK_DOWN"}
        assert await line.command(PackMLCommand.UNHOLD, "op") is CmdResult.TAKEN
        await line.wait_for_state(PackMLState.EXECUTE, timeout=5)
        await at_camera(line, dev, 1)
        await to_gate(line, dev, 1)
    (row,) = item_rows(sessions)
    assert (row.verdict, row.outcome) == ("pass", "outfeed")
    with sessions() as s:
        actions = [(a.user, a.action) for a in s.scalars(select(OperatorAction)
                                                         .order_by(OperatorAction.id))]
    unhold = actions.index(("op", "command UNHOLD"))
    assert ("controller", "command HOLD") in actions[:unhold]  # held for the lost link
    assert actions[unhold + 1:] == [("controller", "command HOLD")]  # held when stopping


async def test_events_taken_by_someone_else_are_an_alarm_not_a_guess(
        orders: None, sessions: sessionmaker[Session], conv_map: TagMap,
        recipes: dict[str, Recipe]) -> None:
    """Another program acknowledged events the records do not hold: every open item is
    lost, the line held with a critical alarm, and tracking goes on from the PLC's count."""
    from plateline.drivers.modbus import ModbusTagClient

    async with devices() as dev:
        async with controller(dev, sessions, conv_map, recipes) as line:
            await start_line(line, dev)
            await enter(line, dev, 1, "ORDER-001")
            await all_acknowledged(dev)
        for tray in range(2, 6):
            dev.plc.enter(tray)
        async with ModbusTagClient("intruder", "127.0.0.1", dev.plc.port, conv_map) as other:
            await other.write_tags({"EV_READ": 5})
        async with controller(dev, sessions, conv_map, recipes) as line:
            await wait_until(lambda: line.alarms.is_active("EVENT_RING"), what="alarm")
            await wait_until(lambda: line.line_state.core_ready, what="tracking running")
            assert "EVENT_RING" in line.line_state.latch
            dev.plc.enter(6)
            await all_acknowledged(dev)
            await wait_until(lambda: open_item(line, 6) is not None, what="tray 6 tracked")
    rows = item_rows(sessions)
    assert [(r.tray, r.outcome, r.reason) for r in rows][:1] == [(1, "lost", "TRACKING_ERROR")]
    assert [(r.tray, r.enter_seq, r.outcome) for r in rows][1:] == [(6, 5, None)]
    assert [e[1] for e in stored_events(sessions)] == [0, 5]


async def test_a_slot_with_a_wrong_seq_is_not_handled(
        sessions: sessionmaker[Session], conv_map: TagMap, recipes: dict[str, Recipe]) -> None:
    from plateline.contract import EventType as E
    from plateline.simulators.conveyor import EV_BASE

    async with devices() as dev, controller(dev, sessions, conv_map, recipes) as line:
        await start_line(line, dev)
        regs = dev.plc.plc._regs  # a faulty PLC program: EV_WRITE moves, the slot is stale
        regs[EV_BASE:EV_BASE + 4] = [7, int(E.ENTERED), 3, 0]
        regs[EV_WRITE] = 1
        await wait_until(lambda: line.alarms.is_active("EVENT_RING"), what="alarm")
        await wait_until(lambda: dev.plc.plc.state is PackMLState.HELD, what="line held")
        assert dev.plc.register(EV_READ) == 0 and stored_events(sessions) == []
        regs[EV_BASE] = 0  # the slot is right at last
        await all_acknowledged(dev)
        await wait_until(lambda: not line.alarms.is_active("EVENT_RING"), what="alarm gone")
    assert stored_events(sessions) == [(1, 0, int(E.ENTERED), 3)]
