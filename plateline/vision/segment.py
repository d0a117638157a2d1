"""Binarise a rectified plate and cut it into one normalised glyph per character.

The crop comes from :mod:`.locate` at ``CROP_PX_PER_MM`` with the size of its
:class:`~.layouts.Layout`, so every row's band and pitch are known to within a
site's die tolerance. Per row, the text band is the main run of inked lines near
its nominal place, then an evenly pitched row of cells (with the wider gap of
the separator dot, which so falls between cells and is dropped) is fitted to the
ink profile. This keeps multi-stroke Chinese characters whole and a thin ``1``
in its own cell. Each glyph is a window of the row's nominal cell size, centred
on the band and on the cell's ink (so a ``1`` stays thin and an ``O`` wider than
a ``0``), resampled to ``GLYPH_H`` x ``GLYPH_W``, ink bright on black
(``float32`` in [0, 1]). Each cell also gets its ink strength relative to the
plate's other cells (glare or a smudge washes a character out).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from plateline.errors import VisionError

from .layouts import CROP_PX_PER_MM, Layout, RowGeometry

GLYPH_H = 48
GLYPH_W = 24

#: Plate types whose characters are lighter than the background.
LIGHT_INK = frozenset({"blue", "black"})

#: Row shapes (letters and digits are drawn differently in each): cells taller than
#: wide (single-row plates, the lower row of e-bike plates), the broader cells of the
#: lower row of two-row plates (65 x 110 mm against 45 x 90 mm: a font keeps its
#: strokes and widens its counters there), and the squat cells of the top row of
#: two-row and e-bike plates.
TALL = 0
WIDE = 1
BROAD = 2
N_SHAPES = 3
#: Cell width over height: TALL up to the first, BROAD up to the second, WIDE beyond.
SHAPE_ASPECTS = (0.55, 0.8)


def row_shape(row: RowGeometry) -> int:
    """:data:`TALL`, :data:`BROAD` or :data:`WIDE` for the cells of ``row``."""
    aspect = row.cell / row.h
    if aspect > SHAPE_ASPECTS[1]:
        return WIDE
    return BROAD if aspect > SHAPE_ASPECTS[0] else TALL


class SegmentError(VisionError):
    """A plate crop could not be cut into its layout's characters."""


@dataclass(frozen=True)
class Segmentation:
    """Glyphs of a plate in reading order, their cells in crop pixels (x, y, w, h) and
    their row shape (:data:`TALL`, :data:`BROAD` or :data:`WIDE`: letters are drawn
    differently there)."""

    glyphs: list[np.ndarray]
    cells: list[tuple[float, float, float, float]]
    shapes: list[int]
    contrast: list[float]  # each cell's ink contrast over the plate's median
    ink: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    #: the crop window (x0, x1, y0, y1) each glyph was resampled from (see :func:`window`)
    windows: list[tuple[float, float, float, float]] = field(default_factory=list)


def ink_channel(crop: np.ndarray, plate_type: str) -> np.ndarray:
    """The channel in which characters are bright (uint8)."""
    if plate_type == "blue":
        return crop[:, :, 2]
    if plate_type in LIGHT_INK:
        return cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    if plate_type == "ebike":  # green ink: no red at all, twice the contrast of green
        return cv2.bitwise_not(crop[:, :, 2])
    return cv2.bitwise_not(crop[:, :, 1])


def ink_image(crop: np.ndarray, plate_type: str, layout: Layout,
              chan: np.ndarray | None = None) -> np.ndarray:
    """Ink strength in [0, 1] (characters bright), evened out against the background.

    The background is a horizontal opening longer than the widest character, so
    uneven light, the gradient of new-energy plates and glare wider than a
    character drop out while no character is taken for background.
    """
    if chan is None:
        chan = ink_channel(crop, plate_type)
    widest = max(r.cell for r in layout.rows)
    k = round(1.3 * widest * CROP_PX_PER_MM) | 1
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, 3))
    tophat = cv2.morphologyEx(chan, cv2.MORPH_TOPHAT, kernel).astype(np.float32)
    m = max(2, round(5 * CROP_PX_PER_MM))
    inner = tophat[m:-m, m:-m]
    scale = float(np.percentile(inner, 99)) if inner.size else 0.0
    if scale < 24.0:
        raise SegmentError("no contrast on the plate")
    return np.clip(tophat * (1.0 / scale), 0.0, 1.0)


def binarise(ink: np.ndarray) -> np.ndarray:
    """Boolean ink mask (Otsu on the evened-out ink image, never below a floor)."""
    u8 = (ink * 255).astype(np.uint8)
    thr, _ = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return u8 > max(thr, 70)


def segment(crop: np.ndarray, plate_type: str, layout: Layout) -> Segmentation:
    """Cut a rectified plate into its layout's glyphs (SegmentError when it does not fit)."""
    want = layout.crop_size()
    if (crop.shape[1], crop.shape[0]) != want:
        raise ValueError(f"crop must be {want}, not {crop.shape[1::-1]}")
    chan = ink_channel(crop, plate_type)
    ink = ink_image(crop, plate_type, layout, chan)
    mask = binarise(ink)
    mask &= ~_frame_lines(mask, layout)
    tall = _tall_parts(mask, layout)
    glyphs: list[np.ndarray] = []
    cells: list[tuple[float, float, float, float]] = []
    shapes: list[int] = []
    windows: list[tuple[float, float, float, float]] = []
    for i, row in enumerate(layout.rows):
        lo = row.y - 0.2 * row.h if i == 0 else _mid(layout.rows[i - 1], row)
        hi = (row.y + 1.2 * row.h if i == len(layout.rows) - 1
              else _mid(row, layout.rows[i + 1]))
        y0, y1 = _band(tall, lo * CROP_PX_PER_MM, hi * CROP_PX_PER_MM)
        nominal = row.h * CROP_PX_PER_MM
        if not 0.75 * nominal <= y1 - y0 <= 1.25 * nominal:
            raise SegmentError(f"text row {i + 1} is {y1 - y0} px high, {nominal:.0f} expected")
        q = mask[y0:y1].sum(axis=0).astype(np.float64)
        # Only near the row's nominal extent (rivet holes may share the band).
        span = (row.x0 + (row.n - 1) * row.pitch + row.dot_extra + row.cell) * CROP_PX_PER_MM
        reach = 0.08 * mask.shape[1]
        q[:max(0, int(row.x0 * CROP_PX_PER_MM - reach))] = 0.0
        q[int(np.ceil(span + reach)):] = 0.0
        lefts, cw = _fit_cells(q, row, mask.shape[1])
        # The glyph window has the row's nominal size, centred on the band and on the
        # cell's ink: the crop is to scale, so blur and glare (which change the measured
        # band and ink widths) do not change the glyph's scale.
        half_h = 0.5 * row.h * CROP_PX_PER_MM
        yc = 0.5 * (y0 + y1)
        nominal_w = row.cell * CROP_PX_PER_MM
        for x, (g, win) in zip(lefts, _cut(ink, mask, y0, y1, lefts, cw, nominal_w,
                                           yc - half_h, yc + half_h)):
            glyphs.append(g)
            windows.append(win)
            cells.append((float(x), float(yc - half_h), float(cw), float(2 * half_h)))
            shapes.append(row_shape(row))
    return Segmentation(glyphs, cells, shapes, _contrast(ink, cells), ink, windows)


def _frame_lines(mask: np.ndarray, layout: Layout) -> np.ndarray:
    """The plate's frame line down either side: vertical runs longer than any character.

    Left in the mask, it would pull the outermost character's window towards the edge
    of the crop (a ``1`` next to the frame becomes an ``L``). A run may lean a few
    pixels (the rectification is not exact) and touch a character: the character stays
    (but for the two columns nearest the frame).
    """
    long_run = round(1.3 * max(r.h for r in layout.rows) * CROP_PX_PER_MM)
    across = cv2.getStructuringElement(cv2.MORPH_RECT, (5, 1))
    leaning = cv2.dilate(mask.view(np.uint8), across)
    runs = cv2.morphologyEx(leaning, cv2.MORPH_OPEN,
                            cv2.getStructuringElement(cv2.MORPH_RECT, (1, long_run)))
    return ((cv2.dilate(runs, across) > 0) & mask) | _edge_pieces(mask)


#: Parts of the mask lying wholly this near (mm) the crop's left or right edge are the
#: frame line's (it lies 3-4 mm in; a character keeps 15 mm, give or take rectification).
FRAME_ZONE_MM = 9.0


def _edge_pieces(mask: np.ndarray) -> np.ndarray:
    """Pieces of a frame line broken by glare or wear (too short for a long run): parts
    wholly within ``FRAME_ZONE_MM`` of the crop's left or right edge. Left in, a piece
    pulls the outermost cell's fit and window outwards (a ``1`` read as ``L``)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    zone = round(FRAME_ZONE_MM * CROP_PX_PER_MM)
    x0 = stats[:, cv2.CC_STAT_LEFT]
    x1 = x0 + stats[:, cv2.CC_STAT_WIDTH]
    edge = (x0 >= mask.shape[1] - zone) | (x1 <= zone)
    edge[0] = False
    return edge[labels]


def _tall_parts(mask: np.ndarray, layout: Layout) -> np.ndarray:
    """The mask without parts too short (holes, the dot, noise) or too long (the frame)."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    lo = 0.3 * min(r.h for r in layout.rows) * CROP_PX_PER_MM
    hi = 1.3 * max(r.h for r in layout.rows) * CROP_PX_PER_MM
    wide = 1.5 * max(r.cell for r in layout.rows) * CROP_PX_PER_MM
    h, w = stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_WIDTH]
    keep = (h >= lo) & (h <= hi) & (w <= wide)
    keep[0] = False
    return keep[labels]


def _contrast(ink: np.ndarray, cells: list[tuple[float, float, float, float]]) -> list[float]:
    """Ink strength of each cell (the 99th percentile of the evened-out ink: the
    cores of thin strokes count too) relative to
    the plate's median: glare or a smudge washes a character out."""
    values = []
    for x, y, w, h in cells:
        roi = ink[max(0, int(y)):int(y + h), max(0, int(x)):int(x + w)]
        values.append(float(np.percentile(roi, 99)) if roi.size else 0.0)
    med = float(np.median(values)) if values else 0.0
    return [v / med if med > 0 else 0.0 for v in values]


def _mid(upper: RowGeometry, lower: RowGeometry) -> float:
    return 0.5 * (upper.y + upper.h + lower.y)


def _band(mask: np.ndarray, lo: float, hi: float) -> tuple[int, int]:
    """The rows of the text band within [lo, hi): the main run of inked lines."""
    h, w = mask.shape
    top, bottom = max(0, int(lo)), min(h, int(np.ceil(hi)))
    m = round(6 * CROP_PX_PER_MM)  # leave out the frame line
    prof = mask[top:bottom, m:w - m].sum(axis=1).astype(np.float32)
    if prof.size == 0 or prof.max() <= 0:
        raise SegmentError("empty text row")
    on = prof > max(2.0, 0.1 * float(np.percentile(prof, 90)))
    runs: list[list[int]] = []
    start = None
    for y, flag in enumerate(np.append(on, False)):
        if flag and start is None:
            start = y
        elif not flag and start is not None:
            if runs and start - runs[-1][1] <= max(2, round(3 * CROP_PX_PER_MM)):
                runs[-1][1] = y
            else:
                runs.append([start, y])
            start = None
    if not runs:
        raise SegmentError("empty text row")
    y0, y1 = max(runs, key=lambda r: float(prof[r[0]:r[1]].sum()))
    return top + y0, top + y1


def _fit_cells(q: np.ndarray, row: RowGeometry, width: int) -> tuple[np.ndarray, float]:
    """Left edges of the row's cells and their width that best cover the ink profile."""
    c = np.concatenate([[0.0], np.cumsum(q)])
    total = c[-1]
    if total <= 0:
        raise SegmentError("no ink in the text row")
    s = CROP_PX_PER_MM
    k = np.arange(row.n, dtype=np.float64)
    ratio = row.cell / row.pitch
    after = (k >= row.dot_after).astype(np.float64) if row.dot_after else np.zeros_like(k)

    def search(pitches: np.ndarray, extras: np.ndarray, x0s: np.ndarray
               ) -> tuple[float, float, float, float]:
        left = (x0s[None, None, :, None] + k * pitches[:, None, None, None]
                + after * extras[None, :, None, None])
        right = left + ratio * pitches[:, None, None, None]
        li = np.clip(np.rint(left), 0, width).astype(np.intp)
        ri = np.clip(np.rint(right), 0, width).astype(np.intp)
        inside = (c[ri] - c[li]).sum(axis=-1)
        i = np.unravel_index(int(np.argmax(inside * 2 - total)), inside.shape)
        return (float(pitches[i[0]]), float(extras[i[1]]), float(x0s[i[2]]),
                float(inside[i] / total))

    p0, e0, x00 = row.pitch * s, row.dot_extra * s, row.x0 * s
    pitches = np.arange(0.96 * p0, 1.04 * p0 + 0.5, 0.5)
    extras = np.arange(0.5 * e0, 1.5 * e0 + 0.5, 1.0) if row.dot_after else np.zeros(1)
    x0s = np.arange(x00 - 0.06 * width, x00 + 0.06 * width + 0.5, 1.0)
    p, e, x0, _ = search(pitches, extras, x0s)
    fine = np.arange(-1.0, 1.01, 0.25)
    p, e, x0, share = search(p + fine[2:-2], (e + fine) if row.dot_after else extras, x0 + fine)
    if share < 0.75:
        raise SegmentError(f"only {share:.0%} of the row's ink falls in character cells")
    return x0 + k * p + after * e, ratio * p


def _cut(ink: np.ndarray, mask: np.ndarray, y0: int, y1: int, lefts: np.ndarray,
         cw: float, window_w: float, top: float, bottom: float
         ) -> list[tuple[np.ndarray, tuple[float, float, float, float]]]:
    w = mask.shape[1]
    band_h = y1 - y0
    per_cell = _cell_columns(mask[y0:y1], lefts, cw)
    out = []
    for i, left in enumerate(lefts):
        colsum = per_cell[i]
        cols = colsum >= max(1, round(0.04 * band_h))
        gap_l = left - (lefts[i - 1] + cw) if i > 0 else 0.5 * cw
        gap_r = lefts[i + 1] - (left + cw) if i + 1 < len(lefts) else 0.5 * cw
        a = int(max(0, np.floor(left - min(0.45 * gap_l, 0.15 * cw))))
        b = int(min(w, np.ceil(left + cw + min(0.45 * gap_r, 0.15 * cw))))
        xs = np.flatnonzero(cols[a:b])
        if xs.size == 0 or int(colsum[a:b].sum()) < 0.05 * band_h * cw:
            raise SegmentError(f"character cell {i + 1} is empty")
        cx = a + 0.5 * (xs[0] + xs[-1] + 1)
        half = 0.5 * window_w
        win = (float(cx - half), float(cx + half), float(top), float(bottom))
        out.append((window(ink, *win), win))
    return out


def _cell_columns(band: np.ndarray, lefts: np.ndarray, cw: float) -> np.ndarray:
    """(cells, width) ink per column of the band, each connected part of it counted for the
    cells it belongs to: the one it overlaps most, and any other it overlaps by a third of
    its own width (blur may join two characters). A character's extent is so measured on
    its own ink: a neighbour's serif reaching into the cell's margin does not pull its
    window aside, and parts lying wholly between cells (the separator dot, specks) belong
    to no cell."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(band.view(np.uint8), connectivity=8)
    x0 = stats[1:, cv2.CC_STAT_LEFT].astype(np.float64)
    x1 = x0 + stats[1:, cv2.CC_STAT_WIDTH]
    overlap = np.clip(np.minimum(x1[:, None], lefts[None, :] + cw)
                      - np.maximum(x0[:, None], lefts[None, :]), 0.0, None)  # (parts, cells)
    most = overlap.max(axis=1, keepdims=True)
    member = (overlap > 0) & ((overlap >= most) | (overlap >= (x1 - x0)[:, None] / 3))
    w = band.shape[1]
    # ink per column of each part (label 0, the background, dropped)
    per_part = np.bincount((labels * w + np.arange(w)).ravel(), minlength=n * w).reshape(n, w)
    out: np.ndarray = member.T.astype(np.int64) @ per_part[1:]
    return out


def window(ink: np.ndarray, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
    """Resample ink[y0:y1, x0:x1] (subpixel, zero outside) to GLYPH_H x GLYPH_W."""
    sx = (x1 - x0) / GLYPH_W
    sy = (y1 - y0) / GLYPH_H
    m = np.array([[sx, 0.0, x0 + 0.5 * sx - 0.5], [0.0, sy, y0 + 0.5 * sy - 0.5]])
    out: np.ndarray = cv2.warpAffine(ink, m, (GLYPH_W, GLYPH_H),
                                     flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                     borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return out
