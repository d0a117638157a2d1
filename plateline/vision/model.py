"""The glyph model: what the reader knows of a site's characters.

A :class:`GlyphModel` is taught from (glyph image, label, row shape) triples
(:mod:`.segment` makes the glyphs, :mod:`.teach` pairs them with labels). It keeps
the statistics it was taught from (per class the mean feature vector and the
count, and the pooled within-class scatter), so a later teaching can start from
it, and derives from them a discriminant projection (LDA with shrinkage) in
which the within-class spread is white. Each class is represented there by a
few prototypes (k-means of its taught glyphs: sharp, blurred, ... renditions).

A *class* is a glyph in a row shape (letters are drawn differently in the squat
top row of two-row plates and in the broad cells of their lower row). For a glyph
image, with ``d2[k]`` its squared distance to the nearest prototype of class ``k``
(``dims`` dimensions)::

    tau          = max(1, d2[n] / dims / z_ok[n])    (n: the class nearest the glyph)
    D[k]         = (a_k / s_k)^2 - ((gap_k - a_k) / s_n)^2   (D[n] = 0)
    posterior[k] = softmax(-D / (2 tau))[k]           (over the classes of its shape)
    fit[k]       = exp(-max(0, d2[k] / dims - z_ok[k]) / (FIT_SLACK * z_ok[k]))
    u_q          = t_q / sigma_q - max(0, (gap_q - t_q) / sigma_p - lo)
    sep[k]       = clip((min_q u_q - lo) / (hi - lo), 0, 1)  (SEPARATION)
    score[k]     = posterior[k] * fit[k] * sep[r]     (in [0, 1])

with ``r`` the class of the highest ``posterior * fit`` (the glyph read: ``sep`` lowers
the confidence of the whole position, never which glyph is read).

``posterior`` says which glyph it is *rather than the others*. ``D[k]`` compares the
glyph's place on the line from class ``k``'s nearest prototype to class ``n``'s (``gap_k``
apart; ``a_k`` the glyph's projection, from ``k``'s end) in each class's own spread along
that line (``s_k``, ``s_n``: ``axis_spread`` below); the offset across the line is the
same for both and drops out. Where no spread was measured, ``D[k] = d2[k] - d2[n]``, the
pooled metric's answer: it takes every class's spread as 1 in every direction, which
for a close pair (the second font's ``0`` and ``O``, 7 of their spreads apart along
their line, about 3 pooled units) left a plain ``0`` at posterior 0.8. ``tau`` tempers it
for a glyph that lies beyond the taught spread of even its nearest class (a heavy
blur, a glyph of another design): the class spreads say nothing about glyphs that
far out, and the same difference of distances is read as if every class were
``tau`` times wider (a glyph midway between two classes, far from both, is then
not confidently either). ``fit`` says how well
it looks like that glyph at all; ``z_ok`` is a high percentile of the distances
of the teaching glyphs to their own class (the class's own, shrunk towards the
pooled one by how many crops it was taught from, as complex characters spread
more, within ``MAX_CLASS_SPREAD``; widened for classes taught from few crops,
whose prototypes are themselves uncertain), so a clean glyph scores
close to 1, a glyph three times as far as the worst taught ones about 0.6 (the
spread of blurred complex characters on new frames is wide), and a blot or a
mis-cut glyph close to 0. Glyphs never taught score 0. Glare is judged apart
(:mod:`.glare`).

``sep`` says whether the glyph is *told apart* from every other class at all. The
posterior alone is confident about classes that lie close together (a font whose H
and M are the same block with a small notch): a glyph a little nearer one of them
gets a large posterior although either could have made it. For the prototype ``p``
of class ``k`` nearest the glyph and every prototype ``q`` of every other class of
its shape, ``t_q`` is how far the glyph lies beyond ``q`` towards ``p`` (its
projection on the line from ``q`` to ``p``), ``sigma_q`` the spread of ``q``'s class
along that line: measured on its taught glyphs (``axis_spread``; glyphs vary more
towards some neighbours than others; the larger of the root mean square and the tail,
shrunk towards the class's round spread from ``z_ok`` by how few crops it was taught
from), or that round spread where nothing was measured. ``z_ok`` is a high percentile
of the distances in every direction at once, floored at the pooled one, so the round
spread overstates how far a simple glyph (a ``0``) strays towards one neighbour (an
``O``) by about two. A glyph of ``q``'s class lies ``hi = 4.5`` spreads out about once
in 300,000; where two classes are closer than a few spreads, no glyph between them
scores high for either. Far apart classes need the second term: with ``gap_q`` the
distance from ``q`` to ``p`` and ``sigma_p`` the spread of ``p``'s class along the same
line, a glyph lying more than ``lo`` spreads short of ``p`` is an outlier of its own
class in the very direction that tells it from ``q`` (a heavily blurred ``O`` lay 4.9
spreads beyond the nearest ``0`` and 4.3 short of its ``O``: posterior 0.99 for ``0``),
and the excess counts against it.

The model is one ``.npz`` file (arrays and a JSON string, no pickled objects).
The default model (Noto Sans CJK plates rendered by the simulator) ships as
``plateline/vision/models/default.npz``; it is rebuilt with
``.venv/bin/python tests/vision/build_default_model.py``.
"""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from plateline.errors import VisionError

from .alphabet import ALPHABET, GLYPH_INDEX, glyph_kind
from .glyphs import FEATURE_DIM, features_many
from .segment import GLYPH_H, GLYPH_W, N_SHAPES

FORMAT = 4  # 4: the discriminant dimensions recorded (max_dims); 3: three row shapes
#: Discriminant dimensions kept (a model records its own: ``max_dims``). 64 kept 3.1 of
#: the 5.2 pooled units between the second font's 0 and O, 96 keeps 3.6, 128 4.6 (equal
#: false rejects on 3,600 frames per font, more on always-glared green plates).
MAX_DIMS = 96
SHRINK = 0.05
PROTOTYPES = 3
Z_PERCENTILE = 99.5
SPREAD_PRIOR = 10.0  # crops' worth of the pooled spread in each class's own
CROPS_PER_PROTOTYPE = 10
#: A prototype stands for a rendition of its glyph seen on at least this many crops.
MIN_PROTOTYPE_CROPS = 3
MAX_CLASS_SPREAD = 1.5  # a class's own spread counts up to this times the pooled one
FIT_SLACK = 4.0  # how fast the fit falls beyond z_ok, in units of z_ok
#: Separation (module doc): a glyph counts as told apart from class g when it lies at
#: least SEPARATION[1] of g's spreads beyond g's prototype towards the class it is
#: scored for; nothing at SEPARATION[0] or less, linearly in between.
SEPARATION = (2.5, 4.5)
#: Masked check with seen ink (``masked_scores``): ink at least this share of the plate's
#: ink level counts as seen; the share of the read glyph's ink in the hole that must be
#: seen, nothing at the first, in full from the second.
SEEN_INK = 0.25
SEEN_SHARE = (0.5, 0.8)
#: z_ok is the Z_PERCENTILE of d2 / dims; for a round Gaussian class that percentile of
#: chi-square(dims) / dims over the spread along one direction (Wilson-Hilferty)
_Z_NORMAL = 2.5758  # standard normal quantile of Z_PERCENTILE
DEFAULT_MODEL = "default.npz"


class ModelError(VisionError):
    """A model file is missing, unreadable or of another format."""


@dataclass(eq=False)
class GlyphModel:
    """Taught glyph statistics and the discriminant space derived from them."""

    keys: np.ndarray  # (K,) int32: glyph index * N_SHAPES + shape
    means: np.ndarray  # (K, D) float32, raw feature means
    counts: np.ndarray  # (K,) int64
    scatter: np.ndarray  # (D, D) float64, pooled within-class scatter (sum)
    z_ok: np.ndarray  # (K,) float64, per class
    protos: np.ndarray  # (P, D) float32, raw feature means of each class's clusters
    proto_keys: np.ndarray  # (P,) int32, class key of each prototype
    meta: dict[str, object] = field(default_factory=dict)
    #: (K, GLYPH_H, GLYPH_W) float32 mean glyph image of each class (masked checks);
    #: None for a model written before templates were kept.
    templates: np.ndarray | None = None
    #: (P, P) float32: spread of prototype q's class along the line from q to p
    #: (``[p, q]``), measured on its taught glyphs; NaN where not measured (then the
    #: class's round spread from ``z_ok`` stands in). None: nothing measured.
    axis_spread: np.ndarray | None = None
    proj: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.keys = np.asarray(self.keys, np.int32)
        if len(self.keys) < 2:
            raise ModelError("a model needs at least two glyph classes")
        order = np.argsort(self.keys)
        self.keys = self.keys[order]
        self.means = np.asarray(self.means, np.float32)[order]
        self.counts = np.asarray(self.counts, np.int64)[order]
        self.z_ok = np.broadcast_to(np.asarray(self.z_ok, np.float64), self.keys.shape)[order]
        if self.templates is not None:
            self.templates = np.asarray(self.templates, np.float32)[order]
            if self.templates.shape != (len(self.keys), GLYPH_H, GLYPH_W):
                raise ModelError("templates do not match the glyph classes")
        porder = np.argsort(np.asarray(self.proto_keys), kind="stable")
        self.proto_keys = np.asarray(self.proto_keys, np.int32)[porder]
        self.protos = np.asarray(self.protos, np.float32)[porder]
        if self.axis_spread is not None:
            self.axis_spread = np.asarray(self.axis_spread, np.float32)[np.ix_(porder, porder)]
            if self.axis_spread.shape != (len(self.proto_keys),) * 2:
                raise ModelError("axis spreads do not match the prototypes")
        if not np.array_equal(np.unique(self.proto_keys), self.keys):
            raise ModelError("every glyph class needs prototypes, and only those")
        self.proj = self._projection()
        self._centres = (self.protos @ self.proj).astype(np.float32)
        self._starts = np.searchsorted(self.proto_keys, self.keys)
        self._shape_of = self.keys % N_SHAPES
        self._glyph_of = self.keys // N_SHAPES
        self._proto_cls = np.searchsorted(self.keys, self.proto_keys)
        ends = np.append(self._starts[1:], len(self.proto_keys))
        width = int((ends - self._starts).max())
        #: (K, width) indices of each class's prototypes (the last one repeated)
        self._proto_idx = np.minimum(self._starts[:, None] + np.arange(width)[None, :],
                                     ends[:, None] - 1)
        self._shape_protos = [np.flatnonzero(self.proto_keys % N_SHAPES == s)
                              for s in range(N_SHAPES)]
        gap = self._centres[:, None, :] - self._centres[None, :, :]
        self._proto_d2 = (gap ** 2).sum(axis=2)  # (P, P) squared distances of prototypes
        self._foreign = self._foreign_by_shape()

    def _foreign_by_shape(self) -> tuple[frozenset[str], ...]:
        """Per row shape, the glyph kinds with a class this site did not teach (kept from
        a base model of another font). A model that records no ``site_keys`` was taught
        from one font: nothing in it is foreign."""
        site = self.meta.get("site_keys")
        if not isinstance(site, list):
            return tuple(frozenset() for _ in range(N_SHAPES))
        foreign = set(self.keys.tolist()) - {int(k) for k in site}
        return tuple(frozenset(glyph_kind(ALPHABET[k // N_SHAPES])
                               for k in foreign if k % N_SHAPES == shape)
                     for shape in range(N_SHAPES))

    def foreign_kinds(self, shapes: Sequence[int]) -> tuple[frozenset[str], ...]:
        """For glyph cells of these row shapes, the kinds of glyph known in that shape only
        from another font than the site's (see :func:`decide.verify`)."""
        return tuple(self._foreign[int(s)] for s in shapes)

    # -- derived space -------------------------------------------------------------
    @property
    def max_dims(self) -> int:
        """Discriminant dimensions this model keeps at most: those it was calibrated in
        (recorded with it; a site model taught on a base keeps the base's)."""
        value = self.meta.get("max_dims", MAX_DIMS)
        if not isinstance(value, int) or value < 1:
            raise ModelError(f"glyph model records max_dims {value!r}")
        return value

    def _projection(self) -> np.ndarray:
        n = max(1, int(self.counts.sum()) - len(self.keys))
        cov = self.scatter / n
        d = cov.shape[0]
        cov = (1 - SHRINK) * cov + SHRINK * (np.trace(cov) / d) * np.eye(d)
        evals, evecs = np.linalg.eigh(cov)
        white = evecs / np.sqrt(np.maximum(evals, 1e-12))
        centred = (self.means - self.means.mean(axis=0)) @ white
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        dims = min(self.max_dims, len(self.keys) - 1)
        return (white @ vt[:dims].T).astype(np.float32)

    @property
    def dims(self) -> int:
        return int(self.proj.shape[1])

    @property
    def glyphs(self) -> str:
        """Every glyph the model knows, in alphabet order."""
        return "".join(ALPHABET[g] for g in sorted({int(k) // N_SHAPES for k in self.keys}))

    # -- scoring ---------------------------------------------------------------------
    def proto_distances(self, feats: np.ndarray) -> np.ndarray:
        """Squared distances (n, P) of feature vectors to every prototype."""
        z = feats.astype(np.float32) @ self.proj
        d2: np.ndarray = ((z[:, None, :] - self._centres[None, :, :]) ** 2).sum(axis=2)
        return d2

    def distances(self, feats: np.ndarray) -> np.ndarray:
        """Squared distances (n, K) of feature vectors to each class's nearest prototype."""
        d2 = self.proto_distances(feats)
        return np.minimum.reduceat(d2, self._starts, axis=1).astype(np.float64)

    def round_spread(self) -> np.ndarray:
        """(P,) spread along one direction of each prototype's class, from its ``z_ok``
        as if the class were a round Gaussian."""
        dims = self.dims
        chi = dims * (1 - 2 / (9 * dims) + _Z_NORMAL * np.sqrt(2 / (9 * dims))) ** 3
        spread: np.ndarray = np.sqrt(self.z_ok[self._proto_cls] * dims / chi)
        return spread

    def separation(self, pd2: np.ndarray, classes: np.ndarray, shape: int) -> np.ndarray:
        """``sep`` (module doc) of one glyph, given its squared distances ``pd2`` (P,) to
        every prototype, for the classes (indices into ``keys``) of row shape ``shape``."""
        classes = np.asarray(classes)
        others = self._shape_protos[shape]
        cand = self._proto_idx[classes]
        near = cand[np.arange(len(classes)), np.argmin(pd2[cand], axis=1)]  # p of each class
        gap2 = self._proto_d2[np.ix_(near, others)].astype(np.float64)
        gap = np.maximum(np.sqrt(gap2), 1e-6)
        t = (pd2[others][None, :] - pd2[near][:, None] + gap2) / (2.0 * gap)
        round_ = self.round_spread()
        sigma_q = np.broadcast_to(round_[others][None, :], t.shape)
        sigma_p = np.broadcast_to(round_[near][:, None], t.shape)
        if self.axis_spread is not None:
            measured = self.axis_spread[np.ix_(near, others)]
            sigma_q = np.where(np.isnan(measured), sigma_q, measured)
            measured = self.axis_spread[np.ix_(others, near)].T
            sigma_p = np.where(np.isnan(measured), sigma_p, measured)
        # beyond q, less how much further than an ordinary glyph of p it lies short of p
        short_of_p = np.maximum(gap - t, 0.0) / sigma_p
        ratio = t / sigma_q - np.maximum(short_of_p - SEPARATION[0], 0.0)
        ratio[self._proto_cls[others][None, :] == classes[:, None]] = np.inf
        lo, hi = SEPARATION
        return np.clip((ratio.min(axis=1) - lo) / (hi - lo), 0.0, 1.0)

    def _rivalry(self, pd2: np.ndarray, sel: np.ndarray, row: np.ndarray, near: int
                 ) -> np.ndarray:
        """How much less likely each class ``sel`` is than class ``near`` for a glyph with
        prototype distances ``pd2`` and class distances ``row`` (module doc: ``D``)."""
        delta: np.ndarray = row - row[near]
        if self.axis_spread is None:
            return delta
        cand = self._proto_idx[sel]
        pk = cand[np.arange(len(sel)), np.argmin(pd2[cand], axis=1)]
        pn = pk[near]
        gap2 = self._proto_d2[pn, pk].astype(np.float64)
        gap = np.sqrt(np.maximum(gap2, 1e-12))
        s_k = self.axis_spread[pn, pk].astype(np.float64)
        s_n = self.axis_spread[pk, pn].astype(np.float64)
        ok = np.isfinite(s_k) & np.isfinite(s_n) & (gap2 > 0)
        # along the line from k's prototype to near's, in each class's own spread there
        along = (delta + gap2) / (2.0 * gap)
        axis = (along / np.maximum(s_k, 1e-6)) ** 2 - ((gap - along) / np.maximum(s_n, 1e-6)) ** 2
        return np.where(ok, axis, delta)

    def scores(self, glyphs: Sequence[np.ndarray] | np.ndarray,
               shapes: Sequence[int]) -> np.ndarray:
        """Score (n, len(ALPHABET)) in [0, 1] of every glyph of the alphabet (module doc)."""
        if len(glyphs) == 0:
            return np.zeros((0, len(ALPHABET)), np.float32)
        return self.feature_scores(features_many(glyphs), shapes)

    def feature_scores(self, feats: np.ndarray, shapes: Sequence[int]) -> np.ndarray:
        """:meth:`scores` of glyphs given by their feature vectors (n, FEATURE_DIM)."""
        out = np.zeros((len(feats), len(ALPHABET)), np.float32)
        if len(feats) == 0:
            return out
        pd2 = self.proto_distances(feats)
        d2 = np.minimum.reduceat(pd2, self._starts, axis=1).astype(np.float64)
        for i, shape in enumerate(shapes):
            sel = np.flatnonzero(self._shape_of == shape)
            if sel.size == 0:
                continue
            row = d2[i, sel]
            z_ok = self.z_ok[sel]
            near = int(np.argmin(row))
            tau = max(1.0, float(row[near]) / self.dims / float(z_ok[near]))
            post = np.exp(-0.5 * self._rivalry(pd2[i], sel, row, near) / tau)
            post /= post.sum()
            fit = np.exp(-np.maximum(0.0, row / self.dims - z_ok) / (FIT_SLACK * z_ok))
            score = post * fit
            best = int(np.argmax(score))
            sep = self.separation(pd2[i], sel[best:best + 1], int(shape))[0]
            # never all zero: the glyph read stays the best one
            out[i, self._glyph_of[sel]] = (score * max(sep, 1e-4)).astype(np.float32)
        return out

    def masked_scores(self, glyph: np.ndarray, hole: np.ndarray, shape: int,
                      seen_ref: float | None = None, keep_ink: bool = False) -> np.ndarray:
        """Scores (len(ALPHABET),) of a glyph whose ``hole`` (weights in [0, 1], 1 where
        the pixel carries no contrast) cannot be seen, judged on its visible part only.

        For each class ``k`` the hole is filled with ``k``'s template and the score of
        ``k`` taken on that glyph (posterior against every class, in the pooled metric
        ``d2[k] - d2[n]``: under glare doubt is kept wide; and fit): a class
        scores high only when the *visible* pixels agree with it. Where two classes
        differ only inside the hole both fill-ins look right, so neither wins by a
        margin. Without templates every score is 0 (nothing can be verified).

        ``keep_ink`` (dark ink on a light plate): light only lifts dark ink, so whatever
        ink the hole still shows is ink: each fill-in keeps it (the template's ink or
        the glyph's, the stronger), and a class without a stroke where one is seen
        does not look right. Ink a highlight erased is no evidence either way.

        ``seen_ref`` (dark ink on a light plate, a large hole; the plate's ink level;
        implies ``keep_ink``): the position counts only as far as the glyph read has
        its own ink in the hole seen (above ``SEEN_INK`` of ``seen_ref``; ``SEEN_SHARE``
        of its template's ink there, weighted; nothing at the first, in full from the second):
        a sheen leaves strokes lifted but there, a highlight that erased them leaves
        every glyph that needs ink there unconfirmed.
        """
        out = np.zeros(len(ALPHABET), np.float32)
        if self.templates is None:
            return out
        sel = np.flatnonzero(self._shape_of == shape)
        if sel.size == 0:
            return out
        h = np.clip(hole, 0.0, 1.0).astype(np.float32)
        fill = self.templates[sel]
        if keep_ink or seen_ref is not None:
            fill = np.maximum(fill, glyph[None])
        filled = glyph[None] * (1.0 - h)[None] + fill * h[None]
        pd2 = self.proto_distances(features_many(filled))
        d2 = np.minimum.reduceat(pd2, self._starts, axis=1).astype(np.float64)[:, sel]
        own = d2[np.arange(sel.size), np.arange(sel.size)]
        z_ok = self.z_ok[sel]
        near = np.argmin(d2, axis=1)
        tau = np.maximum(1.0, d2[np.arange(sel.size), near] / self.dims / z_ok[near])
        post = 1.0 / np.exp(np.minimum(-0.5 * (d2 - own[:, None]) / tau[:, None], 80.0)
                            ).sum(axis=1)
        fit = np.exp(-np.maximum(0.0, own / self.dims - z_ok) / (FIT_SLACK * z_ok))
        sep = np.array([self.separation(pd2[j], sel[j:j + 1], shape)[0]
                        for j in range(sel.size)])
        score = post * fit * sep
        if seen_ref is not None:
            want = self.templates[sel[int(np.argmax(score))]] * h
            present = glyph > SEEN_INK * seen_ref
            seen = float(want[present].sum()) / max(float(want.sum()), 1e-6)
            lo, hi = SEEN_SHARE
            score = score * float(np.clip((seen - lo) / (hi - lo), 0.0, 1.0))
        out[self._glyph_of[sel]] = score.astype(np.float32)
        return out

    # -- teaching ---------------------------------------------------------------------
    @classmethod
    def teach(cls, glyphs: Sequence[np.ndarray] | np.ndarray, labels: Sequence[str],
              shapes: Sequence[int], *, base: GlyphModel | None = None,
              meta: dict[str, object] | None = None,
              sources: Sequence[int] | None = None, prune: bool = True) -> GlyphModel:
        """A model taught from glyph images and their labels.

        With ``base``, classes seen in the new glyphs replace the base's (the site's
        dies win), the others are kept, and the within-class spread is pooled.
        ``sources`` names the glyph crop each image was made from (augmented copies
        share their original's), so that a class is judged by how many crops it was
        really taught from (default: every image is a crop of its own).

        With ``prune``, crops that are like no other crop of their class (a cluster of
        fewer than ``MIN_PROTOTYPE_CROPS`` crops, such as a mis-cut glyph) are left out
        and the model is taught again without them (``meta["left_out"]``: per glyph,
        how many crops): one odd crop would otherwise become a prototype of its own,
        and glyphs of another class that happen to look like it would read as its class.
        """
        if not (len(glyphs) == len(labels) == len(shapes)):
            raise ValueError("glyphs, labels and shapes must have the same length")
        if sources is not None and len(sources) != len(glyphs):
            raise ValueError("sources must have one entry per glyph")
        if len(glyphs) == 0:
            raise ValueError("nothing to teach from")
        bad = sorted({c for c in labels if c not in GLYPH_INDEX})
        if bad:
            raise ValueError(f"labels outside the alphabet: {''.join(bad)!r}")
        feats = features_many(glyphs).astype(np.float64)
        keys = np.array([GLYPH_INDEX[c] * N_SHAPES + int(s) for c, s in zip(labels, shapes)])
        src = np.arange(len(keys)) if sources is None else np.asarray(sources, np.int64)
        uniq, inverse = np.unique(keys, return_inverse=True)
        counts = np.bincount(inverse).astype(np.int64)
        means = np.zeros((len(uniq), FEATURE_DIM))
        np.add.at(means, inverse, feats)
        means /= counts[:, None]
        centred = feats - means[inverse]
        scatter = centred.T @ centred
        images = np.zeros((len(uniq), GLYPH_H, GLYPH_W))
        np.add.at(images, inverse, np.asarray(glyphs, np.float64))
        templates: np.ndarray | None = images / counts[:, None, None]
        all_keys, all_means, all_counts = uniq, means, counts
        if base is not None:
            keep = ~np.isin(base.keys, uniq)
            all_keys = np.concatenate([uniq, base.keys[keep]])
            all_means = np.concatenate([means, base.means[keep].astype(np.float64)])
            all_counts = np.concatenate([counts, base.counts[keep]])
            scatter = scatter + base.scatter
            templates = (np.concatenate([images / counts[:, None, None], base.templates[keep]])
                         if base.templates is not None else None)
        info = dict(base.meta) if base is not None else {}
        info.update(meta or {})
        info["taught_glyphs"] = len(keys)
        if base is not None:  # which classes the site's own glyphs taught, over all rounds
            earlier = base.meta.get("site_keys")
            site = {int(k) for k in uniq} | ({int(k) for k in earlier}
                                             if isinstance(earlier, list) else set())
            info["site_keys"] = sorted(site)
        # the discriminant space first (prototypes = class means), then the clusters
        space = cls(all_keys, all_means, all_counts, scatter, np.ones(len(all_keys)),
                    all_means, all_keys, info)
        crops = _crops_per_sample(keys, src)
        protos, proto_keys, odd = _prototypes(feats, keys, space.proj, crops, src)
        if prune and odd.size:
            keep = ~np.isin(src, odd)
            if keep.any():
                left = Counter(labels[int(np.flatnonzero(src == c)[0])] for c in odd)
                taken = np.flatnonzero(keep).tolist()
                model = cls.teach([glyphs[i] for i in taken], [labels[i] for i in taken],
                                  [shapes[i] for i in taken], base=base,
                                  meta=meta, sources=src[keep].tolist(), prune=False)
                model.meta["left_out"] = dict(sorted(left.items()))
                return model
        info["left_out"] = {}
        if base is not None:
            kept = ~np.isin(base.proto_keys, uniq)
            protos = np.concatenate([protos, base.protos[kept]])
            proto_keys = np.concatenate([proto_keys, base.proto_keys[kept]])
        model = cls(all_keys, all_means, all_counts, scatter, np.ones(len(all_keys)), protos,
                    proto_keys, info, templates)
        model.z_ok = _calibrate(model, feats, keys, crops, base)
        model.meta["z_ok"] = float(np.min(model.z_ok))
        model.axis_spread = _axis_spreads(model, feats, keys, base, src)
        return model

    def measure_axis_spreads(self, glyphs: Sequence[np.ndarray] | np.ndarray,
                             labels: Sequence[str], shapes: Sequence[int],
                             sources: Sequence[int] | None = None) -> None:
        """Set ``axis_spread`` from labelled glyphs of the classes this model was taught
        (as :meth:`teach` does), keeping its prototypes and calibration: for a model
        written before spreads were measured."""
        feats = np.concatenate([features_many(glyphs[i:i + 4096])
                                for i in range(0, len(glyphs), 4096)]).astype(np.float64)
        keys = np.array([GLYPH_INDEX[c] * N_SHAPES + int(s) for c, s in zip(labels, shapes)])
        known = np.isin(keys, self.keys)
        src = np.arange(len(keys)) if sources is None else np.asarray(sources, np.int64)
        feats, keys, src = feats[known], keys[known], src[known]
        self.axis_spread = _axis_spreads(self, feats, keys, None, src)

    # -- files ------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the model as one compressed ``.npz`` file."""
        iu = np.triu_indices(self.scatter.shape[0])
        meta = dict(self.meta, format=FORMAT, max_dims=self.max_dims, alphabet=ALPHABET,
                    glyph_size=[GLYPH_H, GLYPH_W],
                    feature_dim=FEATURE_DIM, n_shapes=N_SHAPES)
        extra: dict[str, Any] = ({} if self.templates is None
                                 else {"templates": self.templates.astype(np.float16)})
        if self.axis_spread is not None:
            extra["axis_spread"] = self.axis_spread.astype(np.float16)
        with open(path, "wb") as fh:
            np.savez_compressed(fh, keys=self.keys, means=self.means.astype(np.float32),
                                counts=self.counts, scatter=self.scatter[iu].astype(np.float32),
                                z_ok=self.z_ok.astype(np.float64),
                                protos=self.protos.astype(np.float32), proto_keys=self.proto_keys,
                                meta=np.array(json.dumps(meta, ensure_ascii=False)), **extra)

    @classmethod
    def load(cls, path: str | Path) -> GlyphModel:
        """Read a model written by :meth:`save` (ModelError when it cannot be used)."""
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                keys, means, counts = data["keys"], data["means"], data["counts"]
                packed, z_ok = data["scatter"], np.asarray(data["z_ok"], np.float64)
                protos, proto_keys = data["protos"], data["proto_keys"]
                templates = (np.asarray(data["templates"], np.float32)
                             if "templates" in data.files else None)
                spread = (np.asarray(data["axis_spread"], np.float32)
                          if "axis_spread" in data.files else None)
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise ModelError(f"cannot read glyph model {path}: {err}") from err
        if (meta.get("format") != FORMAT or meta.get("feature_dim") != FEATURE_DIM
                or meta.get("glyph_size") != [GLYPH_H, GLYPH_W]
                or meta.get("n_shapes") != N_SHAPES):
            raise ModelError(f"glyph model {path} is of another format (format "
                             f"{meta.get('format')!r}, {meta.get('n_shapes')!r} row shapes; this "
                             f"plateline reads format {FORMAT}, {N_SHAPES} row shapes): teach it "
                             "again from its sample folders with `plateline vision teach`")
        alphabet = meta.get("alphabet")
        if alphabet != ALPHABET:
            if not isinstance(alphabet, str):
                raise ModelError(f"glyph model {path} has no alphabet")
            keys, ok = _remap(keys, alphabet)
            means, counts, z_ok = means[ok], counts[ok], np.broadcast_to(z_ok, ok.shape)[ok]
            templates = templates[ok] if templates is not None else None
            proto_keys, pok = _remap(proto_keys, alphabet)
            protos = protos[pok]
            spread = spread[np.ix_(pok, pok)] if spread is not None else None
        d = means.shape[1]
        scatter = np.zeros((d, d))
        scatter[np.triu_indices(d)] = packed
        scatter = scatter + np.triu(scatter, 1).T
        try:
            return cls(keys, means, counts, scatter, z_ok, protos, proto_keys, meta, templates,
                       spread)
        except ValueError as err:
            raise ModelError(f"glyph model {path} is inconsistent: {err}") from err

    @classmethod
    def default(cls) -> GlyphModel:
        """The model shipped with plateline (simulator's default font)."""
        ref = resources.files("plateline.vision.models").joinpath(DEFAULT_MODEL)
        with resources.as_file(ref) as path:
            return cls.load(path)


def _remap(keys: np.ndarray, alphabet: str) -> tuple[np.ndarray, np.ndarray]:
    """Keys of a model written with another alphabet, in this one's (and which survive)."""
    remap = np.array([GLYPH_INDEX.get(c, -1) for c in alphabet])
    glyph = remap[keys // N_SHAPES]
    ok = glyph >= 0
    return glyph[ok] * N_SHAPES + keys[ok] % N_SHAPES, ok


def _crops_per_sample(keys: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """For each sample, the number of distinct crops its class was taught from."""
    out = np.empty(len(keys), np.int64)
    for key in np.unique(keys):
        idx = np.flatnonzero(keys == key)
        out[idx] = np.unique(sources[idx]).size
    return out


def _prototypes(feats: np.ndarray, keys: np.ndarray, proj: np.ndarray, crops: np.ndarray,
                sources: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Up to PROTOTYPES cluster means (raw features) per class, clustered in ``proj``:
    one more per ``CROPS_PER_PROTOTYPE`` crops the class was taught from; and the crops
    (``sources``) of clusters made of fewer than ``MIN_PROTOTYPE_CROPS`` crops of a class
    with several clusters (odd crops: those clusters are prototypes all the same, unless
    the caller teaches again without them)."""
    z = (feats @ proj).astype(np.float32)
    protos, proto_keys, odd = [], [], []
    for key in np.unique(keys):
        idx = np.flatnonzero(keys == key)
        k = min(PROTOTYPES, int(crops[idx[0]]) // CROPS_PER_PROTOTYPE + 1, len(idx))
        if k > 1:
            crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 1e-3)
            cv2.setRNGSeed(int(key))
            _, labels, _ = cv2.kmeans(z[idx], k, None, crit, 2,  # type: ignore[call-overload]
                                      cv2.KMEANS_PP_CENTERS)
            labels = labels.ravel()
        else:
            labels = np.zeros(len(idx), np.int32)
        for j in range(k):
            members = idx[labels == j]
            if members.size:
                protos.append(feats[members].mean(axis=0))
                proto_keys.append(key)
                mine = np.unique(sources[members])
                if k > 1 and mine.size < MIN_PROTOTYPE_CROPS:
                    odd.extend(mine.tolist())
    return (np.array(protos, np.float32), np.array(proto_keys, np.int32),
            np.unique(np.array(odd, np.int64)))


def _calibrate(model: GlyphModel, feats: np.ndarray, keys: np.ndarray, crops: np.ndarray,
               base: GlyphModel | None) -> np.ndarray:
    """``z_ok`` per class from the taught glyphs' distances to their own class.

    A class's own spread (a high percentile of its distances) is shrunk towards the
    pooled one in proportion to how many crops it was taught from (``SPREAD_PRIOR``
    crops' worth of the pooled spread), kept within [1, ``MAX_CLASS_SPREAD``] times the
    pooled one, and widened by ``1 + 2 / crops``: a prototype made of n crops is itself
    off, so new glyphs lie ``1 + 1/n`` times further from it (squared) than the class
    spreads, and the taught glyphs, which made it, lie ``1 - 1/n`` times nearer; to first
    order their ratio. (``1 + 1/n`` alone left the second font's wide provinces taught
    from 2-3 crops at 0.55-0.59 on new frames, read right with posterior 1.0.)
    """
    own = np.empty(len(keys))
    cls_of = np.searchsorted(model.keys, keys)
    for start in range(0, len(keys), 4096):
        part = slice(start, start + 4096)
        d2 = model.distances(feats[part].astype(np.float32))
        own[part] = d2[np.arange(d2.shape[0]), cls_of[part]] / model.dims
    z_all = max(float(np.percentile(own, Z_PERCENTILE)), 0.05)
    z_ok = np.full(len(model.keys), z_all)
    for k in np.unique(cls_of):
        sel = cls_of == k
        n = float(crops[sel][0])
        mine = float(np.percentile(own[sel], Z_PERCENTILE))
        shrunk = (n * mine + SPREAD_PRIOR * z_all) / (n + SPREAD_PRIOR)
        z_ok[k] = min(MAX_CLASS_SPREAD * z_all, max(z_all, shrunk)) * (1.0 + 2.0 / n)
    if base is not None:
        kept = ~np.isin(model.keys, keys)
        from_base = base.z_ok[np.searchsorted(base.keys, model.keys[kept])]
        z_ok[kept] = np.maximum(from_base, z_all if len(keys) >= 500 else 0.0)
    return z_ok


#: Crops' worth of the round spread in a class's measured spread along an axis.
AXIS_PRIOR = 3.0


def _axis_spreads(model: GlyphModel, feats: np.ndarray, keys: np.ndarray,
                  base: GlyphModel | None, sources: np.ndarray | None = None) -> np.ndarray:
    """``axis_spread`` (P, P) from the taught glyphs: for each prototype ``q`` taught
    now, the spread of its glyphs (those nearest ``q`` within its class) along the line
    from ``q`` to every prototype ``p`` of its row shape: the larger of their root mean
    square offset and their ``Z_PERCENTILE`` offset over the normal quantile (a class
    with a heavy tail towards ``p`` counts by its tail), shrunk by ``AXIS_PRIOR`` crops'
    worth (the crops nearest ``q``) towards the same measure on the class's other glyphs
    (each from its nearest prototype), itself shrunk as much towards the round spread.
    Pairs of prototypes kept from ``base`` keep the base's value; other pairs are NaN."""
    n_p = len(model.proto_keys)
    out = np.full((n_p, n_p), np.nan, np.float32)
    centres = model._centres.astype(np.float64)
    round_ = model.round_spread()
    src = np.arange(len(keys)) if sources is None else np.asarray(sources, np.int64)
    if base is not None and base.axis_spread is not None:
        kept = ~np.isin(model.proto_keys, keys)
        mine = np.flatnonzero(kept)
        in_base = _match_rows(base.protos, model.protos[mine])
        ok = in_base >= 0
        mine, in_base = mine[ok], in_base[ok]
        out[np.ix_(mine, mine)] = base.axis_spread[np.ix_(in_base, in_base)]
    z = (feats @ model.proj).astype(np.float64)
    for key in np.unique(keys):
        members = np.flatnonzero(keys == key)
        own = np.flatnonzero(model.proto_keys == key)
        d2 = ((z[members][:, None, :] - centres[own][None]) ** 2).sum(axis=2)
        nearest = own[np.argmin(d2, axis=1)]
        shape = model.proto_keys % N_SHAPES == key % N_SHAPES
        for q in own:
            axes = centres[shape] - centres[q]
            axes /= np.maximum(np.linalg.norm(axes, axis=1, keepdims=True), 1e-9)
            # the class's other glyphs (each from its own prototype) along q's lines, then
            # q's: a prototype that few crops lie nearest borrows its class's spread
            prior = round_[q] ** 2
            others_near = nearest != q
            if others_near.any():
                rest = members[others_near]
                n_rest = float(np.unique(src[rest]).size)
                rest_ms = _offset_ms(np.abs((z[rest] - centres[nearest[others_near]]) @ axes.T))
                prior = (n_rest * rest_ms + AXIS_PRIOR * prior) / (n_rest + AXIS_PRIOR)
            mine_q = members[~others_near]
            n = float(np.unique(src[mine_q]).size)
            ms = _offset_ms(np.abs((z[mine_q] - centres[q]) @ axes.T)) if mine_q.size else 0.0
            out[shape, q] = np.sqrt((n * ms + AXIS_PRIOR * prior) / (n + AXIS_PRIOR))
    return out


def _offset_ms(off: np.ndarray) -> np.ndarray:
    """Per column, the larger of the mean square offset and the squared tail offset over
    the normal quantile (a tail towards a neighbour counts by its tail)."""
    tail = np.percentile(off, Z_PERCENTILE, axis=0) / _Z_NORMAL
    out: np.ndarray = np.maximum((off ** 2).mean(axis=0), tail ** 2)
    return out


def _match_rows(table: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Index in ``table`` of each of ``rows`` (an exact copy), -1 where none."""
    index = {r.tobytes(): i for i, r in enumerate(np.asarray(table, np.float32))}
    return np.array([index.get(r.tobytes(), -1) for r in np.asarray(rows, np.float32)],
                    np.int64)
