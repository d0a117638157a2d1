"""PACK: seal results matched to trays by tray id and order of passage; SEAL_FAIL for a
bad seal, a lost result, or none by AT_SCALE; a held packer holds the line."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from plateline.contract import EventType, PackMLState, Reason
from plateline.controller.alarms import Alarms
from plateline.controller.stations.pack import PackStation
from plateline.drivers.packer_results import MissingPack, PackerRestarted, PackResult
from plateline.errors import DeviceConnectionError

from .harness import wait_until
from .station_rigs import EventQueue, item, window


class PackerState:
    """The packer's STATE tag as the test sets it (``None``: link down)."""

    name = "PACK"

    def __init__(self) -> None:
        self.state: PackMLState | None = PackMLState.EXECUTE

    async def read(self, *tags: str, timeout: float | None = None) -> dict[str, Any]:
        assert tags == ("STATE",)
        if self.state is None:
            raise DeviceConnectionError("link down", device=self.name)
        return {"STATE": int(self.state)}

    async def write(self, tag: str, value: Any, *, timeout: float | None = None) -> None:
        raise AssertionError("PACK station writes nothing")


@contextlib.asynccontextmanager
async def pack_station() -> AsyncIterator[tuple[PackStation, EventQueue, PackerState,
                                                dict[str, str], Alarms]]:
    results, packer, holds, alarms = EventQueue(), PackerState(), {}, Alarms()
    station = PackStation(packer, results, state_poll_s=0.01)
    station.attach(lambda cause, text: holds.__setitem__(cause, text), alarms)
    task = asyncio.create_task(station.run())
    try:
        yield station, results, packer, holds, alarms
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def settle(results: EventQueue) -> None:
    await wait_until(lambda: results.queue.empty(), what="results consumed")
    await asyncio.sleep(0)


async def test_results_matched_by_tray_in_order_of_passage() -> None:
    async with pack_station() as (station, results, *_):
        a, b, c = item(3, number=1), item(4, number=2), item(5, number=3)
        for it in (a, b, c):
            station.tray_at(it, EventType.AT_CAMERA)
        results.put(PackResult(11, 3, True, 1753), PackResult(12, 4, False, 1401),
                    PackResult(13, 5, True, 1750))
        await settle(results)
        ra, rb, rc = [await station.start(it, window(0.5)) for it in (a, b, c)]
    assert ra.ok and ra.data == {"seal_ok": True, "seal_temp_c": 175.3, "sequence": 11,
                                 "backfilled": False}
    assert rb.reason is Reason.SEAL_FAIL and rb.data["seal_ok"] is False
    assert rc.ok and rc.data["sequence"] == 13


async def test_no_result_by_at_scale_is_seal_fail() -> None:
    async with pack_station() as (station, results, *_):
        it = item(3)
        station.tray_at(it, EventType.AT_CAMERA)
        result = await station.start(it, window(0.5))
        assert result.reason is Reason.SEAL_FAIL
        assert "before AT_SCALE" in result.data["problem"]
        # a result coming after the tray left the scale is not taken by anyone
        results.put(PackResult(1, 3, True, 1750))
        await settle(results)
        assert station.unmatched == 1


async def test_missing_pack_and_skipped_tray_are_seal_fail() -> None:
    async with pack_station() as (station, results, *_):
        a, b, c = item(3, number=1), item(4, number=2), item(5, number=3)
        for it in (a, b, c):
            station.tray_at(it, EventType.AT_CAMERA)
        # a's result is lost; the packer reports c before b: b's will not come
        results.put(MissingPack(21), PackResult(23, 5, True, 1750))
        await settle(results)
        ra, rb, rc = [await station.start(it, window(0.5)) for it in (a, b, c)]
    assert ra.reason is Reason.SEAL_FAIL and "SEQUENCE 21 lost" in ra.data["problem"]
    assert rb.reason is Reason.SEAL_FAIL and "before this tray" in rb.data["problem"]
    assert rc.ok


async def test_result_of_a_previous_trip_is_not_taken() -> None:
    async with pack_station() as (station, results, *_):
        old = item(3, number=1)
        station.tray_at(old, EventType.AT_CAMERA)
        results.put(PackResult(1, 3, True, 1750))
        await settle(results)
        # the old trip was lost between packer and scale; tray 3 comes round again
        new = item(3, number=9)
        station.tray_at(new, EventType.ENTERED)
        station.tray_at(new, EventType.AT_CAMERA)
        result = await station.start(new, window(0.5))
    assert result.reason is Reason.SEAL_FAIL


async def test_packer_restart_loses_results_of_trays_inside() -> None:
    from datetime import UTC, datetime

    async with pack_station() as (station, results, _, _, alarms):
        a, b = item(3, number=1), item(4, number=2)
        station.tray_at(a, EventType.AT_CAMERA)
        station.tray_at(b, EventType.AT_CAMERA)
        now = datetime.now(UTC)
        results.put(PackerRestarted(10, now, now), PackResult(1, 4, True, 1750))
        await settle(results)
        ra, rb = await station.start(a, window(0.5)), await station.start(b, window(0.5))
    assert ra.reason is Reason.SEAL_FAIL and rb.ok
    assert alarms.is_active("PACK_RESULTS")


async def test_held_or_aborted_packer_holds_the_line() -> None:
    async with pack_station() as (station, _, packer, holds, alarms):
        await wait_until(lambda: station.packer_state is PackMLState.EXECUTE)
        assert not holds and await station.start_problem() is None
        for state in (PackMLState.HELD, PackMLState.ABORTED):
            holds.clear()
            packer.state = state
            await wait_until(lambda: "PACK_HELD" in holds, what=f"hold on {state.name}")
            assert state.name in holds["PACK_HELD"] and alarms.is_active("PACK_STATE")
            assert state.name in (await station.start_problem() or "")
        packer.state = PackMLState.EXECUTE
        await wait_until(lambda: not alarms.is_active("PACK_STATE"))
        packer.state = None
        await wait_until(lambda: alarms.is_active("PACK_LINK"))
        assert "state unknown" in (await station.start_problem() or "")
