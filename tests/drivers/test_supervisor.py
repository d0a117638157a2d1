from __future__ import annotations

import asyncio
import itertools
import logging

import pytest

from plateline.drivers.modbus import ModbusTagClient
from plateline.drivers.supervisor import LinkState, LinkSupervisor, entered
from plateline.drivers.tagmap import TagMap
from plateline.errors import (
    DeviceClosedError,
    DeviceConnectionError,
    DeviceTimeoutError,
)

from .modbus_server import ModbusTestServer


class Plain:
    """A client without wait_lost(): only report_broken() takes it down."""

    opened = 0

    def __init__(self) -> None:
        Plain.opened += 1
        self.number = Plain.opened
        self.closed = 0

    async def aclose(self) -> None:
        self.closed += 1


async def test_server_restart_down_then_up(plc: ModbusTestServer, conv_map: TagMap) -> None:
    seen: list[LinkState] = []
    factory = entered(lambda: ModbusTagClient("CONV", "127.0.0.1", plc.port, conv_map))
    async with LinkSupervisor("CONV", factory, backoff_min=0.02, backoff_max=0.1) as link:
        link.add_observer(lambda state, err: seen.append(state))
        conv = await link.wait_up(5)
        plc.registers[1] = 6
        assert await link.use(lambda c: c.read_tags("STATE")) == {"STATE": 6}

        await plc.stop()
        async with asyncio.timeout(5):
            await link.wait_state(LinkState.DOWN, LinkState.CONNECTING)
        assert isinstance(link.last_error, DeviceConnectionError)
        with pytest.raises(DeviceConnectionError):
            await link.use(lambda c: c.read_tags("STATE"))

        await plc.start()  # same port again
        again = await link.wait_up(5)
        assert again is not conv and not conv.connected
        assert await link.use(lambda c: c.read_tags("STATE")) == {"STATE": 6}
    assert link.state is LinkState.CLOSED
    assert not again.connected
    assert seen[:2] == [LinkState.CONNECTING, LinkState.UP] and seen[-1] is LinkState.CLOSED
    down = seen.index(LinkState.DOWN)
    assert seen[down + 1] is LinkState.CONNECTING and seen[-2] is LinkState.UP
    assert plc.connections == 2


async def test_repeating_failure_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    attempts = 0

    async def refuse() -> Plain:
        nonlocal attempts
        attempts += 1
        raise DeviceConnectionError("refused", device="S1")

    caplog.set_level(logging.INFO, logger="plateline.drivers.supervisor")
    async with LinkSupervisor("S1", refuse, backoff_min=0.001, backoff_max=0.002) as link:
        while attempts < 20:
            await asyncio.sleep(0.01)
        assert link.state in (LinkState.DOWN, LinkState.CONNECTING)
        assert link.failures >= 20
        with pytest.raises(DeviceConnectionError, match="refused"):
            link.client()
        with pytest.raises(DeviceTimeoutError):
            await link.wait_up(0.05)
        messages = [r.getMessage() for r in caplog.records]
        assert messages.count("S1: cannot connect: DeviceConnectionError: S1: refused") == 1
        assert not any("still failing" in m for m in messages)
        link.log_every = 0.0
        start = attempts
        while attempts < start + 2:
            await asyncio.sleep(0.01)
    assert any("still failing after" in r.getMessage() for r in caplog.records)


async def test_backoff_grows_to_the_maximum() -> None:
    times: list[float] = []
    loop = asyncio.get_running_loop()

    async def refuse() -> Plain:
        times.append(loop.time())
        raise OSError("unreachable")

    async with LinkSupervisor("X", refuse, backoff_min=0.01, backoff_max=0.04):
        while len(times) < 6:
            await asyncio.sleep(0.01)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[0] < gaps[2]  # grows
    assert all(g >= 0.009 for g in gaps)
    assert all(g >= 0.039 for g in gaps[3:])  # capped at the maximum, never below it


async def test_report_broken_reconnects_and_stale_reports_are_ignored() -> None:
    async def make() -> Plain:
        return Plain()

    async with LinkSupervisor("P", make, backoff_min=0.01, backoff_max=0.02) as link:
        first = await link.wait_up(1)
        link.report_broken(RuntimeError("saw a reset"), first)
        async with asyncio.timeout(2):
            while link.state is not LinkState.UP or link.client() is first:
                await link.wait_state(LinkState.UP) if link.state is not LinkState.UP \
                    else await asyncio.sleep(0.005)
        second = link.client()
        assert first.closed == 1 and second is not first
        link.report_broken(RuntimeError("late"), first)  # about the old client: ignored
        await asyncio.sleep(0.05)
        assert link.client() is second
    assert second.closed == 1


async def test_close_while_connecting_is_clean() -> None:
    started = asyncio.Event()
    cancelled = False

    async def hang() -> Plain:
        nonlocal cancelled
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled = True
            raise
        raise AssertionError("unreachable")

    link = LinkSupervisor("H", hang)
    async with link:
        await started.wait()
        assert link.state is LinkState.CONNECTING
    assert cancelled and link.state is LinkState.CLOSED
    await link.aclose()  # idempotent
    with pytest.raises(DeviceClosedError):
        link.client()
    with pytest.raises(DeviceClosedError):
        await link.wait_up(0.1)


async def test_outer_cancellation_propagates() -> None:
    async def make() -> Plain:
        return Plain()

    link = LinkSupervisor("C", make)

    async def body() -> None:
        async with link:
            await link.wait_up(1)
            await asyncio.Event().wait()

    task = asyncio.create_task(body())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert link.state is LinkState.CLOSED


async def test_bug_in_factory_closes_the_link(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> Plain:
        raise TypeError("bad argument")

    async with LinkSupervisor("B", broken) as link:
        with pytest.raises(DeviceClosedError, match="bad argument"):
            await link.wait_up(1)
    assert isinstance(link.last_error, TypeError)
    assert "unexpected error" in caplog.text
