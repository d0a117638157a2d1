"""What the reader saw in a frame, and what the order expects of it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from plateline.contract import PLATE_TYPES, Reason

from .alphabet import ALPHABET

Quad = tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]]

#: ``plate_type`` of a plate whose colour the reader could not tell.
UNKNOWN_TYPE = "unknown"


@dataclass(frozen=True, eq=False)
class PlateReading:
    """One plate found in a frame.

    ``char_scores`` has one row per character position and one column per glyph
    of :data:`~plateline.vision.alphabet.ALPHABET`, each a score in [0, 1].
    ``text`` is the best glyph at each position (what was *read*); an empty
    ``text`` with no rows means the plate was found but could not be read.
    ``score`` is the weakest position's confidence (best glyph minus the
    runner-up, see :func:`position_confidence`). ``quad`` are the plate's corners
    in frame pixels, clockwise from top-left; ``note`` says why a plate was not read.
    ``glare`` holds per position the share of its cell washed out by a specular
    highlight (see :mod:`.glare`); empty when not measured. ``masked`` is True at
    the positions whose scores come from the comparison of the glyph's visible part
    only (:meth:`~.model.GlyphModel.masked_scores`), because glare washed out the rest.
    """

    text: str
    plate_type: str
    score: float
    char_scores: np.ndarray
    quad: Quad
    rows: int = 1
    note: str = ""
    glare: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    masked: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    #: per position, the glyph kinds (``alphabet.GLYPH_KINDS``) of which some glyph is
    #: known in that row shape only from another font than the one the site taught
    foreign: tuple[frozenset[str], ...] = ()

    @property
    def readable(self) -> bool:
        return bool(self.text) and self.char_scores.shape == (len(self.text), len(ALPHABET))

    def as_record(self) -> dict[str, object]:
        """The ``{text, type, score}`` shape of records and decision files."""
        return {"text": self.text, "type": self.plate_type, "score": round(float(self.score), 4)}


@dataclass(frozen=True)
class FrameReading:
    """Every plate the reader found in one frame.

    ``tray_present`` says whether a tray was seen under the camera at all: "no
    plate found" is only evidence of an empty tray when it is True (an empty
    belt is a VISION_FAULT, never "0 plates match").
    """

    plates: list[PlateReading] = field(default_factory=list)
    width: int = 0
    height: int = 0
    tray_present: bool = False


@dataclass(frozen=True)
class Expectation:
    """What the order says is on the tray.

    ``plate_no`` and ``plate_type`` are required when ``plate_count`` > 0 and every
    plate of the tray must carry them.
    """

    plate_no: str | None
    plate_type: str | None
    plate_count: int

    def __post_init__(self) -> None:
        if self.plate_count not in (0, 1, 2):
            raise ValueError(f"plate_count must be 0, 1 or 2, not {self.plate_count!r}")
        if self.plate_count > 0:
            if not self.plate_no:
                raise ValueError("plate_no is required when plates are expected")
            if self.plate_type not in PLATE_TYPES:
                raise ValueError(f"unknown plate_type {self.plate_type!r}")


@dataclass(frozen=True)
class Decision:
    """Match / no match, with the reason of ``line.md`` and a short human detail."""

    ok: bool
    reason: Reason
    detail: str = ""

    def __post_init__(self) -> None:
        if self.ok != (self.reason is Reason.NONE):
            raise ValueError("a decision is ok exactly when its reason is NONE")


def position_confidence(scores: np.ndarray) -> np.ndarray:
    """Per position: best score minus runner-up score (0 when both are equal)."""
    if scores.shape[0] == 0:
        return np.zeros(0, dtype=np.float32)
    part = np.partition(scores, -2, axis=1)
    return (part[:, -1] - part[:, -2]).astype(np.float32)
