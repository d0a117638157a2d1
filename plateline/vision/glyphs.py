"""Features of a normalised glyph (see :mod:`.segment`).

OpenCV 5 has no ``HOGDescriptor``, so the histogram of oriented gradients is
built here from Sobel gradients: 8 signed orientations with linear binning,
4 x 4 pixel cells, the HOG clip-and-renormalise step; concatenated with a
coarse, zero-mean copy of the glyph's pixels. Every feature vector has unit
length, so a dot product is a cosine similarity.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .segment import GLYPH_H, GLYPH_W

N_BINS = 8
CELL = 4
_CELLS = (GLYPH_H // CELL, GLYPH_W // CELL)
_PIX = (GLYPH_H // 2, GLYPH_W // 2)
HOG_DIM = _CELLS[0] * _CELLS[1] * N_BINS
PIX_DIM = _PIX[0] * _PIX[1]
FEATURE_DIM = HOG_DIM + PIX_DIM
#: Weight of the pixel part against the gradient part.
PIX_WEIGHT = 0.5


def _hog_many(gs: np.ndarray) -> np.ndarray:
    """HOG of a stack of glyphs (n, H, W) laid side by side with blank gutters."""
    n = gs.shape[0]
    pad = CELL
    tile = np.zeros((GLYPH_H + 2 * pad, n * (GLYPH_W + 2 * pad)), np.float32)
    for i in range(n):
        x = i * (GLYPH_W + 2 * pad) + pad
        tile[pad:pad + GLYPH_H, x:x + GLYPH_W] = gs[i]
    gx = cv2.Sobel(tile, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(tile, cv2.CV_32F, 0, 1, ksize=3)
    mag, ang = cv2.cartToPolar(gx, gy)
    pos = ang * (N_BINS / (2 * np.pi))
    tw = GLYPH_W + 2 * pad
    keep = (np.arange(n)[:, None] * tw + pad) // CELL + np.arange(_CELLS[1])[None, :]
    out = np.empty((n, _CELLS[0], _CELLS[1], N_BINS), np.float32)
    for b in range(N_BINS):
        d = np.abs(pos - b)
        np.minimum(d, N_BINS - d, out=d)
        np.subtract(1.0, d, out=d)
        np.maximum(d, 0.0, out=d)
        m = d * mag
        small = cv2.resize(m, (m.shape[1] // CELL, _CELLS[0] + 2), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (3, 3), 0.7)[1:-1]
        out[:, :, :, b] = small[:, keep].transpose(1, 0, 2)
    cells = out.reshape(n, -1)
    norm = np.maximum(np.linalg.norm(cells, axis=1, keepdims=True), 1e-6)
    cells = np.minimum(cells / norm, 0.2)
    return cells / np.maximum(np.linalg.norm(cells, axis=1, keepdims=True), 1e-6)


def _pixels_many(gs: np.ndarray) -> np.ndarray:
    p = np.stack([cv2.resize(g, (_PIX[1], _PIX[0]), interpolation=cv2.INTER_AREA).ravel()
                  for g in gs])
    p = p - p.mean(axis=1, keepdims=True)
    return p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-6)


def features_many(glyphs: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Unit-length feature vectors, shape (len(glyphs), FEATURE_DIM) float32."""
    if len(glyphs) == 0:
        return np.zeros((0, FEATURE_DIM), np.float32)
    gs = np.asarray(glyphs, dtype=np.float32)
    if gs.shape[1:] != (GLYPH_H, GLYPH_W):
        raise ValueError(f"glyphs must be {GLYPH_H}x{GLYPH_W}, not {gs.shape[1:]}")
    v = np.concatenate([_hog_many(gs), PIX_WEIGHT * _pixels_many(gs)], axis=1)
    return (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-6)).astype(np.float32)


def features(glyph: np.ndarray) -> np.ndarray:
    """Feature vector of one glyph (see :func:`features_many`)."""
    return features_many([glyph])[0]
