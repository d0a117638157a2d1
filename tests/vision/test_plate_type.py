"""Plate type from colour zones: a clouded head zone on light-ink plates."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from plateline.simulators.render.plates import render_plate
from plateline.vision.plate_type import PROBE_SIZE, classify
from plateline.vision.reading import UNKNOWN_TYPE

Rect = tuple[float, float, float, float]  # y0, y1, x0, x1 as shares of the probe
HEAD: list[Rect] = [(0.0, 0.18, 0.0, 0.25)]  # above the province character
TAIL: list[Rect] = [(0.0, 0.18, 0.3, 1.0), (0.82, 1.0, 0.3, 1.0)]  # the margins further on


def _probe(text: str, plate_type: str, sheen: list[Rect]) -> np.ndarray:
    w, h = PROBE_SIZE[1]
    probe = cv2.resize(render_plate(text, plate_type, px_per_mm=0.8), (w, h),
                       interpolation=cv2.INTER_AREA)
    for y0, y1, x0, x1 in sheen:
        part = probe[round(y0 * h):round(y1 * h), round(x0 * w):round(x1 * w)]
        part[:] = (0.2 * part + 0.8 * np.array([230, 230, 230])).astype(np.uint8)
    return probe


@pytest.mark.parametrize("text, plate_type", [("粤Z1234港", "black"), ("京A12345", "blue")])
def test_a_sheen_beside_the_province_does_not_hide_a_light_ink_plate(
        text: str, plate_type: str) -> None:
    """The head zone clouded (a sheen: light grey, no clear class), every other zone
    agreeing: no other type has this background, the type is still told."""
    assert classify(_probe(text, plate_type, []), 1).plate_type == plate_type
    assert classify(_probe(text, plate_type, HEAD), 1).plate_type == plate_type


@pytest.mark.parametrize("text, plate_type", [("粤Z1234港", "black"), ("京A12345", "blue")])
def test_a_clouded_margin_elsewhere_is_still_not_told(text: str, plate_type: str) -> None:
    assert classify(_probe(text, plate_type, TAIL), 1).plate_type == UNKNOWN_TYPE


def test_a_clouded_head_never_makes_a_yellow_plate_another_type() -> None:
    """Dark-ink plates keep the strict rule: the head is what tells yellow from
    yellow-green."""
    assert classify(_probe("鲁Q12345D", "yellow_green", HEAD), 1).plate_type in (
        "yellow_green", UNKNOWN_TYPE)
    assert classify(_probe("粤B2345学", "yellow", HEAD), 1).plate_type in ("yellow", UNKNOWN_TYPE)
