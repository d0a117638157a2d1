"""What the lens, the light and the sensor do to a frame: uneven light, glare, blur, noise."""

from __future__ import annotations

import functools

import cv2
import numpy as np

_NOISE_UNIT = 32.0  # the noise bank holds N(0, 1) scaled by this, as int16
_NOISE_PAD = 96


@functools.lru_cache(maxsize=4)
def _noise_bank(width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(7_2026)
    bank = rng.standard_normal((height + _NOISE_PAD, width + _NOISE_PAD, 3), np.float32)
    out = np.clip(bank * _NOISE_UNIT, -32767, 32767).astype(np.int16)
    out.flags.writeable = False
    return out


def add_noise(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``img`` plus sensor noise of standard deviation ``sigma`` (grey levels)."""
    if sigma <= 0:
        return img
    h, w = img.shape[:2]
    bank = _noise_bank(w, h)
    y, x = (int(v) for v in rng.integers(0, _NOISE_PAD + 1, size=2))
    crop = bank[y:y + h, x:x + w]
    return cv2.addWeighted(img, 1.0, crop, sigma / _NOISE_UNIT, 0.0, dtype=cv2.CV_8U)


def apply_light(img: np.ndarray, rng: np.random.Generator, brightness: float, gradient: float,
                vignette: float) -> None:
    """Scale ``img`` (in place) by a smooth light field: a linear gradient in a random
    direction of relative strength ``gradient``, darker corners, overall ``brightness``."""
    if gradient <= 0 and vignette <= 0 and abs(brightness - 1.0) < 1e-3:
        return
    h, w = img.shape[:2]
    sh, sw = max(2, h // 16), max(2, w // 16)
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    u, v = xx / (sw - 1) - 0.5, yy / (sh - 1) - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    field = 1.0 + gradient * 2 * (u * np.cos(angle) + v * np.sin(angle))
    field *= 1.0 - vignette * (u * u + v * v) * 2
    field *= brightness
    small = np.clip(field * 128.0, 0, 255).astype(np.uint8)
    gain8 = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    cv2.multiply(img, cv2.merge([gain8, gain8, gain8]), dst=img, scale=1 / 128)


def glare_spot(size: tuple[int, int], centre: tuple[float, float], radii: tuple[float, float],
               angle_deg: float, strength: float) -> np.ndarray:
    """A specular spot (uint8, ``size`` = width, height): an elliptical Gaussian highlight
    whose core, where ``strength`` times the Gaussian exceeds 1, washes out to white."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = xx - centre[0], yy - centre[1]
    c, s = np.cos(np.deg2rad(angle_deg)), np.sin(np.deg2rad(angle_deg))
    a, b = (dx * c + dy * s) / radii[0], (-dx * s + dy * c) / radii[1]
    return (255 * np.minimum(1.0, strength * np.exp(-0.5 * (a * a + b * b)))).astype(np.uint8)


def blur(img: np.ndarray, sigma: float, motion_px: int) -> np.ndarray:
    """Defocus (Gaussian, ``sigma`` px) and motion along the belt (``motion_px`` long)."""
    out = img
    if sigma >= 0.3:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    if motion_px >= 2:
        out = cv2.blur(out, (int(motion_px), 1))
    return out
