"""A class taught from few crops is judged as wide as new glyphs of it lie; the plate
grammar never makes a near miss pass."""

from __future__ import annotations

import numpy as np

from plateline.vision.alphabet import GLYPH_INDEX
from plateline.vision.model import _calibrate
from plateline.vision.segment import TALL

from .synthetic_model import three_classes


def test_a_class_taught_from_two_crops_is_judged_twice_as_wide() -> None:
    """In-sample distances to a prototype made of n crops fall short by (1 - 1/n) and new
    glyphs lie (1 + 1/n) further: z_ok widens by about 1 + 2/n."""
    model, _, means = three_classes("ABC", 20.0, 40.0, seed=3)
    rng = np.random.default_rng(4)
    per = (1000, 2, 1000)
    feats = np.concatenate([m + rng.normal(size=(n, len(m))) for m, n in zip(means, per)])
    keys = np.repeat(model.keys, per)
    crops = np.repeat(np.array(per), per)
    z_ok = _calibrate(model, feats.astype(np.float32), keys, crops, None)
    assert z_ok[1] / z_ok[0] > 1.9


def test_a_zero_close_to_o_is_not_confirmed_even_where_no_order_has_o() -> None:
    """O competes at every position: a plate stamped with O where its number has 0 is a
    wrong plate, although no order names O there (docs/vision.md)."""
    model, _, means = three_classes("0OK", 1.0, 40.0, seed=5)
    scores = model.feature_scores(means[:1].astype(np.float32), [TALL])[0]
    assert scores[GLYPH_INDEX["0"]] < 0.05
