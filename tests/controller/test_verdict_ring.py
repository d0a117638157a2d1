"""The verdict ring: never more than 8 outstanding, stall alarm, a bad slot written
again, reconciliation after a restart; and a database fault that holds the line."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from plateline.contract import (
    CmdResult,
    ConveyorAlarm,
    EventType,
    PackMLCommand,
    PackMLState,
    Reason,
    VerdictCode,
)
from plateline.controller.journal import DecideVerdict, Journal, NewItem
from plateline.controller.model import PlcEvent, Verdict
from plateline.drivers.tagmap import TagMap
from plateline.recipes import Recipe
from plateline.records.models import utcnow
from plateline.simulators.conveyor import VD_BASE, VD_READ, VD_WRITE

from .harness import (
    add_order,
    all_acknowledged,
    at_camera,
    controller,
    devices,
    enter,
    fast_settings,
    item_rows,
    started_line,
    to_gate,
    wait_until,
)


async def test_at_most_eight_outstanding_and_a_stall_alarm(
        sessions: sessionmaker[Session], conv_map: TagMap, recipes: dict[str, Recipe]) -> None:
    settings = fast_settings(verdict_stall_alarm_s=0.2)
    async with devices() as dev, started_line(dev, sessions, conv_map, recipes, settings) as line:
        dev.plc.plc.verdicts_stalled = True  # the PLC stops taking verdicts
        for tray in range(1, 11):
            await enter(line, dev, tray, None)  # NOREAD: rejected at once
        await wait_until(lambda: dev.plc.register(VD_WRITE) == 8, what="8 verdicts written")
        await wait_until(lambda: line.alarms.is_active("VERDICT_STALL"), what="stall alarm")
        assert dev.plc.register(VD_WRITE) == 8 and dev.plc.register(VD_READ) == 0
        dev.plc.plc.verdicts_stalled = False
        await wait_until(lambda: dev.plc.register(VD_READ) == 10, what="all 10 taken")
        await wait_until(lambda: not line.alarms.is_active("VERDICT_STALL"), what="alarm gone")


async def test_a_bad_slot_is_written_again(sessions: sessionmaker[Session], conv_map: TagMap,
                                           recipes: dict[str, Recipe]) -> None:
    settings = fast_settings(verdict_stall_alarm_s=0.2)
    async with devices() as dev, started_line(dev, sessions, conv_map, recipes, settings) as line:
        dev.plc.plc.verdicts_stalled = True
        await enter(line, dev, 1, None)
        await wait_until(lambda: dev.plc.register(VD_WRITE) == 1, what="verdict written")
        dev.plc.plc.write_registers(VD_BASE, [77, 1, 2, 1])  # the slot gets spoilt
        dev.plc.plc.verdicts_stalled = False
        await wait_until(lambda: bool(dev.plc.plc.alarms & ConveyorAlarm.VERDICT_RING_ERROR),
                         what="the PLC refusing the slot")
        await wait_until(lambda: dev.plc.register(VD_READ) == 1, what="slot taken after rewrite")
        assert [dev.plc.register(VD_BASE + i) for i in range(4)] == [
            0, 1, int(VerdictCode.REJECT), int(Reason.NOREAD)]


async def test_a_planned_verdict_is_written_after_a_restart(
        sessions: sessionmaker[Session], conv_map: TagMap, recipes: dict[str, Recipe]) -> None:
    add_order(sessions, "ORDER-001")
    async with devices() as dev:
        async with started_line(dev, sessions, conv_map, recipes) as line:
            await enter(line, dev, 1, None)
            await wait_until(lambda: dev.plc.register(VD_READ) == 1, what="verdict 0 taken")
            await all_acknowledged(dev)
        # away: tray 2 enters; it had been stored, rejected and planned as verdict 1,
        # and the controller died before writing it
        dev.plc.enter(2)
        async with Journal(sessions, "L1") as journal:
            key = (1, 1)
            await journal.store_event_batch(1, [(PlcEvent(1, EventType.ENTERED, 2, 0), key)],
                                            [NewItem(key, 2, utcnow())])
            await journal.apply([DecideVerdict(key, Verdict.reject(Reason.NOREAD), utcnow())])
            planned = await journal.plan_verdict(1, key)
            assert planned.number == 1
        assert dev.plc.register(VD_WRITE) == 1
        async with controller(dev, sessions, conv_map, recipes) as line:
            await wait_until(lambda: dev.plc.register(VD_WRITE) == 2, what="verdict 1 written")
            await wait_until(lambda: dev.plc.register(VD_READ) == 2, what="verdict 1 taken")
            assert [dev.plc.register(VD_BASE + 4 + i) for i in range(4)] == [
                1, 2, int(VerdictCode.REJECT), int(Reason.NOREAD)]
            await all_acknowledged(dev)
    rows = item_rows(sessions)
    assert [(r.tray, r.verdict_seq, r.verdict_written) for r in rows] == [(1, 0, True),
                                                                         (2, 1, True)]


class FlakySessions:
    """A sessionmaker whose database can be made to fail (a database hiccup)."""

    def __init__(self, real: sessionmaker[Session]) -> None:
        self.real = real
        self.broken = False

    def __call__(self, **kw: Any) -> Session:
        if self.broken:
            raise OperationalError("INSERT", {}, Exception("disk I/O error"))
        return self.real(**kw)


async def test_a_database_fault_holds_the_line_and_loses_nothing(
        sessions: sessionmaker[Session], conv_map: TagMap, recipes: dict[str, Recipe]) -> None:
    add_order(sessions, "ORDER-001")
    add_order(sessions, "ORDER-002")
    flaky = FlakySessions(sessions)
    async with devices() as dev, \
            started_line(dev, flaky, conv_map, recipes) as line:  # type: ignore[arg-type]
        await enter(line, dev, 1, "ORDER-001")
        flaky.broken = True
        dev.scan.tray = 2
        dev.scan.codes[2] = "ORDER-002"
        dev.plc.enter(2)
        await wait_until(lambda: line.alarms.is_active("DATABASE_ERROR"), what="fault seen")
        await line.wait_for_state(PackMLState.HELD, timeout=5)  # the controller held CONV
        assert dev.plc.register(101) == 1  # tray 2's ENTERED not acknowledged
        flaky.broken = False
        await wait_until(lambda: line.line_state.core_ready, what="tracking rebuilt")
        await all_acknowledged(dev)
        assert await line.command(PackMLCommand.UNHOLD, "op") is CmdResult.TAKEN
        await line.wait_for_state(PackMLState.EXECUTE, timeout=5)
        await at_camera(line, dev, 2)
        await to_gate(line, dev, 2)
        dev.plc.at(EventType.AT_CAMERA, 1)
        await to_gate(line, dev, 1)
    rows = item_rows(sessions)
    assert [(r.tray, r.verdict, r.reason) for r in rows] == [
        (1, "reject", "TRACKING_ERROR"),  # in the middle of its trip when tracking stopped
        (2, "reject", "NOREAD"),  # its window passed while the database was down
    ]
