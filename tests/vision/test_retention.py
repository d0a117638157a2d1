"""prune_frames: frames older than the retention go, everything else stays."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from plateline.vision.retention import prune_frames

DAY = 86400.0


def _file(path: Path, age_days: float, now: float) -> Path:
    path.write_bytes(b"\xff\xd8\xff")
    os.utime(path, (now - age_days * DAY, now - age_days * DAY))
    return path


def test_old_frames_go_new_frames_and_other_files_stay(tmp_path: Path) -> None:
    now = time.time()
    old = [_file(tmp_path / f"item{i}.jpg", 40 + i, now) for i in range(3)]
    part = _file(tmp_path / "item9.jpg.part", 31, now)
    young = _file(tmp_path / "item7.jpg", 29, now)
    db = _file(tmp_path / "plateline.db", 400, now)
    sub = tmp_path / "keep"
    sub.mkdir()
    nested = _file(sub / "deep.jpg", 400, now)
    assert prune_frames(tmp_path, 30, now=now) == 4
    assert not any(p.exists() for p in [*old, part])
    assert young.exists() and db.exists() and nested.exists()
    assert prune_frames(tmp_path, 30, now=now) == 0


def test_zero_days_prunes_everything_written_before_now(tmp_path: Path) -> None:
    now = time.time()
    _file(tmp_path / "a.jpg", 0.001, now)
    assert prune_frames(tmp_path, 0, now=now) == 1


def test_missing_folder_holds_nothing(tmp_path: Path) -> None:
    assert prune_frames(tmp_path / "nope", 30) == 0


@pytest.mark.parametrize("days", [-1.0, float("nan")])
def test_bad_retention_is_refused(tmp_path: Path, days: float) -> None:
    with pytest.raises(ValueError):
        prune_frames(tmp_path, days)
