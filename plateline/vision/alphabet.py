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
