"""The demo scenario end to end: plant and controller as separate things, records against truth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from plateline.contract import Reason

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


#: Every reason code of line.md but NONE.
ALL_REASONS = {r.name for r in Reason if r is not Reason.NONE}

SIX_STATION_DEMO = """\
import asyncio, sys
from pathlib import Path
from plateline.demo import ALL_DEVICES, DemoOptions, run_demo
sys.exit(asyncio.run(run_demo(DemoOptions(speed=10, trays=int(sys.argv[2]),
                                          workdir=Path(sys.argv[1]),
                                          devices=ALL_DEVICES))))
"""


@pytest.mark.slow
def test_six_station_demo_at_x10_is_fail_safe_and_shows_every_reason(tmp_path: Path) -> None:
    """All six stations at x10: every reason code of line.md is produced, one record per
    tray, and no tray with anything wrong with it reaches the outfeed.

    (That every record also matches the truth tray for tray is not yet reliable at x10
    with six stations: see the note on issue 4.)"""
    trays = 100
    proc = subprocess.run([sys.executable, "-c", SIX_STATION_DEMO, str(tmp_path), str(trays)],
                          capture_output=True, text=True, timeout=900)
    summary = proc.stdout.rpartition("plateline demo summary")[2]
    records = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    truth = [json.loads(line) for line in (tmp_path / "truth.jsonl").read_text().splitlines()]
    assert len(truth) == trays, summary[-6000:] or proc.stderr[-4000:]
    # every reason code of line.md shows up, in the records and in the truth
    assert ALL_REASONS <= {t["reason"] for t in truth}
    assert ALL_REASONS <= {r["reason"] for r in records}, summary
    assert len({r["item_id"] for r in records}) == trays
    # fail safe: nothing the controller did not pass, and nothing the plant knows to be
    # wrong, went out to the citizen
    assert all(r["outcome"] != "outfeed" for r in records if r["verdict"] != "pass")
    assert all(t["outcome"] != "outfeed" for t in truth if t["scenario_reason"] != "NONE")
