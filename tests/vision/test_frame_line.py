"""The plate's frame line must not be taken for part of the character next to it."""

from __future__ import annotations

import numpy as np
import pytest

from plateline.simulators.render import PlateSpec
from plateline.vision import Expectation, read_frame, verify
from plateline.vision.layouts import CROP_PX_PER_MM, SINGLE8
from plateline.vision.model import GlyphModel
from plateline.vision.segment import _frame_lines

from .conftest import frame

MIN_CONF = 0.6


# Trays whose plates lie so that, once rectified, the last character ends close to
# the frame line (these read the final '1' as 'L' when the frame is left in).
@pytest.mark.parametrize("text, seed", [
    ("陕WJS2491", 7), ("陕WJS2491", 21), ("苏EF67891", 10),
    ("陕WJS2491", 3), ("苏EF67891", 14),
])
def test_last_character_next_to_the_frame(model: GlyphModel, text: str, seed: int) -> None:
    data, _ = frame([PlateSpec(text, "green"), PlateSpec(text, "green")], seed)
    reading = read_frame(data, model)
    assert [p.text for p in reading.plates] == [text, text]
    d = verify(reading, Expectation(text, "green", 2), min_confidence=MIN_CONF)
    assert d.ok, d.detail


def _leaning_line(mask: np.ndarray, x_top: int, x_bottom: int, y0: int, y1: int) -> None:
    for y in range(y0, y1):
        x = round(x_top + (x_bottom - x_top) * (y - y0) / (y1 - y0))
        mask[y, x:x + 2] = True


@pytest.mark.parametrize("lean", [0, 2, -2, 4])
def test_frame_line_is_found_and_strokes_are_kept(lean: int) -> None:
    w, h = SINGLE8.crop_size()
    mask = np.zeros((h, w), bool)
    _leaning_line(mask, w - 4 - max(lean, 0), w - 4 + min(lean, 0), 3, h - 4)
    _leaning_line(mask, 2 + max(lean, 0), 2 - min(lean, 0), 3, h - 4)
    row = SINGLE8.rows[0]
    y0, y1 = round(row.y * CROP_PX_PER_MM), round((row.y + row.h) * CROP_PX_PER_MM)
    stroke = np.zeros_like(mask)
    stroke[y0:y1, w - 16:w - 8] = True  # a '1' just clear of the frame ...
    stroke[y0:y1, 200:208] = True  # ... and one in the middle of the plate
    frame_line = _frame_lines(mask | stroke, SINGLE8)
    assert frame_line[mask].mean() > 0.95
    assert not frame_line[stroke].any()
    assert not _frame_lines(stroke, SINGLE8).any()  # strokes alone are no frame
    touching = np.zeros_like(mask)
    touching[y0:y1, w - 14 - abs(lean):w - 3] = True  # a '1' grown into the frame
    frame_line = _frame_lines(mask | touching, SINGLE8)
    assert frame_line[mask].mean() > 0.95
    assert (touching & ~frame_line).sum(axis=0).astype(bool).sum() >= 6
