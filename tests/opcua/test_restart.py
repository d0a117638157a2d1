"""A packer restart in the middle of a run: detected, reported, session rebuilt."""

from __future__ import annotations

import asyncio

import pytest

from plateline.contract import PackMLState as S
from plateline.drivers.opcua import OpcUaClient
from plateline.drivers.opcua_nodes import NodeMap
from plateline.drivers.packer_results import PackerRestarted, PackResult, PackResultTracker
from plateline.drivers.supervisor import LinkState, LinkSupervisor, entered
from plateline.errors import DeviceConnectionError
from plateline.simulators.packer_machine import PackerNotExecuting

from .helpers import Pki, make_sim, secure, take, to_execute


@pytest.mark.parametrize("prepared", [False, True], ids=["built-at-restart", "prepared"])
async def test_restart_mid_run_is_reported_and_no_result_lost_silently(
        pki: Pki, node_map: NodeMap, prepared: bool) -> None:
    async with make_sim(pki) as sim:
        if prepared:  # the plant builds its restarts' servers before the belt runs
            await sim.prepare_restarts(1)

            async def not_now() -> None:
                raise AssertionError("a prepared restart builds no server")

            sim._make_server = not_now  # type: ignore[method-assign]
        tracker = PackResultTracker()
        factory = entered(lambda: OpcUaClient("PACK", sim.url, node_map,
                                              security=secure(pki, sim), results=tracker))
        states: list[LinkState] = []
        async with LinkSupervisor("PACK", factory, backoff_min=0.05, backoff_max=0.3) as link:
            link.add_observer(lambda state, err: states.append(state))
            before = await link.wait_up(5)
            old_start = before.start_time
            await to_execute(before, sim)
            for tray in (1, 2, 3):
                sim.pack(tray, True, 1800)
            assert [e.sequence for e in await take(tracker, 3)] == [1, 2, 3]  # type: ignore[union-attr]

            sim.pack(4, True, 1800)
            sim.pack(5, False, 2300)
            restart = sim.restart(0.2)  # right behind the packs: they may die with it
            with pytest.raises(PackerNotExecuting):
                await asyncio.sleep(0)
                sim.pack(6, True, 1800)  # the machine is off: no pack, no result
            await restart
            assert sim.state is S.STOPPED and sim.restarts == 1
            assert not sim._spares
            events = await take(tracker, 1, timeout=10)
            while not isinstance(events[-1], PackerRestarted):
                events += await take(tracker, 1)
            restarted = events[-1]
            seen = [3] + [e.sequence for e in events if isinstance(e, PackResult)]
            # every result of the old run is either reported or known to be gone after it
            assert restarted.last_sequence == seen[-1] and seen == list(range(3, seen[-1] + 1))
            assert restarted.previous_start == old_start

            after = await link.wait_up(5)
            assert after is not before and after.start_time != old_start
            assert isinstance(await before.wait_lost(), DeviceConnectionError)
            assert states.count(LinkState.UP) == 2 and LinkState.DOWN in states
            assert (await after.read("LAST_PACK"))["LAST_PACK"] == [0, 0, 0, 0]
            await to_execute(after, sim)
            sim.pack(7, True, 1810)
            assert await take(tracker, 1) == [PackResult(1, 7, True, 1810)]
