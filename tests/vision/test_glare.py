"""Glare on rendered frames: what can still be verified, and what must stay a fault."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from plateline.contract import Reason
from plateline.simulators.render import (
    Distortion,
    PlateSpec,
    TicketSpec,
    TrayScene,
    encode_jpeg,
    render_frame_with_truth,
)
from plateline.vision import Expectation, read_frame, verify
from plateline.vision.alphabet import ALPHABET
from plateline.vision.glare import MAX_WASHED_SHARE, washed_map
from plateline.vision.model import GlyphModel
from plateline.vision.reading import FrameReading, PlateReading

from .glare_spots import cell_centre, with_spot

MIN_CONF = 0.6


def spotted(text: str, plate_type: str, position: int, offset: tuple[float, float],
            radius: float, strength: float, seed: int = 21) -> bytes:
    """A tray whose plate carries a specular spot on character ``position``."""
    scene = TrayScene((PlateSpec(text, plate_type),), TicketSpec("ORD1"), seed,
                      Distortion.normal())
    image, truth = render_frame_with_truth(scene)
    centre = cell_centre(truth[0], position, *offset)
    return encode_jpeg(with_spot(image, centre, (radius, 1.3 * radius), strength), 88)


def accepted_alternatives(reading: FrameReading, text: str, plate_type: str,
                          position: int) -> list[str]:
    """Every other glyph at ``position`` that an order could claim and get a match."""
    out = []
    for g in ALPHABET:
        if g != text[position]:
            claim = text[:position] + g + text[position + 1:]
            if verify(reading, Expectation(claim, plate_type, 1), min_confidence=MIN_CONF).ok:
                out.append(g)
    return out


@pytest.mark.parametrize("text, plate_type, position", [
    ("苏E0Q123", "yellow", 3), ("粤B86321", "blue", 2), ("京A1771X", "white", 3),
    ("粤A123451", "ebike", 4),
])
def test_washed_out_character_is_a_fault_never_a_guess(model: GlyphModel, text: str,
                                                       plate_type: str, position: int) -> None:
    reading = read_frame(spotted(text, plate_type, position, (0.0, 0.0), 18, 3.0), model)
    d = verify(reading, Expectation(text, plate_type, 1), min_confidence=MIN_CONF)
    assert not d.ok and d.reason in (Reason.VISION_FAULT, Reason.PLATE_COUNT), d.detail
    assert accepted_alternatives(reading, text, plate_type, position) == []


@pytest.mark.parametrize("text, plate_type, position, offset", [
    ("苏E0Q123", "yellow", 3, (0.3, 0.35)),  # the tail of the Q stays visible
    ("苏E0Q123", "yellow", 3, (-0.4, 0.0)),
])
def test_partly_washed_character_is_verified_on_what_is_left(
        model: GlyphModel, text: str, plate_type: str, position: int,
        offset: tuple[float, float]) -> None:
    reading = read_frame(spotted(text, plate_type, position, offset, 11, 1.5), model)
    plate = reading.plates[0]
    assert plate.masked[position] and plate.glare[position] > 0.05
    d = verify(reading, Expectation(text, plate_type, 1), min_confidence=MIN_CONF)
    assert d.ok, d.detail
    assert accepted_alternatives(reading, text, plate_type, position) == []


@pytest.mark.parametrize("text, plate_type, position", [
    ("粤B86321", "blue", 2), ("京A1771X", "white", 3), ("闽G6G6G6", "yellow", 2),
    ("鲁Q80080D", "yellow_green", 3), ("浙CD86539", "green", 3), ("粤A836451", "ebike", 3),
])
@pytest.mark.parametrize("offset", [(-0.4, -0.3), (0.4, 0.3), (0.0, 0.3)])
def test_a_sheen_never_lets_a_near_miss_through(model: GlyphModel, text: str, plate_type: str,
                                               position: int,
                                               offset: tuple[float, float]) -> None:
    reading = read_frame(spotted(text, plate_type, position, offset, 12, 0.5), model)
    assert accepted_alternatives(reading, text, plate_type, position) == []


@pytest.mark.parametrize("text, plate_type, offset, radius, seed", [
    ("皖OD92L9", "yellow", (-0.036, 0.315), 8, 510),  # in the counter: inner edges faded
    ("鄂OB73614", "green", (-0.019, -0.36), 12, 786),  # on the top bow, on the white top
])
def test_a_spot_never_turns_an_o_into_a_0(model: GlyphModel, text: str, plate_type: str,
                                          offset: tuple[float, float], radius: float,
                                          seed: int) -> None:
    """Regressions (spot sweeps): a spot faded part of an ``O``'s strokes without
    clipping them away, too little of it counted as washed, and the plain reading was a
    confident ``0``. On yellow plates the light that takes half the ink's contrast now
    counts; on green plates, where only faded strokes show glare, strokes that kept a
    fifth of the plate's ink strength are measured too (they were left out below 40 %)."""
    reading = read_frame(spotted(text, plate_type, 1, offset, radius, 0.8, seed=seed), model)
    assert accepted_alternatives(reading, text, plate_type, 1) == []


@pytest.mark.parametrize("text, position, radius", [("粤A123451", 4, 14), ("浙N718392", 2, 20)])
def test_ebike_plate_under_a_sheen_is_read(model: GlyphModel, text: str, position: int,
                                           radius: float) -> None:
    """Regression: the green ink was measured in the green channel, where a sheen takes
    its contrast (3 read as 1, 7 as T); the red channel keeps twice as much."""
    reading = read_frame(spotted(text, "ebike", position, (0.0, 0.0), radius, 0.6, seed=31),
                         model)
    d = verify(reading, Expectation(text, "ebike", 1), min_confidence=MIN_CONF)
    assert d.ok, d.detail


@pytest.mark.parametrize("text, plate_type, position, offset, radius, strength", [
    ("粤B8632港", "black", 1, (0.35, -0.3), 8, 1.3),  # the B's upper bowl fills in
    ("粤B8632港", "black", 3, (0.0, 0.0), 8, 3.0),  # the 6 clips to a white patch
    ("粤B86321", "blue", 2, (0.0, 0.0), 12, 1.3),  # the 8's counters fill in
])
def test_white_light_on_white_ink_counts_as_glare(model: GlyphModel, text: str,
                                                  plate_type: str, position: int,
                                                  offset: tuple[float, float], radius: float,
                                                  strength: float) -> None:
    """White ink cannot get whiter: a highlight on a light-ink plate shows only where it
    whitens the background between strokes, and that part of the character is gone.
    Regression: such a patch, looking like ink, was read as the character it made."""
    reading = read_frame(spotted(text, plate_type, position, offset, radius, strength), model)
    plate = reading.plates[0]
    assert plate.glare[position] > MAX_WASHED_SHARE
    assert accepted_alternatives(reading, text, plate_type, position) == []


def test_a_highlight_clipped_under_dim_light_counts_as_glare() -> None:
    """Under dim light a highlight clipped to white adds less than the absolute limit
    to a black plate: the limit is also a share of the plate's own ink contrast."""
    rng = np.random.default_rng(5)
    crop = np.full((112, 352, 3), 18, np.uint8)
    crop[30:80, 40:300:30] = 160  # strokes of a dim plate
    crop = cv2.add(crop, rng.integers(0, 4, crop.shape, dtype=np.uint8))
    yy, xx = np.mgrid[0:112, 0:352]
    spot = 150 * np.exp(-((xx - 200) ** 2 + (yy - 55) ** 2) / (2 * 9.0 ** 2))
    lit = np.clip(crop + spot[..., None], 0, 166).astype(np.uint8)  # clipped, then dimmed
    ink = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).astype(np.float32) / 160.0
    assert not washed_map(crop, "black", ink).any()
    assert washed_map(lit, "black", ink)[45:65, 190:210].all()


def _green_plate_strokes() -> tuple[np.ndarray, np.ndarray]:
    """A green new-energy plate's crop (white top fading to green) with dark strokes,
    and its ink strength."""
    crop = np.zeros((112, 352, 3), np.float32)
    top, bottom = np.array([235, 240, 240.0]), np.array([120, 200, 90.0])
    share = np.linspace(0.0, 1.0, 112)[:, None, None]
    crop[:] = (1 - share) * top + share * bottom
    ink = np.zeros((112, 352), np.float32)
    for x in range(40, 320, 30):
        crop[25:90, x:x + 9] = 25.0
        ink[25:90, x:x + 9] = 1.0
    return crop, ink


def test_a_sheen_on_a_green_plate_is_not_glare_a_clipped_spot_is() -> None:
    """Added light that does not clip lifts a stroke and the background beside it alike:
    the character keeps its contrast. Regression: strokes on the green part of the plate
    were measured against the whole row's level and a mere sheen counted as glare."""
    crop, ink = _green_plate_strokes()
    yy, xx = np.mgrid[0:112, 0:352]
    bump = np.exp(-((xx - 190) ** 2 + (yy - 70) ** 2) / (2 * 14.0 ** 2))[..., None]
    sheen = np.clip(crop + 0.45 * 255 * bump, 0, 255).astype(np.uint8)
    clipped = np.clip(crop + 3.0 * 255 * bump, 0, 255).astype(np.uint8)
    assert not washed_map(crop.astype(np.uint8), "green", ink).any()
    assert not washed_map(sheen, "green", ink)[:, 150:230].any()
    assert washed_map(clipped, "green", ink)[60:80, 185:195].all()


@pytest.mark.parametrize("text, position", [("粤B86321", 3), ("沪J54C5警", 3)])
def test_a_sheen_over_half_a_dark_ink_character_is_verified_from_the_ink_under_it(
        model: GlyphModel, text: str, position: int) -> None:
    """A sheen fills a white plate's little headroom, so half the cell looks washed; but
    light only lifts dark ink, and the strokes under it are still seen: the character is
    verified from them, and no other glyph is."""
    reading = read_frame(spotted(text, "white", position, (0.0, 0.0), 18, 0.45), model)
    plate = reading.plates[0]
    assert plate.masked[position] and 0.25 < plate.glare[position] <= 0.75
    d = verify(reading, Expectation(text, "white", 1), min_confidence=MIN_CONF)
    assert d.ok, d.detail
    assert accepted_alternatives(reading, text, "white", position) == []


@pytest.mark.parametrize("text, position, offset", [
    ("粤B80E25", 3, (0.3, -0.35)),  # the top of the E: an F would differ there
    ("粤B80E25", 4, (0.0, 0.4)),  # the bottom of the 2: a Z or 3 would differ there
    ("沪J54C0警", 5, (0.3, -0.35)),  # the top of the 0: a U would differ there
])
def test_a_sheen_on_a_dark_ink_character_edge_keeps_the_ink_under_it(
        model: GlyphModel, text: str, position: int, offset: tuple[float, float]) -> None:
    """A small sheen on a white plate clips the background at a character's edge; the
    strokes there are still seen, and light never makes ink. The masked check keeps that
    ink in every glyph it tries. Regression: it filled the part with each glyph's
    template instead, so a glyph differing only there tied and the tray was a fault."""
    reading = read_frame(spotted(text, "white", position, offset, 8, 0.45), model)
    plate = reading.plates[0]
    assert plate.masked[position] and MAX_WASHED_SHARE < plate.glare[position] <= 0.25
    d = verify(reading, Expectation(text, "white", 1), min_confidence=MIN_CONF)
    assert d.ok, d.detail
    assert accepted_alternatives(reading, text, "white", position) == []


def test_beyond_a_quarter_washed_only_dark_ink_may_be_verified() -> None:
    """On light ink (blue, black) glare can look like ink: a cell more than 25 % washed
    is a fault whatever the masked check says; on dark ink up to 75 % when the masked
    check (with the ink seen under the glare) verifies it."""
    scores = np.zeros((7, len(ALPHABET)), np.float32)
    for i, ch in enumerate("粤B86321"):
        scores[i, ALPHABET.index(ch)] = 1.0
    glare = np.zeros(7, np.float32)
    masked = np.zeros(7, bool)
    glare[3], masked[3] = 0.5, True
    quad = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))
    for plate_type, ok in (("white", True), ("yellow", True), ("blue", False), ("black", False)):
        plate = PlateReading("粤B86321", plate_type, 1.0, scores, quad, glare=glare,
                             masked=masked)
        reading = FrameReading([plate], 1280, 960, tray_present=True)
        d = verify(reading, Expectation("粤B86321", plate_type, 1), min_confidence=MIN_CONF)
        assert d.ok == ok, (plate_type, d.detail)
    glare[3] = 0.8
    d = verify(reading, Expectation("粤B86321", "black", 1), min_confidence=MIN_CONF)
    assert not d.ok
    plate = PlateReading("粤B86321", "white", 1.0, scores, quad, glare=glare, masked=masked)
    d = verify(FrameReading([plate], 1280, 960, tray_present=True),
               Expectation("粤B86321", "white", 1), min_confidence=MIN_CONF)
    assert not d.ok and "glare" in d.detail
