"""The decision rule: does what was read verify the order's plates?

Verifying is not reading. The order's text is known, so at each character
position ``i`` of each plate the score of the *expected* glyph ``e`` is compared
with the best score of every *other* glyph of the alphabet::

    position verified  <=>  S[i, e] >= min_confidence
                            and S[i, e] - max_{g != e} S[i, g] >= margin

A position is *confidently read* when its best glyph passes the same two tests
and glare (:mod:`.glare`) washed out at most ``MAX_WASHED_SHARE`` of its cell, or at
most ``glare.masked_limit(plate type)`` when its scores come from the masked check.
The checks run in the precedence of ``line.md``:

1. ``VISION_FAULT``: no tray in view and no plate found (an empty belt is never
   "0 plates"), a plate was found but not read (no characters, colour not
   told), an expected glyph is outside the alphabet, a position lies under
   glare, or some position of some plate is not confidently read (its best glyph
   is below ``min_confidence`` or does not beat the runner-up by ``margin``).
   Doubt is never resolved by a guess.
2. ``PLATE_COUNT``: the number of plates differs from the order.
3. ``PLATE_MISMATCH``: a plate has another length than the order's number, or
   some position is confidently read as another glyph (the position is then
   not verified: its expected glyph does not win by the margin).
4. ``PLATE_TYPE``: a plate's colour / kind differs from the order.

Only when none of these fails is the decision ok; hence ok implies that every
position of every plate verifies its expected glyph as stated above.
"""

from __future__ import annotations

import numpy as np

from plateline.contract import Reason

from .alphabet import ALPHABET, GLYPH_INDEX, glyph_kind
from .glare import MAX_WASHED_SHARE, masked_limit
from .reading import UNKNOWN_TYPE, Decision, Expectation, FrameReading, PlateReading

#: Default lead of the expected glyph over every other glyph (scores in [0, 1]).
DEFAULT_MARGIN = 0.25


def _others_max(row: np.ndarray, idx: int) -> float:
    rest = np.delete(row, idx)
    return float(rest.max()) if rest.size else 0.0


def _wins(row: np.ndarray, idx: int, min_confidence: float, margin: float) -> bool:
    score = float(row[idx])
    return score >= min_confidence and score - _others_max(row, idx) >= margin


def verify(reading: FrameReading, expectation: Expectation, *, min_confidence: float,
           margin: float = DEFAULT_MARGIN) -> Decision:
    """Decide match / no match of ``reading`` against ``expectation`` (rule: module doc)."""
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"min_confidence must be within [0, 1], not {min_confidence!r}")
    if not 0.0 < margin <= 1.0:
        raise ValueError(f"margin must be within (0, 1], not {margin!r}")
    plates = reading.plates
    fault = _fault(reading, expectation, min_confidence, margin)
    if fault:
        return Decision(False, Reason.VISION_FAULT, fault)
    if len(plates) != expectation.plate_count:
        return Decision(False, Reason.PLATE_COUNT,
                        f"{len(plates)} plate(s) found, {expectation.plate_count} expected")
    expected = expectation.plate_no or ""
    for n, plate in enumerate(plates, 1):
        scores = plate.char_scores
        if scores.shape[0] != len(expected):
            return Decision(False, Reason.PLATE_MISMATCH,
                            f"plate {n}: {scores.shape[0]} characters read, "
                            f"{len(expected)} expected")
        for i, ch in enumerate(expected):
            if not _wins(scores[i], GLYPH_INDEX[ch], min_confidence, margin):
                got = ALPHABET[int(np.argmax(scores[i]))]
                return Decision(False, Reason.PLATE_MISMATCH,
                                f"plate {n} position {i + 1}: read {got!r}, expected {ch!r}")
    for n, plate in enumerate(plates, 1):
        if plate.plate_type != expectation.plate_type:
            return Decision(False, Reason.PLATE_TYPE,
                            f"plate {n}: type {plate.plate_type}, "
                            f"expected {expectation.plate_type}")
    return Decision(True, Reason.NONE, f"{len(plates)} plate(s) verified")


def position_verifies(plate: PlateReading, i: int, glyph: str, *, min_confidence: float,
                      margin: float = DEFAULT_MARGIN) -> bool:
    """Whether position ``i`` of ``plate`` would verify ``glyph`` were it the order's glyph
    there (glare, another font's classes and the score rule as in :func:`verify`; the
    other positions and the plate type aside). Used to measure, position by position,
    whether some glyph other than the true one would pass."""
    scores = plate.char_scores
    if glyph not in GLYPH_INDEX or not 0 <= i < scores.shape[0]:
        return False
    glare = np.asarray(plate.glare, np.float32)
    if glare.size:
        masked = np.asarray(plate.masked, bool)
        limit = (masked_limit(plate.plate_type) if masked.size == glare.size and masked[i]
                 else MAX_WASHED_SHARE)
        if glare.shape[0] != scores.shape[0] or not glare[i] <= limit:
            return False
    if plate.foreign and len(plate.foreign) == scores.shape[0] \
            and glyph_kind(glyph) in plate.foreign[i]:
        return False
    return _wins(scores[i], GLYPH_INDEX[glyph], min_confidence, margin)


def _fault(reading: FrameReading, expectation: Expectation, min_confidence: float,
           margin: float) -> str:
    """Why the reading cannot be trusted, or "" when it can."""
    bad = [ch for ch in (expectation.plate_no or "") if ch not in GLYPH_INDEX]
    if bad:
        return f"expected glyph(s) {''.join(bad)!r} outside the alphabet"
    if not reading.plates and not reading.tray_present:
        return "no tray in view"
    for n, plate in enumerate(reading.plates, 1):
        scores = plate.char_scores
        if scores.ndim != 2 or scores.shape[0] == 0 or scores.shape[1] != len(ALPHABET):
            return f"plate {n}: not read ({plate.note or 'no characters'})"
        if not np.all(np.isfinite(scores)):
            return f"plate {n}: invalid scores"
        if plate.plate_type == UNKNOWN_TYPE:
            return f"plate {n}: plate colour not recognised"
        glare = np.asarray(plate.glare, np.float32)
        if glare.size:
            masked = np.asarray(plate.masked, bool)
            if masked.size != glare.size:
                masked = np.zeros(glare.shape, bool)
            limit = np.where(masked, masked_limit(plate.plate_type), MAX_WASHED_SHARE)
            if glare.shape[0] != scores.shape[0] or not np.all(glare <= limit):
                washed = np.flatnonzero(~(glare <= limit))
                i = int(washed[0]) if washed.size else 0
                return f"plate {n} position {i + 1}: washed out by glare"
        expected = expectation.plate_no or ""
        if plate.foreign and len(plate.foreign) == len(expected):
            for i, ch in enumerate(expected):
                if glyph_kind(ch) in plate.foreign[i]:
                    return (f"plate {n} position {i + 1}: some {glyph_kind(ch)} glyphs of this "
                            f"row are known only in another font than the site taught "
                            f"(teach them)")
        for i, row in enumerate(scores):
            best = int(np.argmax(row))
            if not _wins(row, best, min_confidence, margin):
                return (f"plate {n} position {i + 1}: best {ALPHABET[best]!r} "
                        f"{float(row[best]):.2f} below confidence or margin")
    return ""
