"""From a frame to what is on it: locate, tell the type, rectify, segment, score."""

from __future__ import annotations

import cv2
import numpy as np

from plateline.errors import VisionError

from .alphabet import ALPHABET
from .glare import MAX_WASHED_SHARE, needs_seen_ink, position_glare, washed_map
from .layouts import layout_for
from .locate import Candidate, candidates, rectify, reduce, tray_present
from .model import GlyphModel
from .plate_type import PROBE_SIZE, classify
from .reading import UNKNOWN_TYPE, FrameReading, PlateReading, Quad, position_confidence
from .segment import LIGHT_INK, Segmentation, SegmentError, segment, window

_EMPTY = np.zeros((0, len(ALPHABET)), np.float32)


def decode(image_bytes: bytes) -> np.ndarray:
    """A BGR frame from JPEG/PNG bytes (VisionError when they are not an image)."""
    if not image_bytes:
        raise VisionError("empty frame")
    buf = np.frombuffer(image_bytes, np.uint8)
    try:
        image = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    except cv2.error as err:
        raise VisionError(f"frame cannot be decoded: {err}") from err
    if image is None or image.size == 0:
        raise VisionError("frame cannot be decoded")
    return image


def _quad(c: Candidate) -> Quad:
    q = [(float(x), float(y)) for x, y in c.quad]
    return (q[0], q[1], q[2], q[3])


def plate_crop(image: np.ndarray, cand: Candidate) -> tuple[str, np.ndarray | None, int]:
    """Type, rectified crop (None when the type is unknown) and rows of a candidate."""
    rows = cand.rows
    pw, ph = PROBE_SIZE[rows]
    probe = cv2.warpPerspective(image, _probe_matrix(cand.quad, pw, ph), (pw, ph),
                                flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    ptype = classify(probe, rows).plate_type
    if ptype == UNKNOWN_TYPE:
        return ptype, None, rows
    if ptype == "ebike":
        rows = 2
    return ptype, rectify(image, cand.quad, layout_for(ptype, rows)), rows


#: A character whose ink contrast falls below these shares of the plate's median
#: (glare, a smudge) scores nothing at or below the first, in full from the second.
WASHED_OUT = (0.45, 0.7)


def contrast_quality(contrast: list[float]) -> np.ndarray:
    """Per position factor in [0, 1] applied to the glyph scores."""
    lo, hi = WASHED_OUT
    return np.clip((np.asarray(contrast, np.float32) - lo) / (hi - lo), 0.0, 1.0)


def _probe_matrix(quad: np.ndarray, w: int, h: int) -> np.ndarray:
    dst = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]],
                   np.float32)
    return cv2.getPerspectiveTransform(quad.astype(np.float32), dst)


def segment_plate(image: np.ndarray, cand: Candidate, plate_type: str | None = None
                  ) -> tuple[str, int, Segmentation]:
    """Type, rows and glyphs of a candidate; ``plate_type`` overrides the colour (teaching)."""
    ptype, rows, seg, _ = _segment_plate(image, cand, plate_type)
    return ptype, rows, seg


def _segment_plate(image: np.ndarray, cand: Candidate, plate_type: str | None = None
                   ) -> tuple[str, int, Segmentation, np.ndarray]:
    ptype, crop, rows = plate_crop(image, cand)
    if plate_type is not None and plate_type != ptype:
        ptype = plate_type
        rows = 2 if ptype == "ebike" else cand.rows
        crop = rectify(image, cand.quad, layout_for(ptype, rows))
    if crop is None:
        raise SegmentError("plate colour not recognised")
    return ptype, rows, segment(crop, ptype, layout_for(ptype, rows)), crop


def read_plate(image: np.ndarray, cand: Candidate, model: GlyphModel) -> PlateReading:
    """Read one located plate (an unreadable plate is still a reading: empty text)."""
    quad = _quad(cand)
    try:
        ptype, rows, seg, crop = _segment_plate(image, cand)
    except SegmentError as err:
        return PlateReading("", UNKNOWN_TYPE, 0.0, _EMPTY, quad, cand.rows, note=str(err))
    scores = model.scores(seg.glyphs, seg.shapes) * contrast_quality(seg.contrast)[:, None]
    washed = washed_map(crop, ptype, seg.ink)
    glare = position_glare(washed, seg.cells)
    masked = np.zeros(len(glare), bool)
    if model.templates is not None and seg.windows:
        for i in np.flatnonzero(glare > MAX_WASHED_SHARE):
            seen = needs_seen_ink(ptype, float(glare[i]))
            scores[i] = _masked_scores(seg, washed, int(i), model, seen,
                                       keep_ink=ptype not in LIGHT_INK)
            masked[i] = True
    text = "".join(ALPHABET[int(i)] for i in np.argmax(scores, axis=1))
    conf = position_confidence(scores)
    return PlateReading(text, ptype, float(conf.min()) if conf.size else 0.0, scores, quad, rows,
                        glare=glare, masked=masked, foreign=model.foreign_kinds(seg.shapes))


#: Pixels this near a washed-out one are not trusted either (glare fades them).
_MARGIN = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))


def _masked_scores(seg: Segmentation, washed: np.ndarray, i: int, model: GlyphModel,
                   seen: bool = False, keep_ink: bool = False) -> np.ndarray:
    """Scores of glyph ``i`` from its pixels that glare left visible (see
    :meth:`.GlyphModel.masked_scores`; ``keep_ink``: the ink the hole shows is kept;
    ``seen``: the glyph read must have its own ink there seen), scaled down when even
    those are faint."""
    hole = window(cv2.dilate(washed.view(np.uint8), _MARGIN).astype(np.float32), *seg.windows[i])
    glyph = seg.glyphs[i]
    visible = hole < 0.5
    ink = glyph[visible]
    others = [float(np.percentile(g, 95)) for j, g in enumerate(seg.glyphs) if j != i]
    ref = float(np.median(others)) if others else 0.0
    contrast = float(np.percentile(ink, 95)) / ref if ink.size and ref > 0 else 0.0
    seen_ref = ref if seen and ref > 0 else None
    scores = model.masked_scores(glyph, hole, seg.shapes[i], seen_ref, keep_ink)
    return scores * contrast_quality([contrast])[0]


def read_image(image: np.ndarray, model: GlyphModel) -> FrameReading:
    """Every plate in a BGR frame, read with ``model``."""
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 32:
        raise VisionError(f"not a colour frame (shape {image.shape})")
    small = reduce(image)
    plates = [read_plate(image, c, model) for c in candidates(image, small)]
    return FrameReading(plates, int(image.shape[1]), int(image.shape[0]),
                        tray_present=tray_present(small))


def read_frame(image_bytes: bytes, model: GlyphModel) -> FrameReading:
    """Every plate in an encoded frame (VisionError when it cannot be decoded)."""
    return read_image(decode(image_bytes), model)
