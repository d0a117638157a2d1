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
