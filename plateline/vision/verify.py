"""Plate verification: read a frame, then decide match / no match against the order.

:func:`read_frame` finds and reads every plate of an encoded frame;
:func:`verify` applies the decision rule (see :mod:`.decide`, repeated here)::

    position verified  <=>  S[i, e] >= min_confidence
                            and S[i, e] - max_{g != e} S[i, g] >= margin

with ``S`` a plate's score matrix (positions x alphabet, see :mod:`.model`), ``e``
the order's glyph at position ``i``. Checks in ``line.md`` precedence:
VISION_FAULT (a plate not read, its colour not told, or any position whose best
glyph is not itself verified that way), PLATE_COUNT, PLATE_MISMATCH (other
length, or a position confidently read as another glyph), PLATE_TYPE.
A decision is ok only when every position of every plate verifies.
"""

from __future__ import annotations

from .decide import DEFAULT_MARGIN, verify
from .reader import decode, read_frame, read_image
from .reading import Decision, Expectation, FrameReading, PlateReading

__all__ = ["DEFAULT_MARGIN", "Decision", "Expectation", "FrameReading", "PlateReading",
           "decode", "read_frame", "read_image", "verify"]
