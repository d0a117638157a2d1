"""The plate crops kept with a record: each plate found, rectified, as a JPEG file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from plateline.errors import VisionError

#: Height of a kept crop in pixels (a plate is 140 mm high: about 1 px/mm).
CROP_HEIGHT = 140


def rectify(image: np.ndarray, quad: Sequence[Sequence[float]],
            height: int = CROP_HEIGHT) -> np.ndarray:
    """The plate inside ``quad`` (corners clockwise from top-left, frame pixels) warped
    to a fronto-parallel crop ``height`` pixels high, its width from the quad's sides."""
    corners = np.asarray(quad, dtype=np.float32)
    if corners.shape != (4, 2) or not np.all(np.isfinite(corners)):
        raise VisionError(f"a plate quad needs 4 corners, not {corners.tolist()!r}")
    top, right, bottom, left = (float(np.linalg.norm(corners[(i + 1) % 4] - corners[i]))
                                for i in range(4))
    if min(top, right, bottom, left) < 2:
        raise VisionError("a plate quad with a side under 2 px")
    width = max(1, round(height * (top + bottom) / (left + right)))
    target = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]],
                      dtype=np.float32)
    warp = cv2.getPerspectiveTransform(corners, target)
    return cv2.warpPerspective(image, warp, (width, height), flags=cv2.INTER_AREA)


def save_plate_crops(frame: bytes, quads: Sequence[Sequence[Sequence[float]]],
                     folder: Path, stem: str, *, quality: int = 90) -> list[Path]:
    """Write ``<stem>.plate<N>.jpg`` for each quad (N from 1); their paths in order.

    Blocking (decoding, warping, files): call it in a worker thread.
    """
    if not quads:
        return []
    image = cv2.imdecode(np.frombuffer(frame, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise VisionError("frame is not a decodable image")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, quad in enumerate(quads, start=1):
        ok, encoded = cv2.imencode(".jpg", rectify(image, quad),
                                   [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise VisionError("plate crop could not be encoded as JPEG")
        path = folder / f"{stem}.plate{n}.jpg"
        tmp = path.with_suffix(".jpg.part")
        tmp.write_bytes(encoded.tobytes())
        tmp.replace(path)
        paths.append(path)
    return paths


__all__ = ["CROP_HEIGHT", "rectify", "save_plate_crops"]
