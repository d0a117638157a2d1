"""Find the plates in a frame and rectify each one to a fronto-parallel crop.

1. On a 1/4-scale copy, everything that is not tray floor is foreground: pixels
   whose lightness differs from the floor's (a quadratic in x and y fitted robustly
   on a 1/16-scale copy, which follows uneven light and vignetting) by more than
   ``REL_CONTRAST``, or whose colour is saturated. Plates are light (white, e-bike, the top of green),
   dark (black) or saturated (blue, yellow, green); the tray's walls and rim differ
   from the floor by less.
2. Each outer contour of a component is kept when its minimum-area rectangle is filled
   (``MIN_FILL``) and has a plate's aspect ratio: 440 x 140 mm (3.14),
   480 x 140 (3.43) or 2:1 (two-row and e-bike plates). The A5 job ticket (1.42),
   the belt, the rails and the tray walls fail this test. A component that fails
   is eroded a little, in case a plate and the ticket lying close grew together;
   failing that, it is judged on its convex hull when that is a small dent away
   (``MIN_SOLIDITY``: glare can make a bite of a dark plate's edge look like floor).
3. At full resolution each side of the rectangle is re-measured: along
   perpendicular profiles the outermost strong colour edges are found, and of the
   straight runs of them along the side (lines through pairs of edges half the side
   apart, refitted by least squares) the outermost one that holds about as many
   profiles as the best and runs parallel to it is the outline (not the frame line
   inside it, nor a shadow's outline along part of the side). Adjacent lines are
   intersected: the corners as perspective left them.
4. :func:`rectify` warps the quad to its layout's crop (``CROP_PX_PER_MM``).

Plates are taken to lie right way up within +-45 degrees.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .layouts import CROP_PX_PER_MM, Layout

SCALE = 4  # locate works on a 1/SCALE copy
BG_SCALE = 16
REL_CONTRAST = 0.33
MIN_CHROMA = 22.0
MIN_FILL = 0.82
#: Accepted long/short side ratios: two-row / e-bike (2.0) and single-row (3.14, 3.43).
ASPECTS = ((1.75, 2.35), (2.75, 3.85))
#: Plate long side in frame pixels (reference frames: 0.9 px/mm, 270 ... 432 px).
MIN_LONG_PX = 120.0
MAX_LONG_PX = 900.0


@dataclass(frozen=True)
class Candidate:
    """A plate-shaped region: ``quad`` corners TL, TR, BR, BL (frame pixels, float)."""

    quad: np.ndarray
    aspect: float

    @property
    def rows(self) -> int:
        """1 for a single-row plate shape, 2 for the 2:1 shapes."""
        return 2 if self.aspect < 2.55 else 1


def _floor_model(light: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Lightness of the tray floor at every pixel of ``light`` (a small L image).

    The light field (gradient, vignetting) is smooth, so the floor is a quadratic
    in x and y, fitted robustly to the neutral pixels that agree with it.
    """
    h, w = light.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    x, y = xx / w - 0.5, yy / h - 0.5
    basis = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1).reshape(-1, 6)
    values = light.reshape(-1).astype(np.float32)
    centre = usable & (np.abs(x) < 0.3) & (np.abs(y) < 0.3)
    level = float(np.median(values[centre.reshape(-1)])) if centre.any() else float(
        np.median(values))
    fit = np.full(values.shape, level, np.float32)
    keep = usable.reshape(-1)
    for tol in (0.35, 0.25, 0.2, 0.2):
        sel = keep & (np.abs(values - fit) < tol * np.maximum(fit, 20.0))
        if sel.sum() < 12:
            break
        a = basis[sel]
        coef = np.linalg.solve(a.T @ a + 1e-3 * np.eye(6, dtype=np.float32), a.T @ values[sel])
        fit = basis @ coef
    return fit.reshape(h, w)


def foreground(small: np.ndarray) -> np.ndarray:
    """Mask (uint8 0/255) of what is not tray floor in a reduced BGR frame."""
    lab = cv2.cvtColor(small, cv2.COLOR_BGR2Lab)
    light = lab[:, :, 0]
    a = lab[:, :, 1].astype(np.int16) - 128
    b = lab[:, :, 2].astype(np.int16) - 128
    coloured = (a * a + b * b) > int(MIN_CHROMA ** 2)
    h, w = light.shape
    k = BG_SCALE // SCALE
    size = (max(1, w // k), max(1, h // k))
    tiny = cv2.resize(light, size, interpolation=cv2.INTER_AREA)
    neutral = cv2.resize((~coloured).astype(np.uint8), size, interpolation=cv2.INTER_AREA) > 0
    floor = cv2.resize(_floor_model(tiny, neutral), (w, h), interpolation=cv2.INTER_LINEAR)
    diff = np.abs(light.astype(np.float32) - floor)
    mask = (diff > REL_CONTRAST * np.maximum(floor, 20.0)) | coloured
    return mask.astype(np.uint8) * 255


def _ordered(box: np.ndarray) -> np.ndarray:
    """Rectangle corners as TL, TR, BR, BL with the long side across."""
    c = box.mean(axis=0)
    e1, e2 = box[1] - box[0], box[2] - box[1]
    long_v, short_v = (e1, e2) if np.hypot(*e1) >= np.hypot(*e2) else (e2, e1)
    if long_v[0] < 0:
        long_v = -long_v
    if short_v[1] < 0:
        short_v = -short_v
    u, v = long_v / 2, short_v / 2
    return np.array([c - u - v, c + u - v, c + u + v, c - u + v], np.float64)


def reduce(image: np.ndarray) -> np.ndarray:
    """The 1/SCALE copy of a frame that locating works on."""
    h, w = image.shape[:2]
    return cv2.resize(image, (w // SCALE, h // SCALE), interpolation=cv2.INTER_AREA)


def candidates(image: np.ndarray, small: np.ndarray | None = None) -> list[Candidate]:
    """Plate-shaped regions of a BGR frame, refined at full resolution (``small``: the
    frame's :func:`reduce` copy when the caller has it)."""
    if small is None:
        small = reduce(image)
    mask = foreground(small)
    contours, hier = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    out: list[Candidate] = []
    for i, cnt in enumerate(contours):
        if hier[0][i][3] != -1 or len(cnt) < 4:  # a hole, not an outer border
            continue
        rect = _plate_rect(cnt, 0)
        if rect is None:
            # maybe two things close together (a plate and the ticket) grew into one,
            # or glare took a bite out of a plate's edge
            rects = _split(mask, cnt) or _dented(cnt)
        else:
            rects = [rect]
        for r in rects:
            quad = _ordered(cv2.boxPoints(r).astype(np.float64) * SCALE + (SCALE - 1) / 2)
            refined = refine_quad(image, quad)
            if refined is None:
                continue
            aspect = _aspect(refined)
            if any(lo <= aspect <= hi for lo, hi in ASPECTS):
                out.append(Candidate(refined, aspect))
    out.sort(key=lambda c: (float(c.quad[:, 1].mean()), float(c.quad[:, 0].mean())))
    return out


Rect = tuple[tuple[float, float], tuple[float, float], float]


def _plate_rect(cnt: np.ndarray, grow: int) -> Rect | None:
    """The contour's minimum-area rectangle (grown by ``grow`` px a side) if plate-shaped."""
    if len(cnt) < 4:
        return None
    (cx, cy), (rw, rh), angle = cv2.minAreaRect(cnt)
    fill = cv2.contourArea(cnt) / max(rw * rh, 1e-6)
    rw, rh = rw + 2 * grow, rh + 2 * grow
    long_px, short_px = max(rw, rh) * SCALE, min(rw, rh) * SCALE
    if short_px <= 0 or not MIN_LONG_PX <= long_px <= MAX_LONG_PX:
        return None
    if not any(lo <= long_px / short_px <= hi for lo, hi in ASPECTS):
        return None
    if fill < MIN_FILL:
        return None
    return (cx, cy), (rw, rh), angle


#: A contour dented by glare keeps at least this share of its convex hull's area.
MIN_SOLIDITY = 0.75


def _dented(cnt: np.ndarray) -> list[Rect]:
    """The plate-shaped rectangle of a contour whose edge a highlight made look like
    floor (a dent the rectangle's fill does not allow): judged on its convex hull, when
    the dent is small."""
    hull = cv2.convexHull(cnt)
    if cv2.contourArea(cnt) < MIN_SOLIDITY * max(cv2.contourArea(hull), 1e-6):
        return []
    rect = _plate_rect(hull, 0)
    return [] if rect is None else [rect]


def _split(mask: np.ndarray, cnt: np.ndarray) -> list[Rect]:
    """Plate-shaped parts of a component that appear when it is eroded a little."""
    x, y, w, h = cv2.boundingRect(cnt)
    if w * SCALE < MIN_LONG_PX or w * h * SCALE * SCALE > 4 * MAX_LONG_PX * MAX_LONG_PX:
        return []
    pad = 2
    roi: np.ndarray = np.zeros((h + 2 * pad, w + 2 * pad), np.uint8)
    cv2.drawContours(roi, [cnt - np.array([x - pad, y - pad])], -1, 255, cv2.FILLED)
    roi = cv2.bitwise_and(roi, cv2.copyMakeBorder(mask[y:y + h, x:x + w], pad, pad, pad, pad,
                                                  cv2.BORDER_CONSTANT))
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
    for k in (1, 2):
        roi = cv2.erode(roi, kernel)
        parts, _ = cv2.findContours(roi, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if len(parts) < 2:
            continue
        found = []
        for part in parts:
            rect = _plate_rect(part, k)
            if rect is not None:
                (cx, cy), size, angle = rect
                found.append(((cx + x - pad, cy + y - pad), size, angle))
        if found:
            return found
    return []


def _aspect(quad: np.ndarray) -> float:
    top, bottom = np.hypot(*(quad[1] - quad[0])), np.hypot(*(quad[2] - quad[3]))
    left, right = np.hypot(*(quad[3] - quad[0])), np.hypot(*(quad[2] - quad[1]))
    return float((top + bottom) / max(left + right, 1e-6))


_SIDES = ((0, 1), (1, 2), (2, 3), (3, 0))
_BASE = 2  # profile samples (0.5 px each) between the two ends of an edge measurement
MIN_EDGE = 7.0  # colour step (grey levels, over 1 px) that counts as an edge
EDGE_SHARE = 0.3  # of the strongest step across a side: the plate outline, not its frame line


def refine_quad(image: np.ndarray, quad: np.ndarray, reach: float = 8.0,
                n_points: int = 24) -> np.ndarray | None:
    """Corners re-measured on the outermost colour edge of each side (None: no edge)."""
    centre = quad.mean(axis=0)
    lines = []
    steps = np.arange(-reach, reach + 0.01, 0.5)
    for a, b in _SIDES:
        p, q = quad[a], quad[b]
        d = q - p
        length = float(np.hypot(*d))
        if length < 8:
            return None
        t = d / length
        n = np.array([t[1], -t[0]])
        if np.dot(n, centre - p) > 0:
            n = -n  # outward normal
        s = np.linspace(0.12, 0.88, n_points)[:, None]
        base = p + s * d
        pts = base[:, None, :] + steps[None, :, None] * n  # inner (-) to outer (+)
        mapx = pts[..., 0].astype(np.float32)
        mapy = pts[..., 1].astype(np.float32)
        prof = cv2.remap(image, mapx, mapy, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        # against sensor noise: smooth along the profile and with the neighbouring ones
        prof = np.asarray(cv2.GaussianBlur(prof, (3, 3), 0.8), np.float32)
        # colour step over a 1 px baseline
        grad = np.sqrt(((prof[:, _BASE:] - prof[:, :-_BASE]) ** 2).sum(axis=2))
        pts, prof_id = _edges(grad, base, n, steps[:-_BASE] + 0.25 * _BASE)
        line = _outer_line(pts, prof_id, n, n_points // 3)
        if line is None:
            return None
        lines.append(line)
    corners = []
    for i in range(4):
        (p1, d1), (p2, d2) = lines[i - 1], lines[i]
        m = np.array([d1, -d2]).T
        if abs(np.linalg.det(m)) < 1e-6:
            return None
        s1, _ = np.linalg.solve(m, p2 - p1)
        corners.append(p1 + s1 * d1)
    out = np.array(corners)
    if np.max(np.abs(out - quad)) > 3 * reach:
        return None
    return out


#: Per profile, this many of the outermost strong edges are line candidates.
EDGES_PER_PROFILE = 3


def _edges(grad: np.ndarray, base: np.ndarray, normal: np.ndarray, steps: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Per profile, the sub-pixel places of its outermost ``EDGES_PER_PROFILE`` edges
    (local maxima at least EDGE_SHARE as strong as the profile's strongest), and the
    profile of each; profiles without a clear edge give none."""
    peak = grad.max(axis=1)
    width = grad.shape[1]
    left = np.concatenate([np.full((grad.shape[0], 1), -1.0), grad[:, :-1]], axis=1)
    right = np.concatenate([grad[:, 1:], np.full((grad.shape[0], 1), -1.0)], axis=1)
    top = (grad >= left) & (grad > right) & (grad >= EDGE_SHARE * peak[:, None]) \
        & (peak[:, None] >= MIN_EDGE)
    # keep the outermost few of each profile
    rank = np.cumsum(top[:, ::-1], axis=1)[:, ::-1]
    rows, j = np.nonzero(top & (rank <= EDGES_PER_PROFILE))
    jm, jp = np.clip(j - 1, 0, width - 1), np.clip(j + 1, 0, width - 1)
    gm, g0, gp = grad[rows, jm], grad[rows, j], grad[rows, jp]
    den = gm - 2 * g0 + gp
    off = np.where((den < 0) & (j > 0) & (j < width - 1), 0.5 * (gm - gp) / np.where(
        den < 0, den, -1.0), 0.0)
    pos = steps[j] + 0.5 * off
    return base[rows] + pos[:, None] * normal[None, :], rows


#: A line of edges counts as the plate's outline when it holds this share of the
#: profiles the best-supported line holds, and runs parallel to it (it drifts from it
#: by at most ``PARALLEL`` px from one end of the side to the other).
SUPPORT_SHARE = 0.6
PARALLEL = 1.0


def _outer_line(pts: np.ndarray, prof_id: np.ndarray, normal: np.ndarray, min_inliers: int,
                tol: float = 1.2) -> tuple[np.ndarray, np.ndarray] | None:
    """The outermost straight run of edges along a side (point, unit direction).

    Lines are drawn through pairs of edges half the side apart; a line's support
    is the number of profiles with an edge on it, each counted less the further its
    edge lies from the line (within ``tol``). Of the lines supported nearly as
    well as the best and parallel to it, the outermost is taken: the plate's outline
    rather than its frame line, and not a shadow's outline that runs along part of
    the side only (a line mixing both would be tilted)."""
    n_prof = int(prof_id.max()) + 1 if prof_id.size else 0
    if n_prof < 3:
        return None
    # pairs of edges half the side apart
    i, j = np.nonzero(prof_id[None, :] - prof_id[:, None] == n_prof // 2)
    if i.size == 0:
        return None
    d = pts[j] - pts[i]
    norm = np.hypot(d[:, 0], d[:, 1])
    ok = norm > 1e-6
    i, d, norm = i[ok], d[ok], norm[ok]
    nrm = np.stack([-d[:, 1], d[:, 0]], axis=1) / norm[:, None]
    dist = np.abs(nrm @ pts.T - np.einsum("pk,pk->p", nrm, pts[i])[:, None])
    inl = dist <= tol
    member = np.zeros((len(pts), n_prof), np.float32)
    member[np.arange(len(pts)), prof_id] = 1.0
    # support: per profile 1 for an edge on the line, less the further it lies (a line
    # that only grazes the edges of two parallel runs, tilted across, holds little)
    near = np.clip(1.0 - (dist / tol) ** 2, 0.0, 1.0).astype(np.float32)
    support = np.minimum(near @ member, 1.0).sum(axis=1)
    best = int(np.argmax(support))
    if ((inl[best].astype(np.float32) @ member) > 0).sum() < min_inliers:
        return None
    dirs = d / norm[:, None]
    sine = np.abs(dirs[:, 0] * dirs[best, 1] - dirs[:, 1] * dirs[best, 0])
    along = pts @ dirs[best]
    span = float(along.max() - along.min())
    good = (support >= SUPPORT_SHARE * support[best]) & (sine * span <= PARALLEL)
    # how far out each line runs, at the middle of the side
    mid = pts.mean(axis=0)
    t = np.einsum("pk,pk->p", mid - pts[i], dirs)
    outward = np.einsum("pk,k->p", pts[i] + t[:, None] * dirs - mid, normal)
    k = int(np.flatnonzero(good)[np.argmax(outward[good])])
    sel = pts[inl[k]]
    centre = sel.mean(axis=0)
    _, _, vt = np.linalg.svd(sel - centre)
    return centre, vt[0]


def rectify(image: np.ndarray, quad: np.ndarray, layout: Layout) -> np.ndarray:
    """The plate inside ``quad`` warped to ``layout``'s crop size."""
    cw, ch = layout.crop_size()
    dst = np.array([[-0.5, -0.5], [cw - 0.5, -0.5], [cw - 0.5, ch - 0.5], [-0.5, ch - 0.5]],
                   np.float32)
    m = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    return cv2.warpPerspective(image, m, (cw, ch), flags=cv2.INTER_AREA,
                               borderMode=cv2.BORDER_REPLICATE)


__all__ = ["CROP_PX_PER_MM", "Candidate", "candidates", "foreground", "rectify", "reduce",
           "refine_quad", "tray_present"]


#: A tray fills this share of the frame at least (reference: about 45 %), and its
#: outline fills its minimum-area rectangle this well.
TRAY_MIN_AREA = 0.2
TRAY_MIN_FILL = 0.85


def tray_present(small: np.ndarray) -> bool:
    """Whether a tray lies under the camera: a large, light, rectangular region
    against the dark belt, around the frame's centre (``small``: the frame's
    :func:`reduce` copy)."""
    h, w = small.shape[:2]
    k = BG_SCALE // SCALE
    size = (max(8, w // k), max(8, h // k))
    grey = cv2.cvtColor(cv2.resize(small, size, interpolation=cv2.INTER_AREA),
                        cv2.COLOR_BGR2GRAY)
    grey = cv2.GaussianBlur(grey, (3, 3), 0)
    _, mask = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return False
    cnt = max(contours, key=cv2.contourArea)
    area = cv2.contourArea(cnt)
    (_, _), (rw, rh), _ = cv2.minAreaRect(cnt)
    centre = (size[0] / 2, size[1] / 2)
    return (area >= TRAY_MIN_AREA * size[0] * size[1]
            and area >= TRAY_MIN_FILL * rw * rh
            and cv2.pointPolygonTest(cnt, centre, False) > 0)
