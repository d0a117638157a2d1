"""The glyph alphabet of the verifier.

Scores are always indexed by :data:`ALPHABET`, so a score matrix means the same
thing whichever model produced it.
"""

from __future__ import annotations

from plateline.contract import PLATE_SUFFIXES, PROVINCES

LATIN = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"

#: Every glyph a plate may carry; column ``i`` of a score matrix is ``ALPHABET[i]``.
ALPHABET: str = PROVINCES + LATIN + DIGITS + PLATE_SUFFIXES
GLYPH_INDEX: dict[str, int] = {g: i for i, g in enumerate(ALPHABET)}

assert len(set(ALPHABET)) == len(ALPHABET)


#: Which glyphs can stand for one another on a plate: a province character only for
#: another province, a serial character for another serial character, a suffix for
#: another suffix (the plate grammar keeps each kind in its own positions).
GLYPH_KINDS: dict[str, str] = {"province": PROVINCES, "serial": LATIN + DIGITS,
                               "suffix": PLATE_SUFFIXES}


def glyph_kind(glyph: str) -> str:
    """The kind of ``glyph`` (a key of :data:`GLYPH_KINDS`)."""
    for kind, glyphs in GLYPH_KINDS.items():
        if glyph in glyphs:
            return kind
    raise KeyError(f"{glyph!r} is not in the alphabet")

