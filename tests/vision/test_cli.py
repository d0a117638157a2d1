"""``teach_main`` / ``eval_main``: the measures and the decisions file of camera.md."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from plateline.cli import main
from plateline.simulators.render.samples import write_sample_folder


@pytest.fixture(scope="module")
def near_miss_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample_folder(tmp_path_factory.mktemp("nm"), 24, seed=3, level="normal",
                               near_miss_fraction=1.0)


def test_eval_output_and_decisions_file(near_miss_folder: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "decisions.jsonl"
    assert main(["vision", "eval", str(near_miss_folder), "--decisions", str(out),
                 "--json"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1  # one JSON object, printed once
    result = json.loads(printed[0])
    for key in ("frames", "read_rate", "false_accepts", "false_rejects", "ms_median", "ms_p95"):
        assert key in result
    assert result["frames"] == 24 and result["false_accepts"] == 0
    with open(near_miss_folder / "labels.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    lines = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert len(lines) == len(rows) == 48
    for row, line in zip(rows, lines):
        assert line["filename"] == row["filename"]
        assert set(line) == {"filename", "read", "decision", "reason"}
        assert line["decision"] in ("match", "no_match")
        assert all(set(p) == {"text", "type", "score"} for p in line["read"])
        if (row["expect_text"], row["expect_type"]) != (row["text"], row["plate_type"]):
            assert line["decision"] == "no_match" and line["reason"] != "NONE"
