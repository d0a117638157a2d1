"""The decision rule, on score matrices made up for the purpose."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plateline.contract import PLATE_TYPES, Reason
from plateline.vision.alphabet import ALPHABET, GLYPH_INDEX
from plateline.vision.decide import verify
from plateline.vision.reading import (
    UNKNOWN_TYPE,
    Decision,
    Expectation,
    FrameReading,
    PlateReading,
)

QUAD = ((0.0, 0.0), (10.0, 0.0), (10.0, 3.0), (0.0, 3.0))


def plate(scores: np.ndarray, plate_type: str = "blue") -> PlateReading:
    text = "".join(ALPHABET[int(i)] for i in np.argmax(scores, axis=1)) if len(scores) else ""
    return PlateReading(text, plate_type, 0.0, scores.astype(np.float32), QUAD)


def confident(text: str, best: float = 0.95, other: float = 0.05) -> np.ndarray:
    s = np.full((len(text), len(ALPHABET)), other, np.float32)
    for i, ch in enumerate(text):
        s[i, GLYPH_INDEX[ch]] = best
    return s


def wins(row: np.ndarray, idx: int, c: float, m: float) -> bool:
    """The rule as stated, in double precision on the stored scores."""
    score, rest = float(row[idx]), float(np.delete(row, idx).max())
    return score >= c and score - rest >= m


glyph = st.sampled_from(ALPHABET)
texts = st.lists(glyph, min_size=7, max_size=8).map("".join)
levels = st.floats(0.0, 1.0, allow_nan=False, width=32)


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[np.ndarray], str, float, float]:
    """Random score matrices: mostly ones where the expected glyphs win everywhere but
    at a few positions, which sit on, just inside or just outside the rule's edges."""
    text = draw(texts)
    c = draw(st.floats(0.0, 0.9375, width=32))  # exactly representable in the matrices
    m = draw(st.floats(0.015625, 0.875, width=32))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    eps = draw(st.sampled_from([-1e-3, 0.0, 1e-3]))
    mats = []
    for _ in range(draw(st.integers(1, 2))):
        n = len(text)
        top = (c + (1.0 - c) * rng.random(n)).astype(np.float32)
        s = (rng.random((n, len(ALPHABET))) * np.maximum(0.0, top - m - 1e-2)[:, None]).astype(
            np.float32)
        idx = [GLYPH_INDEX[ch] for ch in text]
        s[np.arange(n), idx] = top
        for i in draw(st.lists(st.integers(0, n - 1), max_size=2, unique=True)):
            e = idx[i]
            j = (e + draw(st.integers(1, len(ALPHABET) - 1))) % len(ALPHABET)
            mode = draw(st.sampled_from(["margin", "confidence", "other", "flat"]))
            if mode == "margin":  # a runner-up at the margin
                s[i, j] = np.float32(min(1.0, max(0.0, float(s[i, e]) - m + eps)))
            elif mode == "confidence":  # the expected glyph at the confidence
                s[i] = np.minimum(s[i], np.float32(max(0.0, c - m - 1e-2)))
                s[i, e] = np.float32(min(1.0, max(0.0, c + eps)))
            elif mode == "other":
                s[i, j] = np.float32(draw(st.floats(0.0, 1.0)))
            else:
                s[i] = np.float32(draw(st.floats(0.0, 1.0)))
        mats.append(s)
    return mats, text, c, m


@settings(max_examples=300, deadline=None)
@given(cases())
def test_ok_only_when_every_expected_glyph_wins_by_the_margin(
        case: tuple[list[np.ndarray], str, float, float]) -> None:
    mats, text, c, m = case
    reading = FrameReading([plate(s) for s in mats])
    d = verify(reading, Expectation(text, "blue", len(mats)), min_confidence=c, margin=m)
    everywhere = all(wins(s[i], GLYPH_INDEX[ch], c, m) for s in mats for i, ch in enumerate(text))
    assert d.ok == everywhere
    assert d.ok == (d.reason is Reason.NONE)


@settings(max_examples=200, deadline=None)
@given(texts, st.floats(0.0, 0.6), st.floats(0.01, 0.3), st.integers(0, 7), glyph)
def test_one_confident_other_glyph_is_a_mismatch(text: str, c: float, m: float, pos: int,
                                                 other: str) -> None:
    pos %= len(text)
    if other == text[pos]:
        return
    shown = text[:pos] + other + text[pos + 1:]
    d = verify(FrameReading([plate(confident(shown))]), Expectation(text, "blue", 1),
               min_confidence=c, margin=m)
    assert not d.ok and d.reason is Reason.PLATE_MISMATCH


def test_doubt_is_a_vision_fault_not_a_guess() -> None:
    s = confident("粤B12345")
    s[1, GLYPH_INDEX["8"]] = 0.9  # 'B' and '8' both likely: no margin
    d = verify(FrameReading([plate(s)]), Expectation("粤B12345", "blue", 1), min_confidence=0.6)
    assert d.reason is Reason.VISION_FAULT


def test_weak_read_is_a_vision_fault() -> None:
    s = confident("粤B12345", best=0.5)
    d = verify(FrameReading([plate(s)]), Expectation("粤B12345", "blue", 1), min_confidence=0.6)
    assert d.reason is Reason.VISION_FAULT


@pytest.mark.parametrize("plates, expected, reason", [
    ([("粤B12345", "blue"), ("粤B12345", "blue")], 2, Reason.NONE),
    ([("粤B12345", "blue")], 2, Reason.PLATE_COUNT),
    ([("粤B12345", "blue"), ("粤B12345", "blue")], 1, Reason.PLATE_COUNT),
    ([("粤B12346", "blue"), ("粤B12345", "blue")], 2, Reason.PLATE_MISMATCH),
    ([("粤B1234", "blue")], 1, Reason.PLATE_MISMATCH),
    ([("粤B12345", "yellow")], 1, Reason.PLATE_TYPE),
    ([("粤B12345", "yellow"), ("粤B12346", "blue")], 2, Reason.PLATE_MISMATCH),
    ([("粤B12346", "yellow")], 2, Reason.PLATE_COUNT),
])
def test_precedence_of_line_md(plates: list[tuple[str, str]], expected: int,
                               reason: Reason) -> None:
    reading = FrameReading([plate(confident(t), ty) for t, ty in plates])
    d = verify(reading, Expectation("粤B12345", "blue", expected), min_confidence=0.6)
    assert d.reason is reason and d.ok == (reason is Reason.NONE)


def test_vision_fault_comes_before_everything() -> None:
    bad = confident("粤B12346", best=0.3)
    reading = FrameReading([plate(bad, "yellow")])
    d = verify(reading, Expectation("粤B12345", "blue", 2), min_confidence=0.6)
    assert d.reason is Reason.VISION_FAULT


@pytest.mark.parametrize("reading", [
    PlateReading("", UNKNOWN_TYPE, 0.0, np.zeros((0, len(ALPHABET)), np.float32), QUAD,
                 note="character cell 3 is empty"),
    plate(confident("粤B12345"), UNKNOWN_TYPE),
    plate(np.full((7, len(ALPHABET)), np.nan, np.float32)),
])
def test_unreadable_or_uncoloured_plate_is_a_vision_fault(reading: PlateReading) -> None:
    d = verify(FrameReading([reading]), Expectation("粤B12345", "blue", 1), min_confidence=0.6)
    assert d.reason is Reason.VISION_FAULT


def test_no_plates_expected_and_none_found() -> None:
    assert verify(FrameReading([], tray_present=True), Expectation(None, None, 0),
                  min_confidence=0.6).ok


@pytest.mark.parametrize("count", [0, 1, 2])
def test_no_tray_and_no_plate_is_a_vision_fault(count: int) -> None:
    exp = Expectation("粤B12345" if count else None, "blue" if count else None, count)
    d = verify(FrameReading([]), exp, min_confidence=0.6)
    assert d.reason is Reason.VISION_FAULT and "tray" in d.detail


@pytest.mark.parametrize("share", [0.05, 0.5, 1.0, float("nan")])
def test_glare_on_any_position_is_a_vision_fault(share: float) -> None:
    glare = np.zeros(7, np.float32)
    glare[4] = share
    p = PlateReading("粤B12345", "blue", 0.9, confident("粤B12345"), QUAD, glare=glare)
    d = verify(FrameReading([p]), Expectation("粤B12345", "blue", 1), min_confidence=0.6)
    assert d.reason is Reason.VISION_FAULT and "glare" in d.detail


@pytest.mark.parametrize("share", [0.05, 0.25])
def test_glared_position_verified_on_its_visible_part(share: float) -> None:
    glare = np.zeros(7, np.float32)
    glare[4] = share
    masked = glare > 0
    p = PlateReading("粤B12345", "blue", 0.9, confident("粤B12345"), QUAD, glare=glare,
                     masked=masked)
    assert verify(FrameReading([p]), Expectation("粤B12345", "blue", 1), min_confidence=0.6).ok
    d = verify(FrameReading([p]), Expectation("粤B12B45", "blue", 1), min_confidence=0.6)
    assert d.reason is Reason.PLATE_MISMATCH


@pytest.mark.parametrize("share", [0.26, 0.5, 1.0])
def test_mostly_washed_position_is_a_fault_even_if_masked(share: float) -> None:
    glare = np.array([0, 0, 0, 0, share, 0, 0], np.float32)
    p = PlateReading("粤B12345", "blue", 0.9, confident("粤B12345"), QUAD, glare=glare,
                     masked=glare > 0)
    d = verify(FrameReading([p]), Expectation("粤B12345", "blue", 1), min_confidence=0.6)
    assert d.reason is Reason.VISION_FAULT and "glare" in d.detail


def test_masked_position_without_a_winner_is_a_vision_fault() -> None:
    glare = np.array([0, 0, 0, 0, 0.3, 0, 0], np.float32)
    scores = confident("粤B12345")
    scores[4, GLYPH_INDEX["B"]] = 0.9  # the visible part fits 3 and B alike
    p = PlateReading("粤B12345", "blue", 0.9, scores, QUAD, glare=glare, masked=glare > 0)
    for text in ("粤B12345", "粤B12B45"):
        d = verify(FrameReading([p]), Expectation(text, "blue", 1), min_confidence=0.6)
        assert d.reason is Reason.VISION_FAULT


def test_little_glare_is_tolerated() -> None:
    glare = np.full(7, 0.01, np.float32)
    p = PlateReading("粤B12345", "blue", 0.9, confident("粤B12345"), QUAD, glare=glare)
    assert verify(FrameReading([p]), Expectation("粤B12345", "blue", 1), min_confidence=0.6).ok


def test_expected_glyph_outside_alphabet_is_a_vision_fault() -> None:
    d = verify(FrameReading([plate(confident("粤B12345"))]), Expectation("粤B1234X?", "blue", 1),
               min_confidence=0.6)
    assert d.reason is Reason.VISION_FAULT


@pytest.mark.parametrize("kwargs", [{"min_confidence": -0.1}, {"min_confidence": 1.5},
                                    {"min_confidence": 0.6, "margin": 0.0}])
def test_bad_thresholds_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        verify(FrameReading([]), Expectation(None, None, 0), **kwargs)


@pytest.mark.parametrize("args", [("粤B12345", "blue", 3), (None, "blue", 1), ("粤B12345", None, 1),
                                  ("粤B12345", "purple", 1)])
def test_expectation_is_validated(args: tuple[str | None, str | None, int]) -> None:
    with pytest.raises(ValueError):
        Expectation(*args)


def test_decision_reason_agrees_with_ok() -> None:
    with pytest.raises(ValueError):
        Decision(True, Reason.PLATE_TYPE)
    assert set(PLATE_TYPES) >= {"blue", "ebike"}


def test_a_glyph_kind_known_only_in_another_font_is_a_fault() -> None:
    """A site model keeps the base font's classes it was not taught: where a glyph of
    the expected kind is known in that row shape only in the base font, the site's own
    plate showing it could pass as a taught neighbour (second font: M passed as H)."""
    serial = frozenset({"serial"})
    foreign = (frozenset(), serial, frozenset(), frozenset(), frozenset(), frozenset(),
               frozenset())
    p = PlateReading("粤B12345", "blue", 0.9, confident("粤B12345"), QUAD, foreign=foreign)
    d = verify(FrameReading([p]), Expectation("粤B12345", "blue", 1), min_confidence=0.6)
    assert d.reason is Reason.VISION_FAULT and "another font" in d.detail
    # provinces only foreign: the serial positions are not concerned
    provinces = (frozenset({"province"}),) + (frozenset(),) * 6
    p = PlateReading("粤B12345", "blue", 0.9, confident("粤B12345"), QUAD,
                     foreign=(frozenset(),) + (frozenset({"province"}),) * 6)
    assert verify(FrameReading([p]), Expectation("粤B12345", "blue", 1), min_confidence=0.6).ok
    p = PlateReading("粤B12345", "blue", 0.9, confident("粤B12345"), QUAD, foreign=provinces)
    d = verify(FrameReading([p]), Expectation("粤B12345", "blue", 1), min_confidence=0.6)
    assert d.reason is Reason.VISION_FAULT
