"""Cutting a rectified plate into glyph windows."""

from __future__ import annotations

import cv2
import numpy as np

from plateline.simulators.render.plates import render_plate
from plateline.vision.layouts import CROP_PX_PER_MM, layout_for
from plateline.vision.segment import segment


def test_a_speck_between_cells_does_not_move_a_glyph_window() -> None:
    """A character's window is centred on its ink: ink lying wholly between two cells
    (the separator dot, a remnant of the frame line, dirt) is no part of either.
    Regression: the separator dot pulled the window of the glyph after it sideways
    (the glyph was then cut and read with low confidence)."""
    layout = layout_for("blue", 1)
    crop = render_plate("粤B12345", "blue", px_per_mm=CROP_PX_PER_MM)
    assert (crop.shape[1], crop.shape[0]) == layout.crop_size()
    clean = segment(crop, "blue", layout)
    x, y, w, h = clean.cells[3]
    spotted = crop.copy()
    cv2.circle(spotted, (int(x - 5), int(y + 0.5 * h)), 2, (255, 255, 255), -1)  # left of cell 4
    dirty = segment(spotted, "blue", layout)
    assert np.allclose(dirty.windows[3], clean.windows[3], atol=0.5)
    assert np.abs(dirty.glyphs[3] - clean.glyphs[3]).max() < 0.05
