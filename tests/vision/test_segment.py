"""Cutting a rectified plate into glyph windows."""

from __future__ import annotations

import cv2
import numpy as np

from plateline.simulators.render.plates import render_plate
from plateline.vision.layouts import CROP_PX_PER_MM, layout_for
from plateline.vision.segment import BROAD, TALL, WIDE, _cell_columns, row_shape, segment


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


def test_a_neighbours_serif_in_the_margin_counts_for_its_own_cell_only() -> None:
    """Cells at 10-30 and 40-60 px. The second character's top bar reaches left to 33 px
    (a serif font's 7 beside a 1): in the first cell's margin, not in the first cell, so
    the first character's extent ignores it (it pulled the window of the 1 aside, which
    then read L). A blot joining both cells by a third of its width or more counts for
    both; a speck between the cells for neither."""
    band = np.zeros((20, 70), bool)
    band[:, 18:22] = True                # a 1 in the first cell
    band[:, 50:53] = True                # the 7's stem ...
    band[2:4, 33:58] = True              # ... and its bar, into the first cell's margin
    cols = _cell_columns(band, np.array([10.0, 40.0]), 20.0)
    assert np.flatnonzero(cols[0]).tolist() == [18, 19, 20, 21]
    assert np.flatnonzero(cols[1]).min() == 33
    joined = np.zeros((20, 70), bool)
    joined[5:15, 18:51] = True           # 12 px in the first cell, 11 (a third) in the second
    both = _cell_columns(joined, np.array([10.0, 40.0]), 20.0)
    assert both[0].sum() == both[1].sum() > 0
    joined[5:15, 50] = False             # 10 px in the second: the first cell's only
    one = _cell_columns(joined, np.array([10.0, 40.0]), 20.0)
    assert one[0].sum() > 0 and one[1].sum() == 0
    speck = np.zeros((20, 70), bool)
    speck[8:11, 33:36] = True            # wholly between the cells
    assert _cell_columns(speck, np.array([10.0, 40.0]), 20.0).sum() == 0


def test_each_row_has_the_shape_its_cells_are_drawn_in() -> None:
    """Letters and digits are drawn per cell shape: narrow in single rows and the lower
    row of e-bike plates, broader in the lower row of two-row plates (65 x 110 mm),
    squat in every top row. A glyph is read only against classes of its own shape."""
    cases = {("blue", 1, "粤B12345"): [TALL] * 7,
             ("green", 1, "粤AD12345"): [TALL] * 8,
             ("yellow", 2, "粤B12345"): [WIDE] * 2 + [BROAD] * 5,
             ("ebike", 2, "粤A123456"): [WIDE] * 2 + [TALL] * 6}
    for (plate_type, rows, text), shapes in cases.items():
        layout = layout_for(plate_type, rows)
        crop = render_plate(text, plate_type, rows=rows, px_per_mm=CROP_PX_PER_MM)
        seg = segment(crop, plate_type, layout)
        assert seg.shapes == shapes, plate_type
        assert [row_shape(r) for r in layout.rows for _ in range(r.n)] == shapes
