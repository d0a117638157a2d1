"""Chinese licence plates drawn fronto-parallel with the proportions and colours of GA 36-2018.

Sizes in millimetres (width x height):

- ordinary single-row plates (``blue``, ``yellow``, ``white``, ``black``): 440 x 140, seven
  characters of 45 x 90 spaced 12, the gap after the second character 34 wide with the
  separator dot (10 mm) in it;
- new-energy plates (``green``, ``yellow_green``): 480 x 140, eight characters of 43 x 90
  spaced 9, the dot gap 49; ``green`` is a white-to-green vertical gradient with black
  characters, ``yellow_green`` is yellow behind the province and letter, green behind the
  serial;
- two-row plates (rear plates of large vehicles, trailers, motorcycles; ``rows=2``):
  440 x 220, the province and authority letter 80 x 60 in the top row, the serial
  65 x 110 below;
- ``ebike``: the reference site's electric-bicycle plate, 300 x 150, two rows, white with
  dark green characters and frame: province and letter (42 x 40) on top, six digits
  (36 x 72) below. The number rule is in :mod:`.numbers`.

A number with more or fewer characters than its layout expects (the plate of a wrong
type) is squeezed into the same plate rather than refused.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from plateline.contract import PLATE_TYPES

from .glyphs import PlateFont
from .numbers import near_miss, random_plate

__all__ = ["PlateFont", "PlateLayout", "near_miss", "plate_layout", "plate_size_mm",
           "random_plate", "render_plate", "render_plate_rgba"]

BGR = tuple[int, int, int]


def _rgb(hex_colour: str) -> BGR:
    v = int(hex_colour.lstrip("#"), 16)
    return (v & 0xFF, (v >> 8) & 0xFF, v >> 16)


@dataclass(frozen=True)
class PlateStyle:
    """Colours of one plate type (BGR)."""

    background: BGR
    ink: BGR
    frame: BGR
    gradient_top: BGR | None = None  # vertical gradient from this (top) to ``background``
    head_background: BGR | None = None  # behind the province and letter (yellow_green)
    special_ink: tuple[tuple[str, BGR], ...] = ()


_BLACK_INK = _rgb("#161616")
_WHITE_INK = _rgb("#F4F4F2")
_YELLOW = _rgb("#F2C200")
STYLES: dict[str, PlateStyle] = {
    "blue": PlateStyle(_rgb("#0C4DA2"), _WHITE_INK, _WHITE_INK),
    "yellow": PlateStyle(_YELLOW, _BLACK_INK, _BLACK_INK),
    "green": PlateStyle(_rgb("#3FB35F"), _BLACK_INK, _BLACK_INK,
                        gradient_top=_rgb("#F2F8F0")),
    "yellow_green": PlateStyle(_rgb("#45B05A"), _BLACK_INK, _BLACK_INK,
                               head_background=_YELLOW),
    "white": PlateStyle(_rgb("#EEEEEA"), _BLACK_INK, _BLACK_INK,
                        special_ink=(("警", _rgb("#D01E1E")),)),
    "black": PlateStyle(_rgb("#1C1C1E"), _WHITE_INK, _WHITE_INK),
    "ebike": PlateStyle(_rgb("#F4F4EE"), _rgb("#00703C"), _rgb("#00703C")),
}


@dataclass(frozen=True)
class CharBox:
    """Where one character goes, in millimetres from the plate's top-left corner."""

    char: str
    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class PlateLayout:
    """Geometry of one plate in millimetres."""

    width: float
    height: float
    boxes: tuple[CharBox, ...]
    dot: tuple[float, float, float] | None  # centre x, centre y, radius
    holes: tuple[tuple[float, float], ...]  # centres of the oval rivet holes
    split_x: float | None  # end of the head colour (yellow_green)
    frame_inset: float = 3.0
    frame_width: float = 2.2
    corner_radius: float = 7.0


_HOLE_RX, _HOLE_RY = 6.0, 3.5
_NEW_ENERGY = ("green", "yellow_green")


def plate_size_mm(plate_type: str, rows: int | None = None) -> tuple[float, float]:
    """Width and height (mm) of a plate of ``plate_type`` with ``rows`` rows."""
    _check(plate_type)
    if plate_type == "ebike":
        return (300.0, 150.0)
    if _rows(plate_type, rows) == 2:
        return (440.0, 220.0)
    return (480.0, 140.0) if plate_type in _NEW_ENERGY else (440.0, 140.0)


def _check(plate_type: str) -> None:
    if plate_type not in PLATE_TYPES:
        raise ValueError(f"unknown plate type {plate_type!r}; expected one of {PLATE_TYPES}")


def _rows(plate_type: str, rows: int | None) -> int:
    if plate_type == "ebike":
        return 2  # its own fixed two-row design
    if rows is None:
        return 1
    if rows not in (1, 2):
        raise ValueError(f"rows must be 1 or 2, not {rows!r}")
    return rows


def _row(chars: str, y: float, h: float, left: float, right: float, cw: float, gap: float,
         dot_gap: float | None) -> tuple[list[CharBox], float | None]:
    """Boxes of one row centred between ``left`` and ``right``; returns the dot gap centre."""
    n = len(chars)
    gaps = [dot_gap if (dot_gap is not None and i == 1) else gap for i in range(n - 1)]
    total = n * cw + sum(gaps)
    k = min(1.0, (right - left) / total) if total > 0 else 1.0
    x = left + ((right - left) - total * k) / 2
    boxes: list[CharBox] = []
    dot_x: float | None = None
    for i, ch in enumerate(chars):
        boxes.append(CharBox(ch, x, y, cw * k, h))
        x += cw * k
        if i < n - 1:
            if i == 1 and dot_gap is not None:
                dot_x = x + gaps[i] * k / 2
            x += gaps[i] * k
    return boxes, dot_x


def plate_layout(text: str, plate_type: str, rows: int | None = None) -> PlateLayout:
    """The geometry of ``text`` on a plate of ``plate_type`` (see the module docstring)."""
    _check(plate_type)
    if len(text) < 2:
        raise ValueError(f"plate number {text!r} is too short")
    w, h = plate_size_mm(plate_type, rows)
    if plate_type == "ebike":
        top, _ = _row(text[:2], 13, 40, 60, 240, 42, 22, None)
        bottom, _ = _row(text[2:], 64, 72, 16, 284, 36, 8, None)
        return PlateLayout(w, h, tuple(top + bottom), None, ((38, 33), (262, 33)), None,
                           frame_inset=4.0, frame_width=2.0, corner_radius=8.0)
    if _rows(plate_type, rows) == 2:
        top, _ = _row(text[:2], 16, 60, 100, 340, 80, 30, None)
        n = max(1, len(text) - 2)
        bottom, _ = _row(text[2:], 94, 110, 24, 416, 65, 15 if n <= 5 else 10, None)
        return PlateLayout(w, h, tuple(top + bottom), None, ((52, 46), (388, 46)), None,
                           frame_inset=4.0, frame_width=2.6, corner_radius=9.0)
    if plate_type in _NEW_ENERGY:
        boxes, dot_x = _row(text, 25, 90, 15, w - 15, 43, 9, 49)
        holes = ((95, 13), (385, 13), (95, 127), (385, 127))
    else:
        boxes, dot_x = _row(text, 25, 90, 15, w - 15, 45, 12, 34)
        holes = ((85, 13), (355, 13), (85, 127), (355, 127))
    dot = (dot_x, 70.0, 5.0) if dot_x is not None else None
    split = dot_x if plate_type == "yellow_green" else None
    return PlateLayout(w, h, tuple(boxes), dot, holes, split)


def _rounded_rect(x0: float, y0: float, x1: float, y1: float, r: float) -> np.ndarray:
    """Polygon (N x 2 float) of a rounded rectangle."""
    pts: list[np.ndarray] = []
    for cx, cy, start in ((x1 - r, y0 + r, 270), (x1 - r, y1 - r, 0),
                          (x0 + r, y1 - r, 90), (x0 + r, y0 + r, 180)):
        a = np.deg2rad(np.arange(start, start + 91, 10))
        pts.append(np.stack([cx + r * np.cos(a), cy + r * np.sin(a)], axis=1))
    return np.concatenate(pts)


_SHIFT = 4  # sub-pixel bits for OpenCV drawing


def _fill(mask: np.ndarray, poly: np.ndarray, value: int) -> None:
    pts = np.round(poly * (1 << _SHIFT)).astype(np.int32)
    cv2.fillPoly(mask, [pts], value, lineType=cv2.LINE_AA, shift=_SHIFT)


def _ellipse(mask: np.ndarray, cx: float, cy: float, rx: float, ry: float, value: int) -> None:
    s = 1 << _SHIFT
    cv2.ellipse(mask, (round(cx * s), round(cy * s)), (max(1, round(rx * s)), max(1, round(ry * s))),
                0, 0, 360, value, -1, cv2.LINE_AA, _SHIFT)


def _blend(img: np.ndarray, mask: np.ndarray, colour: BGR, at: tuple[int, int] = (0, 0)
           ) -> None:
    """Paint ``colour`` into ``img`` (in place) with coverage ``mask`` (uint8) whose
    top-left corner is at ``at`` (x, y) in ``img``."""
    x0, y0 = at
    x1, y1 = min(img.shape[1], x0 + mask.shape[1]), min(img.shape[0], y0 + mask.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    a = mask[: y1 - y0, : x1 - x0, None].astype(np.float32) * (1 / 255)
    roi = img[y0:y1, x0:x1].astype(np.float32)
    roi += (np.asarray(colour, np.float32) - roi) * a
    img[y0:y1, x0:x1] = roi.astype(np.uint8)


def _background(style: PlateStyle, layout: PlateLayout, ppm: float, size: tuple[int, int]
                ) -> np.ndarray:
    wpx, hpx = size
    img = np.empty((hpx, wpx, 3), np.uint8)
    img[:] = style.background
    if style.gradient_top is not None:
        t = np.linspace(0.0, 1.0, hpx, dtype=np.float32)[:, None] ** 1.3
        top = np.asarray(style.gradient_top, np.float32)
        bottom = np.asarray(style.background, np.float32)
        img[:] = (top + (bottom - top) * t)[:, None, :].astype(np.uint8)
    if style.head_background is not None and layout.split_x is not None:
        img[:, : round(layout.split_x * ppm)] = style.head_background
    # A faint sheen: the embossed sheet is a little brighter in its upper half.
    sheen = np.round(128 * (1.0 + 0.05 * np.cos(np.linspace(0.2, 3.0, hpx)))).astype(np.uint8)
    gain = np.ascontiguousarray(np.broadcast_to(sheen[:, None, None], img.shape))
    return cv2.multiply(img, gain, scale=1 / 128)


def _ink_for(style: PlateStyle, char: str) -> BGR:
    for special, colour in style.special_ink:
        if char == special:
            return colour
    return style.ink


@functools.lru_cache(maxsize=64)
def _plate_rgba_cached(text: str, plate_type: str, rows: int, font: PlateFont,
                       ppm: float) -> tuple[np.ndarray, np.ndarray]:
    layout = plate_layout(text, plate_type, rows)
    style = STYLES[plate_type]
    size = (max(8, round(layout.width * ppm)), max(4, round(layout.height * ppm)))
    img = _background(style, layout, ppm, size)
    wpx, hpx = size
    # Frame line.
    fi, fw = layout.frame_inset * ppm, layout.frame_width * ppm
    frame = np.zeros((hpx, wpx), np.uint8)
    r = max(1.0, (layout.corner_radius - layout.frame_inset) * ppm)
    _fill(frame, _rounded_rect(fi, fi, wpx - fi, hpx - fi, r), 255)
    inner = np.zeros_like(frame)
    _fill(inner, _rounded_rect(fi + fw, fi + fw, wpx - fi - fw, hpx - fi - fw,
                               max(1.0, r - fw)), 255)
    _blend(img, cv2.subtract(frame, inner), style.frame)
    # Characters, with a thin shade under the raised strokes.
    shade = max(1, round(0.7 * ppm))
    for box in layout.boxes:
        x0, y0 = round(box.x * ppm), round(box.y * ppm)
        gw = max(1, round((box.x + box.w) * ppm) - x0)
        gh = max(1, round((box.y + box.h) * ppm) - y0)
        glyph = font.glyph(box.char, gw, gh)
        if ppm >= 1.5:
            _blend(img, glyph // 3, (0, 0, 0), (x0 + shade, y0 + shade))
        _blend(img, glyph, _ink_for(style, box.char), (x0, y0))
    if layout.dot is not None:
        dot = np.zeros((hpx, wpx), np.uint8)
        cx, cy, rad = layout.dot
        _ellipse(dot, cx * ppm, cy * ppm, rad * ppm, rad * ppm, 255)
        _blend(img, dot, style.ink)
    # Outline with rounded corners; rivet holes are see-through with a pressed rim.
    alpha = np.zeros((hpx, wpx), np.uint8)
    _fill(alpha, _rounded_rect(0, 0, wpx, hpx, layout.corner_radius * ppm), 255)
    rim = np.zeros_like(alpha)
    for hx, hy in layout.holes:
        _ellipse(rim, hx * ppm, hy * ppm, (_HOLE_RX + 1.6) * ppm, (_HOLE_RY + 1.6) * ppm, 90)
        _ellipse(alpha, hx * ppm, hy * ppm, _HOLE_RX * ppm, _HOLE_RY * ppm, 0)
    _blend(img, rim, (40, 40, 40))
    img.flags.writeable = False
    alpha.flags.writeable = False
    return img, alpha


def render_plate_rgba(text: str, plate_type: str, *, font: PlateFont | None = None,
                      rows: int | None = None, px_per_mm: float = 0.5
                      ) -> tuple[np.ndarray, np.ndarray]:
    """The plate (BGR) and its coverage (uint8, 0 outside the corners and in the holes).

    The arrays are cached and read-only; copy them before changing them.
    """
    if px_per_mm <= 0:
        raise ValueError("px_per_mm must be positive")
    _check(plate_type)
    return _plate_rgba_cached(text, plate_type, _rows(plate_type, rows),
                              font or PlateFont.default(), float(px_per_mm))


_HOLE_BACKDROP = np.array((58, 60, 62), np.float32)


def render_plate(text: str, plate_type: str, *, font: PlateFont | None = None,
                 rows: int | None = None, px_per_mm: float = 0.5) -> np.ndarray:
    """A fronto-parallel plate image (BGR uint8), ``px_per_mm`` pixels per millimetre.

    ``rows`` is 1 or 2 (two-row rear plate, 440 x 220 mm); ``None`` means 1. It is ignored
    for ``ebike``, which has its own two-row design. Holes and corners show a dark grey.
    """
    img, alpha = render_plate_rgba(text, plate_type, font=font, rows=rows, px_per_mm=px_per_mm)
    a = alpha[..., None].astype(np.float32) * (1 / 255)
    return (img * a + _HOLE_BACKDROP * (1 - a)).astype(np.uint8)
