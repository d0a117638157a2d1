"""Single plates: real proportions, colours and layouts for every type."""

from __future__ import annotations

import numpy as np
import pytest

from plateline.contract import PLATE_TYPES
from plateline.simulators.render import PlateFont, plate_size_mm, render_plate
from plateline.simulators.render.plates import plate_layout, render_plate_rgba

SAMPLES = {
    "blue": "京A12345", "yellow": "粤B8D0Q7", "green": "沪AD12345",
    "yellow_green": "苏E12345D", "white": "京A0123警", "black": "粤Z1234港", "ebike": "浙A123456",
}


def bgr(hex_rgb: str) -> np.ndarray:
    v = int(hex_rgb.lstrip("#"), 16)
    return np.array([v & 0xFF, (v >> 8) & 0xFF, v >> 16], float)


def near(pixel: np.ndarray, colour: np.ndarray, tol: float = 30) -> bool:
    return bool(np.abs(pixel.astype(float) - colour).max() <= tol)


@pytest.mark.parametrize("plate_type, rows, size_mm", [
    ("blue", 1, (440, 140)), ("yellow", 1, (440, 140)), ("white", 1, (440, 140)),
    ("black", 1, (440, 140)), ("green", 1, (480, 140)), ("yellow_green", 1, (480, 140)),
    ("yellow", 2, (440, 220)), ("blue", 2, (440, 220)), ("ebike", 1, (300, 150)),
    ("ebike", 2, (300, 150)),
])
@pytest.mark.parametrize("ppm", [0.5, 1.0])
def test_plate_proportions(plate_type: str, rows: int, size_mm: tuple[int, int], ppm: float
                           ) -> None:
    assert plate_size_mm(plate_type, rows) == size_mm
    img = render_plate(SAMPLES[plate_type], plate_type, rows=rows, px_per_mm=ppm)
    assert img.dtype == np.uint8 and img.ndim == 3
    assert img.shape[:2] == (round(size_mm[1] * ppm), round(size_mm[0] * ppm))


def test_ordinary_character_boxes_follow_the_standard() -> None:
    layout = plate_layout("京A12345", "blue")
    widths = {round(b.w, 1) for b in layout.boxes}
    heights = {b.h for b in layout.boxes}
    assert widths == {45.0} and heights == {90}
    xs = [b.x for b in layout.boxes]
    gaps = [round(xs[i + 1] - xs[i] - 45, 1) for i in range(6)]
    assert gaps == [12.0, 34.0, 12.0, 12.0, 12.0, 12.0]
    assert layout.dot is not None and xs[1] + 45 < layout.dot[0] < xs[2]
    new_energy = plate_layout("沪AD12345", "green")
    assert len(new_energy.boxes) == 8 and {round(b.w, 1) for b in new_energy.boxes} == {43.0}


def test_two_row_layout() -> None:
    layout = plate_layout("鲁B1234挂", "yellow", rows=2)
    top, bottom = layout.boxes[:2], layout.boxes[2:]
    assert [b.char for b in top] == ["鲁", "B"]
    assert all(b.h < c.h for b in top for c in bottom)
    assert all(b.y + b.h <= c.y for b in top for c in bottom)
    assert layout.dot is None
    ebike = plate_layout("浙A123456", "ebike")
    assert [b.char for b in ebike.boxes[:2]] == ["浙", "A"] and len(ebike.boxes[2:]) == 6


# (type, background colour in the top margin, ink colour)
COLOURS = [
    ("blue", "#0C4DA2", "#F4F4F2"),
    ("yellow", "#F2C200", "#161616"),
    ("white", "#EEEEEA", "#161616"),
    ("black", "#1C1C1E", "#F4F4F2"),
]


@pytest.mark.parametrize("plate_type, background, ink", COLOURS)
def test_ordinary_colours(plate_type: str, background: str, ink: str) -> None:
    img = render_plate(SAMPLES[plate_type], plate_type, px_per_mm=1.0)
    assert near(img[18, 220], bgr(background))  # top margin, between the holes
    layout = plate_layout(SAMPLES[plate_type], plate_type)
    cx, cy, _ = layout.dot  # type: ignore[misc]
    assert near(img[round(cy), round(cx)], bgr(ink))
    inked = np.all(np.abs(img.astype(float) - bgr(ink)) < 40, axis=2).mean()
    assert 0.12 < inked < 0.5


def test_police_character_is_red() -> None:
    img = render_plate("京A0123警", "white", px_per_mm=1.0).astype(int)
    b, g, r = img[..., 0], img[..., 1], img[..., 2]
    red = (r > 150) & (g < 90) & (b < 90)
    assert red.sum() > 300
    assert red[:, 330:].sum() == red.sum()  # only the last character


def test_new_energy_colours() -> None:
    green = render_plate("沪AD12345", "green", px_per_mm=1.0).astype(int)
    top, bottom = green[12, 240], green[132, 240]
    assert top.sum() > bottom.sum() + 150  # white at the top to green at the bottom
    assert bottom[1] > bottom[0] + 60 and bottom[1] > bottom[2] + 60
    large = render_plate("苏E12345D", "yellow_green", px_per_mm=1.0)
    assert near(large[18, 60], bgr("#F2C200"), 35)  # yellow behind province and letter
    assert near(large[18, 300], bgr("#45B05A"), 35)  # green behind the serial


def test_ebike_design() -> None:
    img = render_plate(SAMPLES["ebike"], "ebike", px_per_mm=1.0)
    assert near(img[8, 150], bgr("#F4F4EE"))
    ink = np.all(np.abs(img.astype(float) - bgr("#00703C")) < 40, axis=2)
    assert ink.mean() > 0.1


@pytest.mark.parametrize("plate_type", PLATE_TYPES)
@pytest.mark.parametrize("rows", [1, 2])
def test_every_type_renders_in_both_layouts(plate_type: str, rows: int) -> None:
    for font in (PlateFont.default(), PlateFont.second()):
        img = render_plate(SAMPLES[plate_type], plate_type, rows=rows, font=font, px_per_mm=0.6)
        assert img.std() > 20


def test_wrong_length_numbers_still_render() -> None:
    img = render_plate("粤A12345", "green", px_per_mm=0.5)  # 7 characters on an 8-slot plate
    assert img.shape == (70, 240, 3)
    assert render_plate("粤AD123456789", "blue", px_per_mm=0.5).shape == (70, 220, 3)


def test_holes_and_corners_are_see_through() -> None:
    img, alpha = render_plate_rgba("京A12345", "blue", px_per_mm=1.0)
    assert alpha[0, 0] == 0 and alpha[70, 220] == 255
    hx, hy = plate_layout("京A12345", "blue").holes[0]
    assert alpha[round(hy), round(hx)] == 0
    assert not img.flags.writeable and not alpha.flags.writeable


def test_rendering_repeats_exactly() -> None:
    a = render_plate("粤B12345", "blue", px_per_mm=0.8)
    a[:] = 0  # the caller's copy, not the cache
    b = render_plate("粤B12345", "blue", px_per_mm=0.8)
    assert np.array_equal(b, render_plate("粤B12345", "blue", px_per_mm=0.8)) and b.any()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        render_plate("京A12345", "red")
    with pytest.raises(ValueError):
        render_plate("京A12345", "blue", rows=3)
    with pytest.raises(ValueError):
        render_plate("京A12345", "blue", px_per_mm=0)
