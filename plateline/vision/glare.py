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
* Light-ink plates (blue, black) also: white ink cannot get whiter, so a highlight
  over a character shows only where it whitens the gaps between strokes, which
  then look like ink. Such a hidden highlight is found from its halo on the open
  background (a bump of added light, fitted and followed into the strokes) and
  from a patch wider than a stroke clipped whiter than the plate's ink.

A pixel is *washed* when ``s`` exceeds the type's limit (``WASH_LIMIT``): the
amount of white that leaves about a third of the ink contrast, on yellow plates
half (from the plate colours of GA 36-2018). :func:`position_glare` gives, per
character cell, the share of the cell that is washed.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .layouts import CROP_PX_PER_MM
from .segment import LIGHT_INK

Cell = tuple[float, float, float, float]

# Plates whose background and ink differ in colour: their materials (B, G, R) as
# GA 36-2018 colours, backgrounds first, the ink last.
_MATERIALS: dict[str, tuple[tuple[float, float, float], ...]] = {
    "yellow": ((0, 194, 242), (22, 22, 22)),
    "yellow_green": ((0, 194, 242), (90, 176, 69), (22, 22, 22)),
    "ebike": ((238, 244, 244), (60, 112, 0)),
}
#: White light (grey levels) that leaves about a third of the ink contrast; on yellow
#: plates less than half (a spot in an ``O``'s counter that took half the contrast of
#: its inner edges made it read ``0``).
WASH_LIMIT: dict[str, float] = {"yellow": 140.0, "yellow_green": 140.0, "ebike": 170.0,
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
#: The same for dark ink on a light plate when the glyph read has its own ink seen in
#: the washed part (``model.masked_scores`` with ``seen_ref``): light only lifts dark
#: ink, so ink seen there is ink, and a glyph whose strokes there are seen is no guess.
MAX_SEEN_SHARE = 0.75
#: Share of its darkness a stroke centre must lose to count as washed.
FADED = 0.65
#: Ink strength (of the plate's strongest) that still counts as a stroke.
FAINT_INK = 0.2
#: Ink strength above which a pixel is taken for a stroke whose fading is measured.
STROKE_INK = 0.4
_REACH = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (21, 21))


def masked_limit(plate_type: str) -> float:
    """The share of a cell that may be washed when it was judged by the masked check (on
    light ink glare can make background look like ink: no seen-ink rule there)."""
    return MAX_MASKED_SHARE if plate_type in LIGHT_INK else MAX_SEEN_SHARE


def needs_seen_ink(plate_type: str, share: float) -> bool:
    """Whether a cell this much washed is judged with the ink seen under the glare."""
    return share > MAX_MASKED_SHARE and masked_limit(plate_type) > MAX_MASKED_SHARE


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
    strokes that faded (on green plates, where only they count, with the parts that
    faded below a stroke's strength: :func:`_with_faint_parts`)."""
    # channel by channel: a reduction over the last axis is ten times slower
    w = cv2.blur(np.minimum(np.minimum(f[:, :, 0], f[:, :, 1]), f[:, :, 2]), (3, 3))
    inner = _inner(w.shape)
    ink = strength > FAINT_INK
    far = cv2.distanceTransform((~ink).astype(np.uint8), cv2.DIST_L2, 3) > 3.0
    far[:inner[0].start] = far[inner[0].stop:] = False
    far[:, :inner[1].start] = far[:, inner[1].stop:] = False
    level = _row_level(w, far)
    s = np.where(far, w - level, 0.0).astype(np.float32)
    if plate_type in WASH_LIMIT:  # light ink on a dark background
        return _light_ink_washed(w, s, far, strength, level, WASH_LIMIT[plate_type])
    room = np.maximum(255.0 - level, 1.0)
    bright = ((s > ROOM_SHARE * room) & (room > 10.0)
              & (plate_type not in FADING_ONLY)).astype(np.uint8)
    bright = cv2.morphologyEx(bright, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8)).astype(bool)
    strokes = _with_faint_parts(strength) if plate_type in FADING_ONLY else strength > STROKE_INK
    return cv2.dilate((bright | _faded(w, strokes, level, far)).astype(np.uint8),
                      _REACH).astype(bool)


def _with_faint_parts(strength: np.ndarray) -> np.ndarray:
    """Strokes with the parts a highlight faded below ``STROKE_INK``: faint ink
    (``FAINT_INK``) connected to a stroke (hysteresis). Where only faded strokes show
    glare, a stroke that lost more than half its strength must still be measured; a
    rivet or a speck, faint all over, is no stroke."""
    n, labels = cv2.connectedComponents((strength > FAINT_INK).view(np.uint8), connectivity=8)
    strong = np.zeros(n, bool)
    strong[np.unique(labels[strength > STROKE_INK])] = True
    strong[0] = False
    return strong[labels]


def _light_ink_washed(w: np.ndarray, s: np.ndarray, far: np.ndarray, strength: np.ndarray,
                      level: np.ndarray, limit: float) -> np.ndarray:
    """Washed pixels of a light-ink plate (blue, black).

    White ink cannot get much whiter, so a highlight shows on the background: where it
    is open (``s``, measured away from strokes), where the highlight made the gaps
    between strokes as bright as the strokes themselves (they then look like ink, and
    only the halo on the open background around them is seen: :func:`_hidden_peaks`),
    and where it clipped to a white brighter than the plate's ink (:func:`_whiter`).
    The limit is the smaller of ``limit`` and ``LIGHT_WASHED`` of the plate's own
    ink-to-background range (a highlight clipped to white under dim light adds less
    than ``limit``).
    """
    strokes = strength > STROKE_INK
    white = float(np.percentile(w[strokes], 90)) if strokes.sum() >= 50 else float(w.max())
    span = np.maximum(white - level, 1.0)
    lim = np.minimum(limit, LIGHT_WASHED * span)
    washed = cv2.dilate(s, _REACH) > lim
    hidden = _hidden_peaks(s, far, span, lim) | _whiter(w, strokes)
    # white light next to what was found looks like ink: distrust a glare's reach
    return washed | cv2.dilate(hidden.view(np.uint8), _REACH).astype(bool)


#: Share of a light-ink plate's ink-to-background range that glare must add to wash.
LIGHT_WASHED = 0.7
#: Share of that range above which open background counts as the halo of a highlight.
HALO_SHARE = 0.12
#: An extrapolated peak counts where it passes the limit by this factor (the fit is off
#: by up to about 20 % on the station's sheens; a clipped highlight passes by 50 %).
PEAK_MARGIN = 1.25
_JOIN = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (17, 17))


def _hidden_peaks(s: np.ndarray, far: np.ndarray, span: np.ndarray, lim: np.ndarray
                  ) -> np.ndarray:
    """Where a highlight whose halo shows on the open background washes the strokes.

    A specular highlight is a smooth bump of added light (close to a Gaussian), so
    ``log s`` over its halo is a concave quadratic of the position. It is fitted on the
    halo's unclipped open-background pixels and extended over the strokes around
    them; where it passes ``lim`` the pixel is washed. A halo that the model does not
    describe (too few pixels, not a bump) counts as washed where it is strongest:
    doubt ends in glare, never in a reading.
    """
    out = np.zeros(s.shape, bool)
    halo = far & (s > HALO_SHARE * span)
    if halo.sum() < 12:
        return out
    joined = cv2.dilate(halo.view(np.uint8), _JOIN)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    h, w = s.shape
    for k in range(1, n):
        x, y, bw, bh = (int(v) for v in stats[k, :4])
        x0, y0 = max(0, x - 8), max(0, y - 8)
        x1, y1 = min(w, x + bw + 8), min(h, y + bh + 8)
        box = (slice(y0, y1), slice(x0, x1))
        sel = halo[box] & (labels[box] == k)
        top = float(s[box][sel].max()) if sel.any() else 0.0
        if top <= 0.0:
            continue
        ys, xs = np.nonzero(sel & (s[box] < 0.9 * span[box[0]]))
        pred = _bump(xs, ys, s[box][ys, xs], (y1 - y0, x1 - x0))
        if pred is None:
            # not a bump the model describes: trust nothing near its strongest part
            strong = sel & (s[box] > 0.8 * top)
            bad = cv2.dilate(strong.view(np.uint8), _JOIN).astype(bool) & (top > 0.8 * lim[box[0]])
        else:
            bad = pred > PEAK_MARGIN * lim[box[0]]
        out[box] |= bad
    return out


def _bump(xs: np.ndarray, ys: np.ndarray, vals: np.ndarray, shape: tuple[int, int]
          ) -> np.ndarray | None:
    """The fitted ``exp(quadratic)`` bump over a box of ``shape``, or None when the
    samples do not describe a bump (too few, not concave)."""
    if xs.size < 12:
        return None
    x = xs.astype(np.float64)
    y = ys.astype(np.float64)
    cx, cy = x.mean(), y.mean()
    x, y = x - cx, y - cy
    a = np.stack([np.ones_like(x), x, y, x * x, y * y, x * y], axis=1)
    wts = np.sqrt(vals)  # the stronger samples carry the peak
    coef, *_ = np.linalg.lstsq(a * wts[:, None], np.log(vals) * wts, rcond=None)
    c0, cx1, cy1, cxx, cyy, cxy = coef
    if not (cxx < 0 and cyy < 0 and 4 * cxx * cyy - cxy * cxy > 0):
        return None
    gx = np.arange(shape[1], dtype=np.float64)[None, :] - cx
    gy = np.arange(shape[0], dtype=np.float64)[:, None] - cy
    q = c0 + cx1 * gx + cy1 * gy + cxx * gx * gx + cyy * gy * gy + cxy * gx * gy
    return np.exp(np.minimum(q, 12.0))


def _row_level(w: np.ndarray, sel: np.ndarray) -> np.ndarray:
    """Median of ``w`` over ``sel`` per row, filled and smoothed along the rows."""
    counts = sel.sum(axis=1)
    med = np.full(w.shape[0], np.nan, np.float32)
    rows = np.flatnonzero(counts >= 8)
    if rows.size:
        # unselected pixels sort last; the median is the middle of the first ``count``
        ordered = np.sort(np.where(sel[rows], w[rows], np.inf), axis=1)
        c = counts[rows]
        med[rows] = (ordered[np.arange(rows.size), (c - 1) // 2].astype(np.float64)
                     + ordered[np.arange(rows.size), c // 2]) / 2
    ok = ~np.isnan(med)
    if not ok.any():
        med[:] = float(np.median(w))
    else:
        med = np.interp(np.arange(len(med)), np.flatnonzero(ok), med[ok]).astype(np.float32)
    smooth: np.ndarray = cv2.GaussianBlur(med[:, None], (1, 0), 3.0)
    return smooth.reshape(-1, 1)


def _faded(w: np.ndarray, ink: np.ndarray, level: np.ndarray, far: np.ndarray) -> np.ndarray:
    """Stroke pixels whose centre lost two thirds of its darkness (dark ink on a light plate)
    against the background around it; thin strokes (which blur lightens everywhere) and
    specks left out.

    Added light that does not clip lifts a stroke and the background beside it alike: the
    character keeps its contrast and nothing is washed. The background beside a stroke is
    the open background (``far``) within about a character's width, never taken darker
    than the row's level (a shadow darkens the stroke too)."""
    if not ink.any():
        return np.zeros(w.shape, bool)
    core = cv2.erode(w, np.ones((3, 3), np.uint8))
    dark = float(np.percentile(core[ink], 10))
    depth = level - dark
    open_bg = far.astype(np.float32)
    weight = cv2.blur(open_bg, _BESIDE)
    beside = np.where(weight > 0.05, cv2.blur(w * open_bg, _BESIDE) / np.maximum(weight, 1e-6),
                      level)
    local = np.maximum(beside, level)
    faded = (ink & (local - core < (1.0 - FADED) * depth) & (depth > 20.0)).astype(np.uint8)
    return cv2.morphologyEx(faded, cv2.MORPH_OPEN, _THICK).astype(bool)


#: Neighbourhood (crop pixels) whose open background a stroke's contrast is measured
#: against: about a character's width.
_BESIDE = (41, 41)
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


#: Clipped white: brighter than the plate's ink by this many grey levels (white ink
#: reflects about 95 % of the light; a highlight clipped at full scale is whiter).
WHITER = 7.0
_CORE = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
_PATCH = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (13, 13))


def _whiter(w: np.ndarray, strokes: np.ndarray) -> np.ndarray:
    """Pixels of a light-ink plate clipped to a white brighter than its ink.

    The ink's own level is a plane fitted to the stroke cores (uneven light), trimmed
    of outliers (a highlight among them); where the ink itself clips (bright light)
    nothing is whiter and nothing is flagged here.
    """
    core = cv2.erode(strokes.view(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    inner = _inner(w.shape)
    sel = np.zeros(w.shape, bool)
    sel[inner] = core[inner]
    ys, xs = np.nonzero(sel)
    if ys.size < 200:
        return np.zeros(w.shape, bool)
    smooth = cv2.blur(w, (5, 5))
    vals = smooth[ys, xs].astype(np.float64)
    a = np.stack([np.ones(ys.size), xs / w.shape[1], ys / w.shape[0]], axis=1)
    keep = np.ones(ys.size, bool)
    for _ in range(3):
        coef, *_ = np.linalg.lstsq(a[keep], vals[keep], rcond=None)
        res = vals - a @ coef
        spread = 1.4826 * float(np.median(np.abs(res[keep])))
        keep = np.abs(res) <= max(3.0 * spread, 2.0)
    plane = (coef[0] + coef[1] * np.arange(w.shape[1], dtype=np.float32)[None, :] / w.shape[1]
             + coef[2] * np.arange(w.shape[0], dtype=np.float32)[:, None] / w.shape[0])
    over = (smooth - plane > max(WHITER, 3.0 * spread)) & (plane < 250.0)
    clipped = np.zeros(w.shape, np.uint8)
    clipped[inner] = over[inner]
    # a highlight on a stroke alone clips the stroke (it loses nothing); one that clipped
    # a patch wider than strokes also whitened the background between them
    patch = cv2.morphologyEx(clipped, cv2.MORPH_OPEN, _PATCH)
    return cv2.dilate(patch, _CORE).astype(bool)
