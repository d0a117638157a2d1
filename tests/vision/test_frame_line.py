"""The plate's frame line must not be taken for part of the character next to it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from plateline.simulators.render import PlateSpec
from plateline.vision import Expectation, read_frame, verify
from plateline.vision.layouts import CROP_PX_PER_MM, SINGLE8, layout_for
from plateline.vision.model import GlyphModel
from plateline.vision.segment import _frame_lines, segment

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


def test_pieces_of_a_broken_frame_line_are_frame() -> None:
    """Glare or wear breaks the frame line into pieces shorter than a long run; wholly
    within the frame's zone at the crop's edge they are still frame, a '1' beside is not."""
    w, h = SINGLE8.crop_size()
    mask = np.zeros((h, w), bool)
    for y in range(4, h - 4, 24):
        mask[y:y + 12, w - 5:w - 3] = True
        mask[y:y + 12, 2:4] = True
    row = SINGLE8.rows[0]
    y0, y1 = round(row.y * CROP_PX_PER_MM), round((row.y + row.h) * CROP_PX_PER_MM)
    stroke = np.zeros_like(mask)
    stroke[y0:y1, w - 16:w - 8] = True
    frame_line = _frame_lines(mask | stroke, SINGLE8)
    assert frame_line[mask].all()
    assert not frame_line[stroke].any()


def test_a_broken_frame_line_does_not_pull_the_last_window() -> None:
    """Regression: pieces of a broken frame line beside a blue plate's last '1' drew its
    cell and window outwards (by 12 px here), and the '1' cut at the window's edge read
    as 'L'. A synthetic crop: seven narrow strokes at their cells' centres."""
    layout = layout_for("blue", 1)
    w, h = layout.crop_size()
    crop = np.zeros((h, w, 3), np.uint8)
    crop[:] = (150, 60, 10)
    row = layout.rows[0]
    y0, y1 = int(row.y * CROP_PX_PER_MM), int((row.y + row.h) * CROP_PX_PER_MM)
    centres = []
    for k in range(row.n):
        extra = row.dot_extra if row.dot_after and k >= row.dot_after else 0.0
        cx = (row.x0 + k * row.pitch + extra + 0.5 * row.cell) * CROP_PX_PER_MM
        centres.append(cx)
        cv2.rectangle(crop, (int(cx - 3), y0), (int(cx + 3), y1), (235, 235, 235), -1)
    for y in range(3, h - 3):
        crop[y, 3:5] = 235
        if (y // 19) % 2 == 0:  # the right frame line in pieces shorter than a character
            crop[y, w - 5:w - 3] = 235
    seg = segment(cv2.GaussianBlur(crop, (3, 3), 0.8), "blue", layout)
    for (a, b, _, _), cx in zip(seg.windows, centres):
        assert abs(0.5 * (a + b) - cx) <= 1.5
