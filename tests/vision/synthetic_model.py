"""A glyph model built by hand: three tall classes with white unit spread."""

from __future__ import annotations

import numpy as np

from plateline.vision.alphabet import GLYPH_INDEX
from plateline.vision.glyphs import FEATURE_DIM
from plateline.vision.model import GlyphModel
from plateline.vision.segment import N_SHAPES, TALL


def three_classes(glyphs: str, gap: float, far: float, seed: int
                  ) -> tuple[GlyphModel, np.ndarray, np.ndarray]:
    """Tall classes ``glyphs[0..2]``, each spreading by 1 along any direction: the
    second ``gap`` from the first along ``axes[0]``, the third ``far`` from the first
    along ``axes[1]``. Returns the model, the axes and the class means."""
    rng = np.random.default_rng(seed)
    axes = np.linalg.qr(rng.normal(size=(FEATURE_DIM, 2)))[0].T
    first = rng.normal(size=FEATURE_DIM)
    means = np.stack([first, first + gap * axes[0], first + far * axes[1]])
    keys = np.array([GLYPH_INDEX[c] * N_SHAPES + TALL for c in glyphs])
    n = 10_000
    model = GlyphModel(keys, means, np.full(3, n), np.eye(FEATURE_DIM) * (3 * n - 3),
                       np.ones(3), means, keys)
    model.z_ok = model.z_ok / float(model.round_spread()[0]) ** 2
    assert np.allclose(model.round_spread(), 1.0)
    return model, axes, means
