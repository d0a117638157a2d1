"""The loop watch says how late the loop ran and where a blocking call held it."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from plateline.loop_watch import LoopWatch


def _blocking_work() -> None:
    time.sleep(0.3)


async def test_a_blocked_loop_is_caught_with_its_stack(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "plateline.loop_watch")
    async with LoopWatch(0.1) as watch:
        await asyncio.sleep(0.05)
        _blocking_work()
        await asyncio.sleep(0.05)
    assert watch.lag.stalls == 1
    assert 0.25 <= watch.lag.max_lag_s < 2.0
    assert watch.lag.last_stack is not None and "_blocking_work" in watch.lag.last_stack
    assert any("_blocking_work" in r.getMessage() for r in caplog.records)


async def test_a_loop_that_only_awaits_is_not_reported() -> None:
    async with LoopWatch(0.5) as watch:
        for _ in range(20):
            await asyncio.sleep(0.005)
    assert watch.lag.stalls == 0 and watch.lag.last_stack is None
    assert watch.lag.recent, "the watch ticked"


def test_bad_thresholds_are_refused() -> None:
    with pytest.raises(ValueError):
        LoopWatch(0)
