"""The reader's worker processes run below the controller's priority."""

from __future__ import annotations

import asyncio
import os

import pytest

from plateline.vision.service import PlateVerifier


async def test_workers_run_niced() -> None:
    async with PlateVerifier(nice=3) as verifier:
        pool = verifier._pool
        assert pool is not None
        nice = await asyncio.get_running_loop().run_in_executor(pool, os.nice, 0)
    assert nice == min(19, os.nice(0) + 3)


def test_nice_outside_the_range_is_refused() -> None:
    with pytest.raises(ValueError, match="nice"):
        PlateVerifier(nice=20)
