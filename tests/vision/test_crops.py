"""Plate crops kept with the record: rectified from the plate's quad, pruned with frames."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from plateline.errors import VisionError
from plateline.vision.crops import rectify, save_plate_crops
from plateline.vision.retention import prune_frames


def _frame_with_tilted_plate() -> tuple[np.ndarray, list[list[float]]]:
    """A 440x140 'plate' (left half black, right half white) drawn tilted by 20 degrees."""
    frame = np.full((600, 800, 3), 128, np.uint8)
    centre, size, angle = (400.0, 300.0), (440.0, 140.0), 20.0
    corners = cv2.boxPoints((centre, size, angle))  # bottom-left, top-left, top-right, ...
    quad = [corners[1], corners[2], corners[3], corners[0]]  # clockwise from top-left
    plate = np.zeros((140, 440, 3), np.uint8)
    plate[:, 220:] = 255
    warp = cv2.getPerspectiveTransform(
        np.array([[0, 0], [439, 0], [439, 139], [0, 139]], np.float32), np.float32(quad))
    mask = cv2.warpPerspective(np.full((140, 440), 255, np.uint8), warp, (800, 600))
    drawn = cv2.warpPerspective(plate, warp, (800, 600))
    frame[mask > 0] = drawn[mask > 0]
    return frame, [[float(x), float(y)] for x, y in quad]


def test_a_tilted_plate_comes_out_upright_with_its_aspect() -> None:
    frame, quad = _frame_with_tilted_plate()
    crop = rectify(frame, quad)
    assert crop.shape[0] == 140 and abs(crop.shape[1] - 440) <= 2
    assert crop[20:120, 20:200].mean() < 40 and crop[20:120, 240:420].mean() > 215


@pytest.mark.parametrize("quad", [[[0, 0], [10, 0], [10, 10]],
                                  [[0, 0], [1, 0], [1, 1], [0, 1]],
                                  [[0, 0], [float("nan"), 0], [10, 10], [0, 10]]])
def test_a_quad_that_is_no_plate_is_refused(quad: list[list[float]]) -> None:
    with pytest.raises(VisionError):
        rectify(np.zeros((100, 100, 3), np.uint8), quad)


def test_crops_are_written_by_item_id_and_pruned_with_the_frames(tmp_path: Path) -> None:
    frame, quad = _frame_with_tilted_plate()
    ok, jpeg = cv2.imencode(".jpg", frame)
    assert ok
    paths = save_plate_crops(jpeg.tobytes(), [quad, quad], tmp_path, "L1-00000007")
    assert [p.name for p in paths] == ["L1-00000007.plate1.jpg", "L1-00000007.plate2.jpg"]
    assert all(p.is_file() for p in paths) and not list(tmp_path.glob("*.part"))
    for p in paths:
        os.utime(p, (0, 0))
    assert prune_frames(tmp_path, 1) == 2 and not list(tmp_path.iterdir())
    with pytest.raises(VisionError, match="decodable"):
        save_plate_crops(b"not a jpeg", [quad], tmp_path, "L1-00000008")
