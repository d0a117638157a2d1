"""Classes the model cannot tell apart never give a confident reading (``model.sep``)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from plateline.vision.alphabet import GLYPH_INDEX
from plateline.vision.decide import DEFAULT_MARGIN
from plateline.vision.glyphs import FEATURE_DIM
from plateline.vision.model import SEPARATION, GlyphModel
from plateline.vision.segment import N_SHAPES, TALL


def _model(gap: float, seed: int) -> tuple[GlyphModel, np.ndarray, np.ndarray]:
    """Three tall classes H, M, K with white unit within-class spread in feature space:
    M lies ``gap`` from H (in within-class spreads), K far from both."""
    rng = np.random.default_rng(seed)
    axes = np.linalg.qr(rng.normal(size=(FEATURE_DIM, 2)))[0].T
    h = rng.normal(size=FEATURE_DIM)
    means = np.stack([h, h + gap * axes[0], h + 40.0 * axes[1]])
    keys = np.array([GLYPH_INDEX[c] * N_SHAPES + TALL for c in "HMK"])
    n = 10_000
    model = GlyphModel(keys, means, np.full(3, n), np.eye(FEATURE_DIM) * (3 * n - 3),
                       np.ones(3), means, keys)
    # z_ok such that each class spreads by 1 along any direction
    model.z_ok = model.z_ok / float(model.round_spread()[0]) ** 2
    assert np.allclose(model.round_spread(), 1.0)
    return model, axes, means


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
    post = np.exp(-0.5 * (d2 - d2.min()))
    post /= post.sum()
    glyph_of = model.keys // N_SHAPES
    plain = np.zeros_like(with_sep)
    plain[glyph_of] = post  # fit is 1 this close to the prototypes
    assert int(np.argmax(with_sep)) == int(np.argmax(plain))
    assert np.all(with_sep <= plain + 1e-6)
