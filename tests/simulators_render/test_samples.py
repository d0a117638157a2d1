"""Sample folders: JPEG frames plus labels.csv in the format of camera.md."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from plateline.contract import PLATE_TYPES
from plateline.simulators.render import PlateFont, obeys_grammar
from plateline.simulators.render.samples import main, write_sample_folder

GROUPS = ("8B", "0DQ", "17", "2Z", "5S", "6G")
PROVINCE = re.compile("[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼]")


def read_labels(folder: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(folder / "labels.csv", encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def is_near_miss(truth: str, claim: str) -> bool:
    if len(truth) != len(claim):
        return False
    diffs = [i for i in range(len(truth)) if truth[i] != claim[i]]
    if len(diffs) != 1:
        return False
    i = diffs[0]
    if i == 0:
        return bool(PROVINCE.fullmatch(truth[0]) and PROVINCE.fullmatch(claim[0]))
    return any(truth[i] in g and claim[i] in g for g in GROUPS)


def test_folder_without_near_misses(tmp_path: Path) -> None:
    out = write_sample_folder(tmp_path / "s", 4, seed=1)
    header, rows = read_labels(out)
    assert header == ["filename", "text", "plate_type"]
    assert [r["filename"] for r in rows] == [f"frame_{i:05d}.jpg" for i in range(4)]
    for r in rows:
        assert r["plate_type"] in PLATE_TYPES and obeys_grammar(r["text"], r["plate_type"])
        img = cv2.imdecode(np.fromfile(out / r["filename"], np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and img.shape == (960, 1280, 3)


def test_folder_with_near_misses(tmp_path: Path) -> None:
    out = write_sample_folder(tmp_path, 14, seed=5, level="harsh", near_miss_fraction=0.6,
                              font="second")
    header, rows = read_labels(out)
    assert header == ["filename", "text", "plate_type", "expect_text", "expect_type"]
    by_frame: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_frame.setdefault(r["filename"], []).append(r)
    assert len(by_frame) == 14 and 14 < len(rows) <= 28
    misses = 0
    for name, frame_rows in by_frame.items():
        assert (out / name).is_file()
        first, *others = frame_rows
        assert (first["expect_text"], first["expect_type"]) == (first["text"], first["plate_type"])
        for r in others:
            misses += 1
            assert (r["text"], r["plate_type"]) == (first["text"], first["plate_type"])
            if r["expect_type"] != r["plate_type"]:
                assert r["expect_text"] == r["text"] and r["expect_type"] in PLATE_TYPES
            else:
                assert is_near_miss(r["text"], r["expect_text"]), r
    assert misses >= 3


def test_folders_repeat_for_a_seed(tmp_path: Path) -> None:
    a = write_sample_folder(tmp_path / "a", 3, seed=9, near_miss_fraction=0.5)
    b = write_sample_folder(tmp_path / "b", 3, seed=9, near_miss_fraction=0.5)
    assert (a / "labels.csv").read_bytes() == (b / "labels.csv").read_bytes()
    assert (a / "frame_00002.jpg").read_bytes() == (b / "frame_00002.jpg").read_bytes()
    c = write_sample_folder(tmp_path / "c", 3, seed=10)
    assert (a / "frame_00002.jpg").read_bytes() != (c / "frame_00002.jpg").read_bytes()


def test_types_and_font_object(tmp_path: Path) -> None:
    out = write_sample_folder(tmp_path, 5, seed=2, types=["ebike", "green"],
                              font=PlateFont.default())
    _, rows = read_labels(out)
    assert {r["plate_type"] for r in rows} <= {"ebike", "green"}


@pytest.mark.parametrize("kwargs", [
    {"level": "extreme"}, {"font": "comic"}, {"types": ["red"]}, {"near_miss_fraction": 1.5},
])
def test_bad_arguments(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        write_sample_folder(tmp_path, 1, seed=1, **kwargs)


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "cli"), "--frames", "2", "--seed", "3", "--font", "second",
                 "--level", "harsh", "--near-miss", "1.0"]) == 0
    assert str(tmp_path / "cli" / "labels.csv") in capsys.readouterr().out
    header, rows = read_labels(tmp_path / "cli")
    assert header[-2:] == ["expect_text", "expect_type"] and len(rows) == 4
    with pytest.raises(SystemExit):
        main([str(tmp_path / "x"), "--level", "extreme"])
