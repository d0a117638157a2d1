"""The reader's worker processes run below the controller's priority."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import pytest

from plateline.vision.service import PARENT_CHECK_S, PlateVerifier


async def test_workers_run_niced() -> None:
    async with PlateVerifier(nice=3) as verifier:
        pool = verifier._pool
        assert pool is not None
        nice = await asyncio.get_running_loop().run_in_executor(pool, os.nice, 0)
    assert nice == min(19, os.nice(0) + 3)


def test_nice_outside_the_range_is_refused() -> None:
    with pytest.raises(ValueError, match="nice"):
        PlateVerifier(nice=20)


_HOLDS_A_POOL = """
import asyncio
from plateline.vision.service import PlateVerifier

async def main():
    async with PlateVerifier(workers=2) as verifier:
        print(" ".join(str(pid) for pid in verifier._pool._processes), flush=True)
        await asyncio.sleep(120)

asyncio.run(main())
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
def test_workers_exit_when_the_controller_is_killed_outright() -> None:
    """A controller killed with SIGKILL cannot shut its pool down; its idle workers
    must not wait for work forever (each held ~140 MB)."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLDS_A_POOL], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    deadline = time.monotonic() + 10 * PARENT_CHECK_S + 5.0
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids)
