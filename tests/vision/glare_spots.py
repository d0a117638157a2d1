"""A specular spot put on one character of a rendered plate, of a chosen strength."""

from __future__ import annotations

import cv2
import numpy as np

from plateline.simulators.render import PlateTruth
from plateline.simulators.render.optics import glare_spot
from plateline.vision.layouts import layout_for


def cell_centre(truth: PlateTruth, position: int, dx: float = 0.0, dy: float = 0.0
                ) -> tuple[float, float]:
    """Frame pixel of the centre of character ``position`` (offset by dx, dy cell sizes)."""
    layout = layout_for(truth.plate_type, truth.rows)
    k = position
    for row in layout.rows:
        if k < row.n:
            extra = row.dot_extra if row.dot_after and k >= row.dot_after else 0.0
            x = row.x0 + k * row.pitch + extra + (0.5 + dx) * row.cell
            y = row.y + (0.5 + dy) * row.h
            break
        k -= row.n
    src = np.array([[0, 0], [layout.width, 0], [layout.width, layout.height],
                    [0, layout.height]], np.float32)
    m = cv2.getPerspectiveTransform(src, np.array(truth.quad, np.float32))
    pt = cv2.perspectiveTransform(np.array([[[x, y]]], np.float32), m)[0, 0]
    return float(pt[0]), float(pt[1])


def with_spot(image: np.ndarray, centre: tuple[float, float], radii: tuple[float, float],
              strength: float) -> np.ndarray:
    """``image`` with white light added by an elliptical spot (clipped at full scale)."""
    h, w = image.shape[:2]
    spot = glare_spot((w, h), centre, radii, 0.0, strength)
    return cv2.add(image, cv2.merge([spot, spot, spot]))
