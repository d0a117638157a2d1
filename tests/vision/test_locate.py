"""The located outline is the plate's, not its shadow's (``locate._outer_line``)."""

from __future__ import annotations

import numpy as np
import pytest

from plateline.simulators.render import (
    Distortion,
    PlateFont,
    PlateSpec,
    TicketSpec,
    TrayScene,
    encode_jpeg,
    jpeg_quality,
    render_frame_with_truth,
)
from plateline.vision import Expectation, read_frame, verify
from plateline.vision.locate import _outer_line, candidates
from plateline.vision.model import GlyphModel
from plateline.vision.reader import decode

MIN_CONF = 0.6


def _scene(text: str, plate_type: str, rows: int, ticket: str, seed: int) -> TrayScene:
    return TrayScene((PlateSpec(text, plate_type, rows),), TicketSpec(ticket), seed,
                     Distortion.harsh())


# Harsh benchmark trays (default font) whose shadow, heavily blurred, was taken for part
# of the outline on one side: the fitted side ran from the plate's edge at one end to the
# shadow's at the other, 10-17 px off at a corner, and the last glyph was cut (5, F).
@pytest.mark.parametrize("text, plate_type, rows, ticket, seed, read", [
    ("京UFW2305", "green", 1, "ORD91859728", 900634026, True),
    ("辽G10470F", "yellow_green", 1, "ORD96603880", 1628026306, True),
    ("川D03657", "yellow", 2, "ORD22298031", 1480056669, False),
    ("豫XD95648", "green", 1, "ORD99206848", 239543233, False),
])
def test_shadow_is_not_the_outline(model: GlyphModel, text: str, plate_type: str, rows: int,
                                   ticket: str, seed: int, read: bool) -> None:
    scene = _scene(text, plate_type, rows, ticket, seed)
    image, truth = render_frame_with_truth(scene)
    data = encode_jpeg(image, jpeg_quality(scene))
    found = candidates(decode(data))
    assert len(found) == 1
    error = np.abs(found[0].quad - np.array(truth[0].quad)).max()
    assert error < 7.5, error
    if read:
        d = verify(read_frame(data, model), Expectation(text, plate_type, 1),
                   min_confidence=MIN_CONF)
        assert d.ok, d.detail


def test_a_plate_dented_by_glare_is_found() -> None:
    """Regression (a harsh benchmark tray, second font): a glare band across a black
    plate made a bite of its edge look like tray floor; the outline's rectangle was
    81 % filled, under ``MIN_FILL``, and no plate was found. Its convex hull is a plate."""
    scene = _scene("粤V42980", "black", 1, "ORD51918347", 70038165)
    image, truth = render_frame_with_truth(scene, font=PlateFont.second())
    found = candidates(decode(encode_jpeg(image, jpeg_quality(scene))))
    assert len(found) == 1
    assert np.abs(found[0].quad - np.array(truth[0].quad)).max() < 7.5


def _side(offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edge points of a horizontal side: per profile (x = 10 * profile) the offsets
    (y, outward positive) given, NaN for none."""
    pts, ids = [], []
    for p, row in enumerate(offsets):
        for y in row:
            if np.isfinite(y):
                pts.append((10.0 * p, float(y)))
                ids.append(p)
    return np.array(pts), np.array(ids)


def _offset_at(line: tuple[np.ndarray, np.ndarray], x: float) -> float:
    centre, d = line
    return float(centre[1] + (x - centre[0]) * d[1] / d[0])


def test_outermost_full_line_wins_over_a_partial_outer_run() -> None:
    n = 24
    rows = np.full((n, 3), np.nan)
    rows[:, 0] = -4.0  # the frame line inside the plate, everywhere
    rows[:, 1] = 0.0  # the plate's outline, everywhere
    rows[14:, 2] = np.linspace(2.0, 5.0, n - 14)  # a shadow's outline on one end only
    pts, ids = _side(rows)
    line = _outer_line(pts, ids, np.array([0.0, 1.0]), n // 3)
    assert line is not None
    assert abs(_offset_at(line, 0.0)) < 0.3 and abs(_offset_at(line, 230.0)) < 0.3


def test_outer_outline_seen_on_most_profiles_is_taken() -> None:
    # a black plate's thin rim, blurred: its outer edge is strong enough on 16 profiles
    n = 24
    rows = np.full((n, 2), np.nan)
    rows[:, 0] = -2.0
    rows[8:, 1] = 6.0
    pts, ids = _side(rows)
    line = _outer_line(pts, ids, np.array([0.0, 1.0]), n // 3)
    assert line is not None
    assert abs(_offset_at(line, 0.0) - 6.0) < 0.3 and abs(_offset_at(line, 230.0) - 6.0) < 0.3


def test_a_line_grazing_two_parallel_runs_is_not_taken() -> None:
    """A yellow plate's top side: frame line, its inner edge and the outline 2.4 px
    apart on every profile. A line tilted across, within 1.2 px of the inner edge at
    one end and of the outline at the other, holds as many profiles; taken, it cut
    into the plate by 3 px at one corner and the last glyph scored 0.51 (demo tray)."""
    outline = [2.1, 2.1, 2.1, 2.1, 2.2, 2.2, 2.2, 2.3, 2.3, 2.3, 2.4, 2.5, 2.5, 2.4, 2.2, 2.0,
               2.0, 2.0, 2.0, 2.0, 2.1, 2.2, 2.2, 2.2]  # as measured on the demo frame
    inner = [-0.1] * 5 + [-0.2] * 2 + [-0.3] * 4 + [-0.2] * 7 + [-0.1, -0.2, -0.2] + [-0.3] * 3
    rows = np.stack([np.full(24, -2.5), inner, outline], axis=1)
    rows[19:21] = [[-0.2, 2.0, 3.0], [-0.2, 2.1, 3.1]]  # a mounting hole's rim
    pts, ids = _side(rows)
    line = _outer_line(pts, ids, np.array([0.0, 1.0]), 8)
    assert line is not None
    assert abs(_offset_at(line, 0.0) - 2.1) < 0.3 and abs(_offset_at(line, 230.0) - 2.2) < 0.3
