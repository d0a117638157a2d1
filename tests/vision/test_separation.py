"""Classes the model cannot tell apart never give a confident reading (``model.sep``)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from plateline.vision.alphabet import GLYPH_INDEX
from plateline.vision.decide import DEFAULT_MARGIN
from plateline.vision.model import SEPARATION, GlyphModel, _axis_spreads
from plateline.vision.segment import N_SHAPES, TALL

from .synthetic_model import three_classes


def _model(gap: float, seed: int) -> tuple[GlyphModel, np.ndarray, np.ndarray]:
    """Three tall classes H, M, K with white unit within-class spread in feature space:
    M lies ``gap`` from H (in within-class spreads), K far from both."""
    return three_classes("HMK", gap, 40.0, seed)


@settings(max_examples=12, deadline=None)
@given(st.floats(0.0, SEPARATION[0] - 0.01), st.floats(0.0, 1.0), st.integers(0, 2**31 - 1))
def test_no_glyph_between_close_classes_is_read_with_confidence(gap: float, where: float,
                                                                seed: int) -> None:
    """H and M closer than SEPARATION[0] spreads: a glyph anywhere between them is
    neither (the second font's tall H and M: one block with a small notch)."""
    model, axes, means = _model(gap, seed)
    glyph = means[0] + where * gap * axes[0]
    scores = model.feature_scores(glyph[None].astype(np.float32), [TALL])[0]
    best = np.sort(scores)[-2:]
    assert best[1] < 0.05 and best[1] - best[0] < DEFAULT_MARGIN


@settings(max_examples=12, deadline=None)
@given(st.floats(2.0 * SEPARATION[1] + 1.0, 20.0), st.integers(0, 2**31 - 1))
def test_well_apart_classes_keep_their_confidence(gap: float, seed: int) -> None:
    model, _, means = _model(gap, seed)
    for k, glyph in ((GLYPH_INDEX["H"], means[0]), (GLYPH_INDEX["M"], means[1])):
        scores = model.feature_scores(glyph[None].astype(np.float32), [TALL])[0]
        assert int(np.argmax(scores)) == k and scores[k] > 0.95


@settings(max_examples=12, deadline=None)
@given(st.floats(0.0, 20.0), st.floats(-1.0, 2.0), st.integers(0, 2**31 - 1))
def test_separation_only_lowers_confidence_never_changes_the_reading(gap: float, where: float,
                                                                     seed: int) -> None:
    model, axes, means = _model(gap, seed)
    glyph = (means[0] + where * gap * axes[0])[None].astype(np.float32)
    with_sep = model.feature_scores(glyph, [TALL])[0]
    d2 = model.distances(glyph)[0]
    near = int(np.argmin(d2))
    tau = max(1.0, float(d2[near]) / model.dims / float(model.z_ok[near]))
    post = np.exp(-0.5 * (d2 - d2.min()) / tau)
    post /= post.sum()
    glyph_of = model.keys // N_SHAPES
    plain = np.zeros_like(with_sep)
    plain[glyph_of] = post  # fit is 1 this close to the prototypes
    assert int(np.argmax(with_sep)) == int(np.argmax(plain))
    assert np.all(with_sep <= plain + 1e-6)


def _spread_towards_m(offsets: np.ndarray) -> float:
    """The measured spread of class H towards M for H glyphs lying ``offsets`` (in round
    spreads) from H's prototype along the line to M."""
    model, axes, means = _model(10.0, 7)
    glyphs = means[0] + offsets[:, None] * axes[0]
    keys = np.full(len(glyphs), GLYPH_INDEX["H"] * N_SHAPES + TALL)
    spread = _axis_spreads(model, glyphs, keys, None, np.arange(len(glyphs)))
    h, m = (int(np.flatnonzero(model.proto_keys == GLYPH_INDEX[c] * N_SHAPES + TALL)[0])
            for c in "HM")
    return float(spread[m, h])


def test_a_class_is_judged_by_its_measured_spread_towards_a_neighbour() -> None:
    """Glyphs of H that vary little towards M: the spread along that line is what was
    measured (well below the round spread of H's calibration), so a glyph at M's
    prototype is many spreads of H away; a tail of H glyphs towards M counts in full."""
    rng = np.random.default_rng(11)
    tight = rng.normal(0.0, 0.3, 600)
    assert 0.25 < _spread_towards_m(tight) < 0.45
    tail = np.concatenate([tight, np.full(12, 3.0)])  # 2 % of the glyphs far towards M
    assert _spread_towards_m(tail) > 1.1
    few = rng.normal(0.0, 0.3, 3)  # three crops: the round spread still weighs half
    assert _spread_towards_m(few) > 0.65


@settings(max_examples=20, deadline=None)
@given(st.floats(2.0 * SEPARATION[1] + 1.0, 20.0), st.floats(-1.0, 0.02),
       st.floats(0.0, SEPARATION[0]), st.integers(0, 2**31 - 1))
def test_a_glyph_midway_between_far_apart_classes_is_told_apart_from_neither(
        gap: float, past_middle: float, own: float, seed: int) -> None:
    """Two classes far apart: a glyph at the middle of their line (a blurred O a hair
    nearer 0 than O, both well beyond their taught spread) lies many spreads beyond
    the one class but as many short of the other: no separation. A glyph one spread
    past the middle, or up to SEPARATION[0] spreads short of its class (an ordinary
    one), is told apart in full."""
    model, axes, means = _model(gap, seed)
    m = np.flatnonzero(model.keys == GLYPH_INDEX["M"] * N_SHAPES + TALL)
    for at, expect_told_apart in ((0.5 * gap + past_middle, False),
                                  (0.5 * gap + 1.0, True), (gap - own, True)):
        glyph = (means[0] + at * axes[0])[None].astype(np.float32)
        sep = float(model.separation(model.proto_distances(glyph)[0], m, TALL)[0])
        assert (sep > 0.99) if expect_told_apart else (sep < 0.05), (at, sep)


def test_a_prototype_few_crops_lie_nearest_borrows_its_class_spread() -> None:
    """H has two renditions: one that 300 crops lie nearest, varying by 0.3 round spreads,
    and one of 3 crops. The second's spread towards M is judged mostly on its class's other
    crops (about 0.3), not on the round spread (1), which would make it a wide competitor
    of every glyph near it."""
    model, axes, means = _model(10.0, 7)
    h_key = int(model.keys[0])
    second = means[0] + 4.0 * axes[1]
    keys = np.concatenate([model.keys[:1], model.keys])
    two = GlyphModel(keys[1:], model.means, model.counts, model.scatter, model.z_ok,
                     np.vstack([means[:1], second[None], means[1:]]), keys)
    rng = np.random.default_rng(5)
    noise = rng.normal(0.0, 0.3 / np.sqrt(2.0), (303, means.shape[1]))
    glyphs = np.vstack([means[0] + noise[:300], second + noise[300:]])
    spread = _axis_spreads(two, glyphs, np.full(len(glyphs), h_key), None,
                           np.arange(len(glyphs)))
    m = int(np.flatnonzero(two.proto_keys == GLYPH_INDEX["M"] * N_SHAPES + TALL)[0])
    firsts = np.flatnonzero(two.proto_keys == h_key)
    near_second = firsts[np.argmin(((two._centres[firsts]
                                     - (second @ two.proj)) ** 2).sum(axis=1))]
    assert float(spread[m, near_second]) < 0.5


def _with_axis_spread(gap: float, spread: float, seed: int
                      ) -> tuple[GlyphModel, np.ndarray, np.ndarray]:
    """H and M ``gap`` pooled units apart whose glyphs vary by ``spread`` along their line
    (measured), K far from both."""
    model, axes, means = _model(gap, seed)
    h, m = (int(np.flatnonzero(model.proto_keys == GLYPH_INDEX[c] * N_SHAPES + TALL)[0])
            for c in "HM")
    table = np.full((len(model.proto_keys),) * 2, np.nan, np.float32)
    table[h, m] = table[m, h] = spread
    model.axis_spread = table
    return model, axes, means


def test_a_close_pair_is_told_apart_by_its_own_spread_along_their_line() -> None:
    """The second font's 0 and O: 3.3 pooled units apart, glyphs varying by 0.45 along
    their line. A 0 one pooled unit (2.2 of its spreads) towards O is a plain 0: the pooled
    metric gave it posterior 0.9, its measured spread gives it close to 1."""
    model, axes, means = _with_axis_spread(3.3, 0.45, 3)
    glyph = (means[0] + 1.0 * axes[0])[None].astype(np.float32)
    scores = model.feature_scores(glyph, [TALL])[0]
    assert scores[GLYPH_INDEX["H"]] > 0.99
    d2 = model.distances(glyph)[0]
    pooled = np.exp(-0.5 * (d2 - d2.min()))
    assert 0.8 < pooled.max() / pooled.sum() < 0.95


@settings(max_examples=30, deadline=None)
@given(st.floats(1.0, 20.0), st.floats(0.3, 1.5), st.floats(0.0, 1.0), st.integers(0, 2**31 - 1))
def test_measured_spreads_never_let_a_glyph_near_its_class_verify_another(
        gap: float, spread: float, where: float, seed: int) -> None:
    """Whatever the spreads along the line, a glyph of H lying less than SEPARATION[0]
    plus 0.6 of the separation ramp of H's spreads from H towards M never verifies M."""
    model, axes, means = _with_axis_spread(gap, spread, seed)
    reach = min(gap, (SEPARATION[0] + 0.6 * (SEPARATION[1] - SEPARATION[0])) * spread)
    glyph = (means[0] + where * reach * 0.999 * axes[0])[None].astype(np.float32)
    scores = model.feature_scores(glyph, [TALL])[0]
    m = GLYPH_INDEX["M"]
    assert not (scores[m] >= 0.6 and scores[m] - np.delete(scores, m).max() >= DEFAULT_MARGIN)
