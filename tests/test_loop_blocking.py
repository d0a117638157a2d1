"""The loop-blocking check tells a blocked loop from a stalled machine."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Callable

from tests.loop_blocking import watch_for_blocking


async def _in_callback(work: Callable[[], object]) -> None:
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def run() -> None:
        work()
        done.set_result(None)

    loop.call_soon(run)
    await done


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


async def test_a_blocking_call_is_reported() -> None:
    with watch_for_blocking(0.25) as watch:
        await _in_callback(lambda: time.sleep(0.4))
    assert len(watch.blocked) == 1 and "took" in watch.blocked[0]
    assert watch.stalled == []


async def test_pure_python_work_is_reported() -> None:
    with watch_for_blocking(0.25) as watch:
        await _in_callback(lambda: _spin(0.4))
    assert len(watch.blocked) == 1


async def test_short_callbacks_pass() -> None:
    with watch_for_blocking(0.25) as watch:
        await _in_callback(lambda: _spin(0.05))
        await asyncio.sleep(0.3)
    assert watch.blocked == [] and watch.stalled == []


async def test_a_stopped_process_is_not_a_blocked_loop() -> None:
    """SIGSTOP for 0.6 s inside a callback that works until it is continued: asyncio sees a
    slow callback, the witness thread saw the stall, and it is not reported as blocking."""
    pid = os.getpid()
    stoppers: list[subprocess.Popen[bytes]] = []

    def stopped_while_spinning() -> None:
        stopper = subprocess.Popen(
            ["sh", "-c", f"kill -STOP {pid}; sleep 0.6; kill -CONT {pid}"])
        stoppers.append(stopper)
        give_up = time.monotonic() + 5
        while stopper.poll() is None and time.monotonic() < give_up:
            pass

    try:
        with watch_for_blocking(0.25) as watch:
            await _in_callback(stopped_while_spinning)
    finally:
        for stopper in stoppers:
            stopper.wait(timeout=5)
    assert len(watch.stalled) == 1
    assert watch.blocked == []
