"""Plate type (colour / kind) from a rectified crop.

Every pixel is put in a colour class (HSV: dark, light neutral, blue, yellow,
green, red, other). The background is told from zones that carry no characters
(the margins above and below a single row; the side margins of the top row and
the gap between the rows of a two-row plate), the ink from the character band:

=============  ==================================================  ===========
type           background                                          ink
=============  ==================================================  ===========
blue           blue                                                light
yellow         yellow                                              dark
yellow_green   yellow head (left), green serial; two-row: green    dark
green          light above, green below (the gradient)             dark
white          light                                               dark / red
black          dark                                                light
ebike          light (2:1 outline)                                 green
=============  ==================================================  ===========

A zone must show one class clearly (``ZONE_SHARE``); anything else is
:data:`~.reading.UNKNOWN_TYPE`, which makes the frame a VISION_FAULT, never a guess. The
one exception: on blue and black plates a head zone that shows no clear class (a sheen,
the province character's light ink) is left out when every other zone agrees, since no
other type has their background.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .reading import UNKNOWN_TYPE

#: Provisional crop used to tell the type before the exact layout is known.
PROBE_SIZE = {1: (220, 70), 2: (220, 110)}

DARK, LIGHT, BLUE, YELLOW, GREEN, RED, OTHER = range(7)
CLASS_NAMES = ("dark", "light", "blue", "yellow", "green", "red", "other")
_N_CLASSES = 7
ZONE_SHARE = 0.6


@dataclass(frozen=True)
class TypeReading:
    """The type told from colour, and what it was told from (for records and tests)."""

    plate_type: str
    background: str
    ink: str


def colour_classes(bgr: np.ndarray) -> np.ndarray:
    """Colour class of each pixel (uint8, see the module constants)."""
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    h = hsv[:, :, 0]
    s = hsv[:, :, 1]
    v = hsv[:, :, 2]
    out = np.full(h.shape, OTHER, np.uint8)
    sat = (s >= 80) & (v >= 45)
    out[sat & (h >= 95) & (h <= 130)] = BLUE
    out[sat & (h >= 14) & (h <= 36)] = YELLOW
    out[sat & (h >= 40) & (h <= 92)] = GREEN
    out[sat & ((h <= 8) | (h >= 165))] = RED
    out[(s < 70) & (v >= 100)] = LIGHT
    out[(v < 65) | ((s < 70) & (v < 85))] = DARK
    return out


def _major(classes: np.ndarray) -> tuple[int, float]:
    counts = np.bincount(classes.ravel(), minlength=_N_CLASSES)
    k = int(np.argmax(counts))
    return k, float(counts[k]) / max(1, classes.size)


def _zone(classes: np.ndarray, *parts: tuple[float, float, float, float]) -> int | None:
    """Clear majority class of the union of zones (y0, y1, x0, x1 as fractions)."""
    h, w = classes.shape
    pix = np.concatenate([classes[round(y0 * h):round(y1 * h), round(x0 * w):round(x1 * w)].ravel()
                          for y0, y1, x0, x1 in parts])
    k, share = _major(pix)
    return k if share >= ZONE_SHARE else None


def _ink(classes: np.ndarray, background: set[int], band: tuple[float, float]) -> int | None:
    """Main class other than the background's in the character band."""
    h, w = classes.shape
    pix = classes[round(band[0] * h):round(band[1] * h), round(0.05 * w):round(0.95 * w)].ravel()
    pix = pix[~np.isin(pix, list(background))]
    if pix.size < 0.08 * h * w * (band[1] - band[0]):
        return None
    counts = np.bincount(pix, minlength=_N_CLASSES)
    counts[OTHER] = 0
    k = int(np.argmax(counts))
    return k if counts[k] >= 0.5 * pix.size else None


def classify(probe: np.ndarray, rows: int) -> TypeReading:
    """Type of the plate in ``probe`` (a crop of ``PROBE_SIZE[rows]``)."""
    classes = colour_classes(probe)
    if rows == 1:
        head = _zone(classes, (0.07, 0.16, 0.05, 0.22), (0.85, 0.93, 0.05, 0.22))
        tail = _zone(classes, (0.07, 0.16, 0.35, 0.95), (0.85, 0.93, 0.35, 0.95))
        top = _zone(classes, (0.07, 0.16, 0.05, 0.95))
        bottom = _zone(classes, (0.85, 0.93, 0.05, 0.95))
        band = (0.2, 0.8)
    else:
        sides = ((0.09, 0.33, 0.04, 0.22), (0.09, 0.33, 0.78, 0.96))
        gap = (0.36, 0.42, 0.05, 0.95)
        head = tail = top = _zone(classes, *sides, gap)
        bottom = _zone(classes, (0.935, 0.965, 0.05, 0.95))
        band = (0.45, 0.92)
    ptype = UNKNOWN_TYPE
    bg = top if top is not None else head
    ink = (_ink(classes, {c for c in (head, tail, top, bottom) if c is not None}, band)
           if bg is not None else None)
    if ink is not None and bg is not None:
        ptype = _decide(rows, head, tail, top, bottom, ink)
    return TypeReading(ptype, CLASS_NAMES[bg] if bg is not None else "?",
                       CLASS_NAMES[ink] if ink is not None else "?")


def _decide(rows: int, head: int | None, tail: int | None, top: int | None,
            bottom: int | None, ink: int) -> str:
    # The head zone (beside the province character) tells yellow_green from the rest and
    # is the one a sheen or the character's own light ink clouds; on a light-ink plate whose
    # other zones all agree, no other type is possible, so a clouded head does not count.
    if tail == BLUE and head in (BLUE, None) and ink == LIGHT:
        return "blue"
    if head == tail == YELLOW and ink == DARK and bottom == YELLOW:
        return "yellow"
    if head == YELLOW and tail == GREEN and ink == DARK and rows == 1:
        return "yellow_green"
    if rows == 2 and top == GREEN and bottom == GREEN and ink == DARK:
        return "yellow_green"
    if top == LIGHT and bottom == GREEN and ink == DARK:
        return "green"
    if head == tail == top == LIGHT and ink in (DARK, RED) and bottom == LIGHT and rows == 1:
        return "white"
    if head == tail == top == LIGHT and ink == GREEN and rows == 2:
        return "ebike"
    if tail == top == bottom == DARK and head in (DARK, None) and ink == LIGHT:
        return "black"
    return UNKNOWN_TYPE
