"""Plate verification (``camera.md``): find the plates in a camera frame, read them
with a taught glyph model, and decide match / no match against the order.

Public API: :func:`read_frame`, :func:`verify`, :class:`Expectation`,
:class:`Decision`, :class:`FrameReading`, :class:`PlateReading`,
:class:`GlyphModel`, :class:`PlateVerifier` (async service).
"""

from .decide import DEFAULT_MARGIN, verify
from .model import GlyphModel, ModelError
from .reader import read_frame, read_image
from .reading import Decision, Expectation, FrameReading, PlateReading
from .service import PlateVerifier

__all__ = ["DEFAULT_MARGIN", "Decision", "Expectation", "FrameReading", "GlyphModel",
           "ModelError", "PlateReading", "PlateVerifier", "read_frame", "read_image", "verify"]
