"""Glare detector: where a specular highlight has washed out a plate's characters.

A highlight adds the same amount ``s`` of white light to every channel, clipped at
full scale. Where ``s`` is large the ink and the background both clip and the
character there can no longer be seen: a glyph read there may be confidently
wrong (a ``Q`` whose tail is washed out looks like a ``0``). Such positions are
reported as unreliable, and the decision rule makes them a VISION_FAULT.

``s`` is measured in one of two ways:

* Plates whose background and ink differ in colour (blue, yellow, yellow_green,
  green, ebike): a linear functional ``phi`` of (B, G, R) that is blind to the
  mix of the plate's materials (so characters, blur and their edges do not move
  it) and grows by exactly ``s`` for white light added. ``s = phi - median(phi)``
  (most of a plate is free of glare).
* Neutral plates (black ink-on-white, white-on-black): the background is
  measured where it is open (away from the strokes) and on ink strokes whose
  centre lost its darkness; the evidence is spread over a glare's reach.

A pixel is *washed* when ``s`` exceeds the type's limit: the amount of white
that leaves less than about 60 % of the ink contrast (from the plate colours of
GA 36-2018). :func:`position_glare` gives, per character cell, the share of the
cell that is washed.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .layouts import CROP_PX_PER_MM

Cell = tuple[float, float, float, float]

# Plates whose background and ink differ in colour: their materials (B, G, R) as
# GA 36-2018 colours, backgrounds first, the ink last.
_MATERIALS: dict[str, tuple[tuple[float, float, float], ...]] = {
    "yellow": ((0, 194, 242), (22, 22, 22)),
    "yellow_green": ((0, 194, 242), (90, 176, 69), (22, 22, 22)),
    "ebike": ((238, 244, 244), (60, 112, 0)),
}
#: White light (grey levels) that leaves about a third of the ink contrast.
WASH_LIMIT: dict[str, float] = {"yellow": 170.0, "yellow_green": 170.0, "ebike": 170.0,
                                "blue": 160.0, "black": 150.0}
#: Coloured ink on a light background: glare is measured on the strokes.
ON_STROKES = frozenset({"ebike"})
#: Plates whose light background is no evidence of glare (the white top of the green
#: gradient clips under a mere sheen): glare counts there only where strokes faded.
FADING_ONLY = frozenset({"green"})
#: Light-background plates: the share of the background's headroom to full scale
#: that glare must fill to count.
ROOM_SHARE = 0.8
#: Share of a cell that may be washed before its position counts as unreliable.
MAX_WASHED_SHARE = 0.03
#: Share of a cell that may be washed when the glyph was judged on its visible part
#: only (the masked comparison); beyond it the position is a VISION_FAULT.
MAX_MASKED_SHARE = 0.25
#: Share of its darkness a stroke centre must lose to count as washed.
FADED = 0.65
#: Ink strength (of the plate's strongest) that still counts as a stroke.
FAINT_INK = 0.2
#: Ink strength above which a pixel is taken for a stroke whose fading is measured.
STROKE_INK = 0.4
_REACH = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (21, 21))


def _functional(materials: Sequence[tuple[float, float, float]]) -> np.ndarray:
    """phi with phi . (m_i - m_0) = 0 for every material and phi . (1, 1, 1) = 1."""
    mats = np.asarray(materials, np.float64)
    q, _ = np.linalg.qr((mats[1:] - mats[0]).T)
    n = np.ones(3)
    perp = n - q @ (q.T @ n)
    return perp / float(perp @ n)


_PHI = {t: _functional(m).astype(np.float32) for t, m in _MATERIALS.items()}


def _inner(shape: tuple[int, ...]) -> tuple[slice, slice]:
    m = round(6 * CROP_PX_PER_MM)
    return slice(m, shape[0] - m), slice(m, shape[1] - m)


def washed_map(crop: np.ndarray, plate_type: str, ink: np.ndarray) -> np.ndarray:
    """Boolean map of the crop's pixels washed out by glare (``ink``: the crop's ink
    strength in [0, 1], see :func:`.segment.ink_image`)."""
    f = crop.astype(np.float32)
    inner = _inner(f.shape)
    phi = _PHI.get(plate_type)
    if phi is not None and plate_type in ON_STROKES:
        # a light background clips at once: glare shows on the strokes only
        p = cv2.blur(f @ phi, (3, 3))
        strokes = ink > STROKE_INK
        level = float(np.median(p[strokes])) if strokes.any() else float(np.median(p))
        washed = cv2.dilate(((p - level > WASH_LIMIT[plate_type]) & strokes).astype(np.uint8),
                            _REACH).astype(bool)
    elif phi is not None:
        p = cv2.blur(f @ phi, (5, 5))
        washed = (p - float(np.median(p[inner]))) > WASH_LIMIT[plate_type]
    else:
        washed = _by_background(f, plate_type, ink)
    out = np.zeros(washed.shape, bool)
    out[inner] = washed[inner]
    return out


def _by_background(f: np.ndarray, plate_type: str, strength: np.ndarray) -> np.ndarray:
    """Glare measured on the open background (away from strokes), row by row against
    the plate's own level, spread over a glare's reach; on light plates also the ink
    strokes that faded."""
    w = cv2.blur(f.min(axis=2), (3, 3))
    inner = _inner(w.shape)
    ink = strength > FAINT_INK
    far = cv2.distanceTransform((~ink).astype(np.uint8), cv2.DIST_L2, 3) > 3.0
    far[:inner[0].start] = far[inner[0].stop:] = False
    far[:, :inner[1].start] = far[:, inner[1].stop:] = False
    level = _row_level(w, far)
    s = np.where(far, w - level, 0.0).astype(np.float32)
    if plate_type in WASH_LIMIT:  # light ink on a dark background
        return cv2.dilate(s, _REACH) > WASH_LIMIT[plate_type]
    room = np.maximum(255.0 - level, 1.0)
    bright = ((s > ROOM_SHARE * room) & (room > 10.0)
              & (plate_type not in FADING_ONLY)).astype(np.uint8)
    bright = cv2.morphologyEx(bright, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8)).astype(bool)
    return cv2.dilate((bright | _faded(w, strength > STROKE_INK, level)).astype(np.uint8),
                      _REACH).astype(bool)


def _row_level(w: np.ndarray, sel: np.ndarray) -> np.ndarray:
    """Median of ``w`` over ``sel`` per row, filled and smoothed along the rows."""
    counts = sel.sum(axis=1)
    vals = np.where(sel, w, np.nan)
    med = np.full(w.shape[0], np.nan, np.float32)
    rows = counts >= 8
    if rows.any():
        med[rows] = np.nanmedian(vals[rows], axis=1)
    ok = ~np.isnan(med)
    if not ok.any():
        med[:] = float(np.median(w))
    else:
        med = np.interp(np.arange(len(med)), np.flatnonzero(ok), med[ok]).astype(np.float32)
    smooth: np.ndarray = cv2.GaussianBlur(med[:, None], (1, 0), 3.0)
    return smooth.reshape(-1, 1)


def _faded(w: np.ndarray, ink: np.ndarray, level: np.ndarray) -> np.ndarray:
    """Stroke pixels whose centre lost two thirds of its darkness (dark ink on a light plate);
    thin strokes (which blur lightens everywhere) and specks left out."""
    if not ink.any():
        return np.zeros(w.shape, bool)
    core = cv2.erode(w, np.ones((3, 3), np.uint8))
    dark = float(np.percentile(core[ink], 10))
    depth = level - dark
    faded = (ink & (core - dark > FADED * depth) & (depth > 20.0)).astype(np.uint8)
    return cv2.morphologyEx(faded, cv2.MORPH_OPEN, _THICK).astype(bool)


_THICK = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))


def position_glare(washed: np.ndarray, cells: Sequence[Cell]) -> np.ndarray:
    """Per cell (x, y, w, h in crop pixels): the share of it that is washed out."""
    out = np.zeros(len(cells), np.float32)
    h, w = washed.shape
    for i, (x, y, cw, ch) in enumerate(cells):
        roi = washed[max(0, int(y)):min(h, int(np.ceil(y + ch))),
                     max(0, int(x)):min(w, int(np.ceil(x + cw)))]
        out[i] = float(roi.mean()) if roi.size else 1.0
    return out
