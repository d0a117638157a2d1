"""The demo scenario end to end: plant and controller as separate things, records against truth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Every reason this slice can produce (issue: the first whole slice).
SLICE_REASONS = {
    "NOREAD", "UNKNOWN_ORDER", "DUPLICATE_ORDER", "PLATE_MISMATCH", "PLATE_COUNT",
    "PLATE_TYPE", "VISION_FAULT", "NO_VERDICT", "TRACKING_ERROR", "ORDER_CANCELLED",
}


@pytest.mark.slow
def test_demo_at_x10_matches_the_truth(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "plateline.cli", "demo", "--speed", "10", "--trays", "200",
         "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=900)
    summary = proc.stdout.rpartition("plateline demo summary")[2]
    assert proc.returncode == 0, summary[-6000:] or proc.stderr[-4000:]
    assert "records match the plant's truth: YES" in proc.stdout
    records = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert len(records) == 200
    assert len({r["item_id"] for r in records}) == 200
    assert SLICE_REASONS <= {r["reason"] for r in records}
    assert any(r["verdict"] == "pass" and r["outcome"] == "outfeed" for r in records)
    # a wrong plate never reaches the outfeed
    assert all(r["outcome"] != "outfeed" for r in records if r["verdict"] != "pass")
