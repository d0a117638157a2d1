"""The covering draw: every glyph in every cell shape it is drawn in."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from plateline.contract import PROVINCES
from plateline.simulators.render import PlateFont, obeys_grammar
from plateline.simulators.render.covering import _slots, covering_plates, write_covering_folder

SERIAL = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


def _cells(plates: list[tuple[str, str, int]]) -> Counter[tuple[str, str]]:
    seen: Counter[tuple[str, str]] = Counter()
    for text, plate_type, rows in plates:
        for ch, (_, shape) in zip(text, _slots(plate_type, rows)):
            seen[(ch, shape)] += 1
    return seen


def test_200_plates_cover_every_glyph_in_every_cell_family() -> None:
    """Each serial glyph in the tall cells of 7-character plates and the broad cells
    (two-row plates' lower row), each digit also in the cells of new-energy plates and
    of the e-bike's lower row, each province in every family it is drawn in, from a
    draw of 200 plates."""
    plates = covering_plates(200, seed=3)
    assert len(plates) == 200 and all(obeys_grammar(t, p) for t, p, _ in plates)
    seen = _cells(plates)
    for family in ("tall", "broad"):
        assert {c for c in SERIAL if seen[(c, family)] == 0} == set(), family
    for family in ("tall-8", "tall-ebike"):
        assert {c for c in "0123456789" if seen[(c, family)] == 0} == set(), family
    for family in ("tall", "tall-8", "wide", "wide-ebike"):
        assert {c for c in PROVINCES if seen[(c, family)] == 0} == set(), family
    assert {rows for _, p, rows in plates if p == "yellow"} == {1, 2}


def test_a_tall_0_of_7_character_plates_is_taught_however_many_digit_places_there_are(
        ) -> None:
    """The digit-only places of new-energy and e-bike plates count apart: they do not
    use up the 0 of the tall cells of 7-character plates (once the reader met those
    untaught)."""
    seen = _cells(covering_plates(200, seed=3))
    tall = [seen[(c, "tall")] for c in SERIAL]
    assert seen[("0", "tall")] >= 5 and max(tall) - min(tall) <= 2


@settings(max_examples=10, deadline=None)
@given(st.integers(20, 120), st.integers(0, 2**31 - 1))
def test_the_draw_is_even_and_avoids_the_numbers_it_is_given(n: int, seed: int) -> None:
    """Within a cell shape, the glyphs a position allows are drawn evenly (least drawn
    first): no province is drawn twice in the tall cells before every one is drawn once."""
    avoid = {text for text, _, _ in covering_plates(10, seed + 1)}
    plates = covering_plates(n, seed, avoid)
    assert not avoid & {text for text, _, _ in plates}
    seen = _cells(plates)
    tall = [seen[(c, "tall")] for c in PROVINCES]
    assert max(tall) - min(tall) <= 1


def test_the_folder_holds_the_drawn_plates(tmp_path: Path) -> None:
    folder = write_covering_folder(tmp_path / "cover", 6, seed=9, font=PlateFont.default())
    with open(folder / "labels.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["text"], r["plate_type"]) for r in rows] == \
        [(t, p) for t, p, _ in covering_plates(6, 9)]
    assert all((folder / r["filename"]).stat().st_size > 10_000 for r in rows)
