"""Teaching folders that cover every glyph in every cell it is drawn in.

A random draw of plates (:func:`.samples.write_sample_folder`) leaves rare glyphs
rare: a letter in the lower row of a two-row plate may not appear once in 200
frames. A site teaching its reader collects frames until every glyph it uses has
been seen in every kind of cell; :func:`covering_plates` draws such a set directly.

Cell families: the reader's row shapes (``tall``: single-row plates and the lower
row of e-bike plates; ``broad``: the lower row of two-row plates; ``wide``: the top
row of two-row and e-bike plates), split where one shape comes in cells of another
size: a font is scaled to the cell, and a ``0`` of an 8-character new-energy plate
(43 mm cells) or of an e-bike's lower row (36 mm) is not drawn like one of a
7-character plate (45 mm). Counting by shape alone let the digit-only positions of
new-energy plates take every tall ``0`` of a draw, and the reader then met the ``0``
of 7-character plates untaught.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Collection
from pathlib import Path

import numpy as np

from plateline.contract import PROVINCES

from .glyphs import PlateFont
from .numbers import AUTHORITY_LETTERS, DIGITS, SERIAL_LETTERS, SUFFIXES, obeys_grammar
from .samples import sample_frame
from .scene import Distortion

#: One round of the draw: (plate type, rows). Two-row yellow and e-bike plates teach the
#: wide top-row cells (province, letter), two-row yellow plates the broad cells of their
#: lower row; the rest the tall cells.
ROUND = (("ebike", 2), ("yellow", 2), ("blue", 1), ("yellow", 1), ("ebike", 2),
         ("yellow", 2), ("green", 1), ("yellow_green", 1), ("white", 1), ("black", 1))
_SERIAL = SERIAL_LETTERS + DIGITS


#: Cell families (module doc) of each place: (plate rows, row) -> family.
TALL, TALL_8, TALL_EBIKE = "tall", "tall-8", "tall-ebike"
BROAD, WIDE, WIDE_EBIKE = "broad", "wide", "wide-ebike"


def _slots(plate_type: str, rows: int) -> list[tuple[str, str]]:
    """Per position, the glyphs the grammar allows there and the cell family."""
    if plate_type == "ebike":
        return ([(PROVINCES, WIDE_EBIKE), (AUTHORITY_LETTERS, WIDE_EBIKE)]
                + [(DIGITS, TALL_EBIKE)] * 6)
    if rows == 2:
        return ([(PROVINCES, WIDE), (AUTHORITY_LETTERS, WIDE)] + [(_SERIAL, BROAD)] * 4
                + [(_SERIAL + SUFFIXES[plate_type], BROAD)])
    if plate_type in ("green", "yellow_green"):
        head = [(PROVINCES, TALL_8), (AUTHORITY_LETTERS, TALL_8)]
        if plate_type == "green":
            return head + [("DABCEFGHJK", TALL_8), (_SERIAL, TALL_8)] + [(DIGITS, TALL_8)] * 4
        return head + [(DIGITS, TALL_8)] * 5 + [("DF", TALL_8)]
    return ([(PROVINCES, TALL), (AUTHORITY_LETTERS, TALL)] + [(_SERIAL, TALL)] * 4
            + [(_SERIAL + SUFFIXES[plate_type], TALL)])


def covering_plates(n: int, seed: int, avoid: Collection[str] = ()
                    ) -> list[tuple[str, str, int]]:
    """``n`` (text, plate type, rows) obeying the grammar, drawn so that every glyph the
    plate types use is taught in every cell family it appears in: each position takes,
    among the glyphs the grammar allows there, one of those drawn least so far in that
    family (ties at random). Numbers in ``avoid`` (an evaluation set's) are drawn
    again."""
    rng = np.random.default_rng(seed)
    seen: Counter[tuple[str, str]] = Counter()
    out: list[tuple[str, str, int]] = []
    while len(out) < n:
        plate_type, rows = ROUND[len(out) % len(ROUND)]
        text = ""
        drawn: Counter[tuple[str, str]] = Counter()
        for allowed, family in _slots(plate_type, rows):
            least = min(seen[(c, family)] + drawn[(c, family)] for c in allowed)
            pool = [c for c in allowed if seen[(c, family)] + drawn[(c, family)] == least]
            text += pool[int(rng.integers(len(pool)))]
            drawn[(text[-1], family)] += 1
        if text in avoid or not obeys_grammar(text, plate_type):
            continue
        seen.update(drawn)
        out.append((text, plate_type, rows))
    return out


def write_covering_folder(folder: str | Path, n: int, *, seed: int, font: PlateFont,
                          distortion: Distortion | None = None,
                          avoid: Collection[str] = ()) -> Path:
    """A labelled folder (``camera.md``) of ``n`` frames of :func:`covering_plates`
    (harsh optics unless ``distortion`` says otherwise)."""
    rng = np.random.default_rng(seed + 1)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    optics = distortion or Distortion.harsh()
    rows_out = [["filename", "text", "plate_type"]]
    for i, (text, plate_type, rows) in enumerate(covering_plates(n, seed, avoid)):
        name = f"frame_{i:05d}.jpg"
        (out / name).write_bytes(sample_frame(text, plate_type, rows, rng, optics, font))
        rows_out.append([name, text, plate_type])
    with open(out / "labels.csv", "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows_out)
    return out
