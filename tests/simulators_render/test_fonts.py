"""The subset fonts ship as package data and draw every character the renderer needs."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest

from plateline.contract import PLATE_SUFFIXES, PROVINCES
from plateline.simulators.render import PlateFont
from plateline.simulators.render.charset import required_chars
from plateline.simulators.render.glyphs import DEFAULT_FONT_FILE, SECOND_FONT_FILE

FONTS = resources.files("plateline.simulators.render.fonts")
PLATE_CHARS = PROVINCES + PLATE_SUFFIXES + "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@pytest.mark.parametrize("name, licence", [
    (DEFAULT_FONT_FILE, "LICENSE-NotoSansCJK.txt"),
    (SECOND_FONT_FILE, "LICENSE-NotoSerifCJK.txt"),
])
def test_font_files_ship_small_with_their_licence(name: str, licence: str) -> None:
    data = FONTS.joinpath(name).read_bytes()
    assert 1_000 < len(data) < 400 * 1024
    text = FONTS.joinpath(licence).read_text(encoding="utf-8")
    assert name in text
    assert ("SIL OPEN FONT LICENSE" in text)


@pytest.mark.parametrize("name", [DEFAULT_FONT_FILE, SECOND_FONT_FILE])
def test_subset_maps_every_required_character(name: str) -> None:
    ttlib = pytest.importorskip("fontTools.ttLib")
    with resources.as_file(FONTS.joinpath(name)) as path:
        cmap = ttlib.TTFont(str(path)).getBestCmap()
    assert [c for c in required_chars() if ord(c) not in cmap] == []
    assert ord("ア") not in cmap  # it is a subset, not the whole font


@pytest.mark.parametrize("font", [PlateFont.default(), PlateFont.second()], ids=["default", "second"])
def test_font_draws_every_plate_character(font: PlateFont) -> None:
    for ch in PLATE_CHARS:
        assert font.has_char(ch), ch
        glyph = font.glyph(ch, 45, 90)
        assert glyph.shape == (90, 45)
        assert glyph.max() > 200 and (glyph > 128).mean() > 0.08, ch
    assert not font.has_char("ア")


def test_glyphs_are_cached_and_read_only() -> None:
    font = PlateFont.default()
    a = font.glyph("粤", 40, 81)
    assert font.glyph("粤", 40, 81) is a
    assert not a.flags.writeable
    assert font.glyph("粤", 41, 81) is not a


def test_narrow_characters_stay_narrow() -> None:
    one = PlateFont.default().glyph("I", 45, 90)
    zero = PlateFont.default().glyph("0", 45, 90)
    cols = lambda g: int(((g > 128).any(axis=0)).sum())
    assert cols(one) < 0.7 * cols(zero)
    assert cols(zero) >= 40


def test_second_font_differs_from_default() -> None:
    a = PlateFont.default().glyph("2", 45, 90).astype(int)
    b = PlateFont.second().glyph("2", 45, 90).astype(int)
    assert np.abs(a - b).mean() > 10


def test_from_path_loads_a_font_file() -> None:
    with resources.as_file(FONTS.joinpath(SECOND_FONT_FILE)) as path:
        font = PlateFont.from_path(path)
    assert font.has_char("京")
    assert font.text_line("ORD-1 订单号", 20).shape[0] >= 18


@pytest.mark.parametrize("font", [PlateFont.default(), PlateFont.second()], ids=["default", "second"])
def test_h_m_and_n_stay_apart_at_plate_cell_size(font: PlateFont) -> None:
    """Squeezed into a plate cell (45x90 mm at 0.9 px/mm) the letters keep their
    counters: a serif ``I`` measured with its serifs once thickened the second font's
    strokes until H, M and N were the same solid block."""
    glyphs = {c: font.glyph(c, 40, 81).astype(int) for c in "HMN"}
    for a, b in ("HM", "HN", "MN"):
        assert np.abs(glyphs[a] - glyphs[b]).mean() > 25, (a, b)
    h = glyphs["H"]
    assert (h[:20, 15:25] < 128).mean() > 0.5  # the open space above the crossbar
