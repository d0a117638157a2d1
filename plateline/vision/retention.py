"""Retention of the frames kept with the records (JPEG files named by item id)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from plateline.errors import VisionError

#: Files the controller writes beside the database: ``<item id>.jpg`` (and the
#: ``.jpg.part`` of a write that was cut short).
FRAME_SUFFIXES = (".jpg", ".jpg.part")


def prune_frames(frames_dir: str | Path, older_than_days: float, *,
                 now: float | None = None) -> int:
    """Delete the frames in ``frames_dir`` last written more than ``older_than_days``
    ago; returns how many were deleted.

    Only the folder's own ``*.jpg`` (and ``*.jpg.part``) files are touched, never
    sub-folders or other files. A missing folder holds nothing to prune. A frame
    that vanishes meanwhile is skipped; any other failure raises VisionError.
    """
    if not older_than_days >= 0:
        raise ValueError(f"older_than_days must be >= 0, not {older_than_days!r}")
    folder = Path(frames_dir)
    if not folder.is_dir():
        return 0
    cutoff = (time.time() if now is None else now) - older_than_days * 86400.0
    removed = 0
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if not entry.name.endswith(FRAME_SUFFIXES) or not entry.is_file(
                        follow_symlinks=False):
                    continue
                try:
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(entry.path)
                        removed += 1
                except FileNotFoundError:
                    continue
    except OSError as err:
        raise VisionError(f"cannot prune frames in {folder}: {err}") from err
    return removed


__all__ = ["FRAME_SUFFIXES", "prune_frames"]
