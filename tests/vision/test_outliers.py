"""Glyphs far from everything taught, and odd teaching crops, give no confident reading."""

from __future__ import annotations

import numpy as np

from plateline.vision.alphabet import GLYPH_INDEX
from plateline.vision.decide import DEFAULT_MARGIN
from plateline.vision.model import FIT_SLACK, GlyphModel, _prototypes
from plateline.vision.segment import GLYPH_H, GLYPH_W, N_SHAPES, TALL

from .synthetic_model import three_classes


def _two_classes(gap: float, seed: int = 3) -> tuple[GlyphModel, np.ndarray]:
    """Tall 8 and 0 ``gap`` spreads apart (white unit spread), K far from both."""
    model, axes, _ = three_classes("80K", gap, 60.0, seed)
    return model, axes


def _verified(scores: np.ndarray, glyph: str) -> bool:
    k = GLYPH_INDEX[glyph]
    rest = np.delete(scores, k)
    return bool(scores[k] >= 0.6 and scores[k] - rest.max() >= DEFAULT_MARGIN)


def test_a_glyph_far_beyond_both_classes_is_not_confidently_the_nearer() -> None:
    """A blurred 8 of another design: 2.3 times the 0 class's spread from 0 and a little
    further from 8. Read with the class spreads as taught, that difference of distances
    is a confident 0; that far out it says little."""
    gap, diff, ratio = 10.0, 6.5, 2.3
    model, axes = _two_classes(gap)
    eight = np.searchsorted(model.keys, GLYPH_INDEX["8"] * N_SHAPES + TALL)
    origin = model.means[eight].astype(np.float64)
    t = (gap ** 2 + diff) / (2 * gap)  # d2(8) - d2(0) = diff along the axis
    zero = np.searchsorted(model.keys, GLYPH_INDEX["0"] * N_SHAPES + TALL)
    z_ok = float(model.z_ok[zero])
    off = np.sqrt(ratio * z_ok * model.dims - (gap - t) ** 2)
    far = (origin + t * axes[0] + off * axes[1])[None].astype(np.float32)
    d2 = model.distances(far)[0]
    d8, d0 = float(d2[eight]), float(d2[zero])
    assert abs((d8 - d0) - diff) < 0.5 and abs(d0 / model.dims / z_ok - ratio) < 0.1
    untempered = 1 / (1 + np.exp(-0.5 * (d8 - d0)))
    fit = np.exp(-(ratio - 1) / FIT_SLACK)
    assert untempered * fit >= 0.6  # the risky geometry of the second font's 8
    scores = model.feature_scores(far, [TALL])[0]
    assert int(np.argmax(scores)) == GLYPH_INDEX["0"]
    assert not _verified(scores, "0")


def test_an_odd_teaching_crop_makes_no_prototype() -> None:
    """Twenty crops of a class (three copies each) and one crop unlike them (a mis-cut
    glyph): its cluster is reported as odd, so that teaching leaves it out."""
    rng = np.random.default_rng(5)
    dims = 8
    feats = np.concatenate([rng.normal(0, 1, (60, dims)),
                            rng.normal(0, 0.2, (3, dims)) + 12.0])
    keys = np.full(63, 116)
    sources = np.repeat(np.arange(21), 3)
    crops = np.full(63, 21)
    protos, proto_keys, odd = _prototypes(feats, keys, np.eye(dims), crops, sources)
    assert odd.tolist() == [20] and len(protos) == 3
    _, _, none = _prototypes(feats[:60], keys[:60], np.eye(dims), crops[:60], sources[:60])
    assert none.size == 0


def test_teaching_reports_what_it_left_out() -> None:
    rng = np.random.default_rng(2)
    glyphs = [rng.random((GLYPH_H, GLYPH_W)).astype(np.float32) for _ in range(6)]
    model = GlyphModel.teach(glyphs, list("AAABBB"), [TALL] * 6)
    assert model.meta["left_out"] == {}
