"""Seal results over the subscription: order, gaps back-filled from Recent, dropped sessions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import pytest_asyncio

from plateline.drivers.opcua import OpcUaClient
from plateline.drivers.opcua_nodes import NodeMap
from plateline.drivers.packer_results import MissingPack, PackResult, PackResultTracker
from plateline.drivers.supervisor import LinkState, LinkSupervisor, entered
from plateline.simulators.packer import PackerSim
from plateline.simulators.packer_machine import PackRecord

from .helpers import Pki, client, secure, take, to_execute

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def line(packer: PackerSim, pki: Pki, node_map: NodeMap) -> AsyncIterator[OpcUaClient]:
    async with client(packer, node_map, secure(pki, packer)) as c:
        yield c


@asynccontextmanager
async def tracked(sim: PackerSim, pki: Pki, node_map: NodeMap, **kw: Any) -> AsyncIterator[
        tuple[PackResultTracker, LinkSupervisor[OpcUaClient], list[LinkState]]]:
    tracker = PackResultTracker()
    factory = entered(lambda: OpcUaClient("PACK", sim.url, node_map, security=secure(pki, sim),
                                          results=tracker, **kw))
    states: list[LinkState] = []
    async with LinkSupervisor("PACK", factory, backoff_min=0.05, backoff_max=0.5) as link:
        link.add_observer(lambda state, err: states.append(state))
        await link.wait_up(5)
        yield tracker, link, states


def expected(records: list[PackRecord]) -> list[PackResult]:
    return [PackResult(r.sequence, r.tray, r.seal_ok, r.seal_temp_deci_c) for r in records]


def burst(sim: PackerSim, n: int, tray: Callable[[int], int] = lambda i: i) -> list[PackRecord]:
    return [sim.pack(tray(i), i % 7 != 3, 1750 + i) for i in range(1, n + 1)]


async def test_every_result_arrives_in_order(packer: PackerSim, pki: Pki, node_map: NodeMap,
                                             line: OpcUaClient) -> None:
    await to_execute(line, packer)
    async with tracked(packer, pki, node_map) as (tracker, _, _):
        made = []
        for i in range(1, 21):
            made.append(packer.pack(100 + i, i % 5 != 0, 1800 + i))
            await asyncio.sleep(0.005)
        events = await take(tracker, 20)
    assert events == expected(made)
    assert not any(e.backfilled for e in events if isinstance(e, PackResult))
    assert [e.seal_ok for e in events if isinstance(e, PackResult)].count(False) == 4


async def test_queue_overflow_gap_is_backfilled_from_recent(
        packer: PackerSim, pki: Pki, node_map: NodeMap, line: OpcUaClient) -> None:
    await to_execute(line, packer)
    async with tracked(packer, pki, node_map, queue_size=2, publish_interval=0.2) as (tracker, _, _):
        made = burst(packer, 12)  # one publishing interval, a queue of 2: 1..10 overflow
        events = await take(tracker, 12)
        assert events == expected(made)
        filled = [e.sequence for e in events if isinstance(e, PackResult) and e.backfilled]
        assert filled == list(range(1, 11))
        assert tracker.pending() == 0


async def test_results_beyond_recent_are_reported_missing(
        packer: PackerSim, pki: Pki, node_map: NodeMap, line: OpcUaClient) -> None:
    await to_execute(line, packer)
    async with tracked(packer, pki, node_map, queue_size=2, publish_interval=0.2) as (tracker, _, _):
        made = burst(packer, 40)  # Recent keeps 9..40; the subscription only 39 and 40
        events = await take(tracker, 40)
    assert events[:8] == [MissingPack(s) for s in range(1, 9)]
    assert events[8:] == expected(made)[8:]


async def test_dropped_session_is_rebuilt_and_backfilled(
        packer: PackerSim, pki: Pki, node_map: NodeMap, line: OpcUaClient) -> None:
    await to_execute(line, packer)
    async with tracked(packer, pki, node_map) as (tracker, link, states):
        first = link.client()
        made = burst(packer, 3)
        assert await take(tracker, 3) == expected(made)
        await packer.drop_sessions()
        made += [packer.pack(50 + i, True, 1790) for i in range(4)]  # nobody is listening
        async with asyncio.timeout(5):
            while link.state is not LinkState.UP or link.client() is first:
                await asyncio.sleep(0.01)
        later = await take(tracker, 4)
        assert later == expected(made)[3:]
        assert all(e.backfilled for e in later if isinstance(e, PackResult))
        assert LinkState.DOWN in states
        made.append(packer.pack(99, False, 2400))
        assert await take(tracker, 1) == expected(made)[-1:]
    assert isinstance(await first.wait_lost(), Exception)
