"""The belt (dark textured rubber between two guide rails) and the plastic tray on it."""

from __future__ import annotations

import functools

import cv2
import numpy as np

#: Tray outside (mm) and the insets of its wall and floor, seen from above.
TRAY_MM = (1000.0, 700.0)
TRAY_WALL_INSET = 14.0
TRAY_FLOOR_INSET = 32.0

_RIM = (158, 160, 156)
_FLOOR = (128, 131, 130)
_WALL_LIT, _WALL_DARK = (146, 149, 147), (104, 106, 105)


@functools.lru_cache(maxsize=4)
def _belt_texture(width: int, height: int) -> np.ndarray:
    """A belt one and a half frames long (it scrolls), with rails top and bottom."""
    rng = np.random.default_rng(20261126)
    w = width * 3 // 2
    seed_map = rng.normal(0, 1, (max(2, height // 24), max(2, w // 24))).astype(np.float32)
    coarse: np.ndarray = cv2.resize(seed_map, (w, height), interpolation=cv2.INTER_CUBIC)
    streaks: np.ndarray = rng.normal(0, 1, (height, 1)).astype(np.float32)
    streaks = cv2.GaussianBlur(streaks, (1, 0), 2.0)
    fine: np.ndarray = rng.normal(0, 1, (height, w)).astype(np.float32)
    fine = cv2.GaussianBlur(fine, (0, 0), 0.7)
    grey = 46 + 4.0 * coarse + 3.0 * streaks + 5.0 * fine
    belt = np.clip(grey, 0, 255).astype(np.uint8)
    img = cv2.merge([belt + 2, belt + 1, belt])  # rubber is a touch warm
    rail = max(8, height // 26)
    profile = np.concatenate([np.linspace(150, 205, rail // 2), np.linspace(205, 120, rail - rail // 2)])
    rail_img = np.repeat(profile[:, None], w, axis=1).astype(np.uint8)
    rail_bgr = cv2.merge([rail_img + 4, rail_img + 2, rail_img])
    img[:rail] = rail_bgr
    img[height - rail:] = rail_bgr[::-1]
    img[rail:rail + 3] //= 2
    img[height - rail - 3:height - rail] //= 2
    img.flags.writeable = False
    return img


def belt(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A fresh frame of belt (BGR), scrolled to a random place."""
    width, height = size
    texture = _belt_texture(width, height)
    x = int(rng.integers(0, texture.shape[1] - width + 1))
    return texture[:, x:x + width].copy()


def _rect(half_w: float, half_h: float) -> np.ndarray:
    return np.array([[-half_w, -half_h], [half_w, -half_h], [half_w, half_h], [-half_w, half_h]],
                    np.float64)


def _rounded(half_w: float, half_h: float, r: float) -> np.ndarray:
    pts = []
    for cx, cy, start in ((half_w - r, -half_h + r, 270), (half_w - r, half_h - r, 0),
                          (-half_w + r, half_h - r, 90), (-half_w + r, -half_h + r, 180)):
        a = np.deg2rad(np.arange(start, start + 91, 15))
        pts.append(np.stack([cx + r * np.cos(a), cy + r * np.sin(a)], axis=1))
    return np.concatenate(pts)


def _to_image(poly_mm: np.ndarray, h_img: np.ndarray) -> np.ndarray:
    return cv2.perspectiveTransform(poly_mm[None].astype(np.float64), h_img)[0]


def _fill(img: np.ndarray, poly: np.ndarray, colour: tuple[int, ...]) -> None:
    cv2.fillPoly(img, [np.round(poly * 16).astype(np.int32)], colour, cv2.LINE_AA, 4)


def tray_outline(h_img: np.ndarray) -> np.ndarray:
    """The four outer corners of the tray in image pixels."""
    return _to_image(_rect(TRAY_MM[0] / 2, TRAY_MM[1] / 2), h_img)


def draw_tray(img: np.ndarray, h_img: np.ndarray, shadow_px: float) -> None:
    """Draw the tray (its centre at tray-plane origin, mm) onto ``img`` through ``h_img``."""
    hw, hh = TRAY_MM[0] / 2, TRAY_MM[1] / 2
    outer = _to_image(_rounded(hw, hh, 30), h_img)
    # Soft shadow on the belt, drawn small and blurred for speed.
    k = 4
    small: np.ndarray = np.zeros((img.shape[0] // k, img.shape[1] // k), np.uint8)
    _fill(small, (outer + shadow_px) / k, (255,))
    small = cv2.GaussianBlur(small, (0, 0), 3)
    shade = cv2.resize(small, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)
    gain = cv2.merge([255 - shade // 2] * 3)
    cv2.multiply(img, gain, dst=img, scale=1 / 255)
    _fill(img, outer, _RIM)
    wall = _rect(hw - TRAY_WALL_INSET, hh - TRAY_WALL_INSET)
    floor = _rect(hw - TRAY_FLOOR_INSET, hh - TRAY_FLOOR_INSET)
    # Four sloped inner walls: the far (top, left) ones catch the light.
    for i, colour in enumerate((_WALL_LIT, _WALL_DARK, _WALL_DARK, _WALL_LIT)):
        j = (i + 1) % 4
        quad = np.array([wall[i], wall[j], floor[j], floor[i]])
        _fill(img, _to_image(quad, h_img), colour)
    _fill(img, _to_image(_rounded(hw - TRAY_FLOOR_INSET, hh - TRAY_FLOOR_INSET, 8), h_img),
          _FLOOR)
