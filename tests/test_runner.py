"""Runner tasks around the controller."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from plateline.runner import keep_frames_pruned


async def test_frames_past_their_retention_are_deleted(tmp_path: Path) -> None:
    old, new, other = tmp_path / "L1-00000001.jpg", tmp_path / "L1-00000002.jpg", tmp_path / "x.db"
    for f in (old, new, other):
        f.write_bytes(b"\xff\xd8")
    ten_days_ago = time.time() - 10 * 86400
    os.utime(old, (ten_days_ago, ten_days_ago))
    os.utime(other, (ten_days_ago, ten_days_ago))
    task = asyncio.create_task(keep_frames_pruned(tmp_path, 7, every_s=0.01))
    try:
        for _ in range(200):
            if not old.exists():
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert not old.exists()
    assert new.exists() and other.exists()
