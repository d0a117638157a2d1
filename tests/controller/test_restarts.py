"""Cancel the controller at random points while trays flow, restart it on the same
database: every PLC event is stored exactly once and every item gets one verdict."""

from __future__ import annotations

import asyncio
import contextlib
import random

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from plateline.contract import SEQ_MODULO, EventType, PackMLCommand, PackMLState
from plateline.drivers.tagmap import TagMap
from plateline.recipes import Recipe
from plateline.records.models import Item, LineCursor
from plateline.records.models import PlcEvent as PlcEventRow
from plateline.simulators.conveyor import VD_WRITE

from .harness import Devices, add_order, all_acknowledged, controller, devices, wait_until

STEPS = 50
ROUTE = (EventType.ENTERED, EventType.AT_CAMERA, EventType.AT_SCALE, EventType.AT_LABELER,
         EventType.DIVERTED)


async def plant(dev: Devices, emitted: list[object]) -> None:
    """A belt in steps: a tray enters each step and every tray moves one station on."""
    on_line: list[tuple[int, int]] = []  # (tray, next stage)
    for step in range(STEPS):
        if dev.plc.plc.state is not PackMLState.EXECUTE:
            await asyncio.sleep(0.02)
            continue
        moved = []
        for tray, stage in on_line:
            kind = ROUTE[stage]
            if kind is EventType.AT_CAMERA:
                dev.cam.tray = tray
                emitted.append(dev.plc.plc.tray_at(kind, tray))
            elif kind is EventType.DIVERTED:
                emitted.append(dev.plc.plc.tray_at_gate(tray)[2])
                continue
            else:
                emitted.append(dev.plc.plc.tray_at(kind, tray))
            moved.append((tray, stage + 1))
        tray = step % 12 + 1
        dev.scan.codes[tray] = f"ORDER-{step:03d}"
        dev.scan.tray = tray
        emitted.append(dev.plc.plc.tray_entered(tray))
        on_line = moved + [(tray, 1)]
        await asyncio.sleep(0.03)
    for tray, stage in on_line:  # run the rest out
        for kind in ROUTE[stage:-1]:
            emitted.append(dev.plc.plc.tray_at(kind, tray))
        emitted.append(dev.plc.plc.tray_at_gate(tray)[2])


async def operate(line: object) -> None:
    """What an operator does after each restart: Unhold once the controller has held."""
    from plateline.controller.line import LineController
    assert isinstance(line, LineController)
    while True:
        await line.wait_for_state(PackMLState.HELD)
        if line.line_state.core_ready:
            with contextlib.suppress(Exception):
                await line.command(PackMLCommand.UNHOLD, "op")
        await asyncio.sleep(0.05)


async def test_random_restarts(sessions: sessionmaker[Session], conv_map: TagMap,
                               recipes: dict[str, Recipe]) -> None:
    rng = random.Random(20261101)
    add_order(sessions, *(f"ORDER-{n:03d}" for n in range(STEPS)))
    emitted: list[object] = []
    async with devices() as dev:
        dev.plc.run_to(PackMLState.EXECUTE)
        belt = asyncio.create_task(plant(dev, emitted))
        restarts = 0
        while not belt.done():
            async def run() -> None:
                async with controller(dev, sessions, conv_map, recipes) as line:
                    await operate(line)

            task = asyncio.create_task(run())
            await asyncio.wait([task, belt], timeout=rng.uniform(0.02, 0.5),
                               return_when=asyncio.FIRST_COMPLETED)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            restarts += 1
            if dev.plc.plc.state is not PackMLState.EXECUTE:
                dev.plc.run_to(PackMLState.EXECUTE)  # keep the belt moving meanwhile
        await belt
        assert restarts >= 4
        # a last run drains the rings
        async with controller(dev, sessions, conv_map, recipes) as line:
            await all_acknowledged(dev)
            await wait_until(lambda: line.tracker is not None and not line.tracker.items,
                             what="every item closed")
            await wait_until(lambda: dev.plc.register(VD_WRITE) == dev.plc.register(201),
                             what="verdicts taken")
        vd_write = dev.plc.register(VD_WRITE)

    truth = [(ev.number, int(ev.type), ev.tray) for ev in emitted]  # type: ignore[attr-defined]
    assert all(n is not None for n, _, _ in truth)
    with sessions() as s:
        stored = [(r.seq, r.type, r.tray) for r in s.scalars(
            select(PlcEventRow).order_by(PlcEventRow.seq))]
        items = list(s.scalars(select(Item).order_by(Item.enter_seq)))
        cursor = s.get(LineCursor, "L1")
        assert cursor is not None
        # every event exactly once, in its place, nothing lost
        assert stored == sorted(truth)
        assert cursor.events_handled == len(truth)
        # one item per ENTERED, each closed with exactly one verdict
        assert len(items) == sum(1 for _, t, _ in truth if t == EventType.ENTERED)
        assert all(it.closed_at is not None and it.verdict in ("pass", "reject")
                   for it in items)
        # verdict numbers: unique, contiguous, all in the PLC
        numbers = sorted(it.verdict_seq for it in items if it.verdict_seq is not None)
        assert numbers == list(range(len(numbers)))
        assert cursor.verdicts_planned == len(numbers)
        assert vd_write == cursor.verdicts_planned % SEQ_MODULO
        assert all(it.verdict_written for it in items if it.verdict_seq is not None)
        # the one rule that matters: nothing reached the outfeed without a PASS
        assert all(it.verdict == "pass" for it in items if it.outcome == "outfeed")
        assert any(it.verdict == "pass" for it in items)
