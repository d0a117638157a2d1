"""Labelled sample folders (``camera.md``): frames plus ``labels.csv``."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from plateline.contract import PLATE_TYPES
from plateline.errors import VisionError


@dataclass(frozen=True)
class SampleRow:
    """One trial: a frame, what is in it, and what the order expects."""

    filename: str
    text: str
    plate_type: str
    expect_text: str
    expect_type: str

    @property
    def near_miss(self) -> bool:
        return (self.expect_text, self.expect_type) != (self.text, self.plate_type)


def read_labels(sample_dir: str | Path) -> list[SampleRow]:
    """The rows of ``sample_dir/labels.csv`` in file order (VisionError when malformed)."""
    path = Path(sample_dir) / "labels.csv"
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            fields = set(reader.fieldnames or ())
            if not {"filename", "text", "plate_type"} <= fields:
                raise VisionError(f"{path}: needs columns filename,text,plate_type")
            with_expect = {"expect_text", "expect_type"} <= fields
            rows = []
            for n, rec in enumerate(reader, start=2):
                text, ptype = (rec.get("text") or "").strip(), (rec.get("plate_type") or "").strip()
                name = (rec.get("filename") or "").strip()
                if not name or not text or ptype not in PLATE_TYPES:
                    raise VisionError(f"{path}: line {n}: bad filename, text or plate_type")
                et = (rec.get("expect_text") or "").strip() if with_expect else ""
                ey = (rec.get("expect_type") or "").strip() if with_expect else ""
                if ey and ey not in PLATE_TYPES:
                    raise VisionError(f"{path}: line {n}: bad expect_type {ey!r}")
                rows.append(SampleRow(name, text, ptype, et or text, ey or ptype))
    except OSError as err:
        raise VisionError(f"cannot read {path}: {err}") from err
    return rows
