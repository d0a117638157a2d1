"""VISION: grab a frame on AT_CAMERA, keep it, verify the plates against the order.

The grab is the time-critical part (the camera sees the tray for 150 mm of
travel): each tray's check starts at once in its own task, grabs (if its window is
still open), then waits for the order bound at INFEED and verifies.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from pathlib import Path
from typing import Any

from plateline.contract import EventType, Reason
from plateline.controller.model import CheckResult
from plateline.controller.ports import Camera, PlateVerifier
from plateline.controller.stations.queued import Job, QueuedStation
from plateline.errors import DeviceError, VisionError

log = logging.getLogger(__name__)

#: Reasons a verification may give; anything else is taken as VISION_FAULT.
VISION_REASONS = frozenset({Reason.VISION_FAULT, Reason.PLATE_COUNT, Reason.PLATE_MISMATCH,
                            Reason.PLATE_TYPE})
_JPEG_MAGIC = b"\xff\xd8\xff"


class VisionStation(QueuedStation):
    """The VISION check: VISION_FAULT, PLATE_COUNT, PLATE_MISMATCH, PLATE_TYPE.

    ``order_station`` is the station whose result carries the order (INFEED).
    """

    name = "VISION"
    event = EventType.AT_CAMERA
    fault_reason = Reason.VISION_FAULT

    def __init__(self, camera: Camera, verifier: PlateVerifier, *, frames_dir: Path | None,
                 verify_timeout_s: float = 10.0, order_station: str = "INFEED") -> None:
        super().__init__()
        self.camera = camera
        self.verifier = verifier
        self.frames_dir = frames_dir
        self.verify_timeout_s = verify_timeout_s
        self.order_station = order_station

    async def run(self) -> None:
        # Each tray's grab starts at once: a camera that hangs on one tray must
        # not close the next tray's window (the driver serializes if it must).
        await self._run_at_once()

    async def _grab(self, job: Job) -> tuple[bytes | None, str]:
        late = time.monotonic() - job.deadline
        if late >= 0:
            return None, f"window closed {late * 1000:.0f} ms before the grab"
        try:
            return await self.camera.grab(), ""
        except DeviceError as err:
            return None, f"{self.camera.name}: {err}"

    async def _check(self, job: Job) -> CheckResult:
        data: dict[str, Any] = {"camera": self.camera.name, "plates": []}
        left = job.deadline - time.monotonic()
        if math.isfinite(left):
            data["window_left_ms"] = round(left * 1000, 1)  # at the grab: the margin kept
        try:
            frame, problem = await self._grab(job)
        except Exception as err:  # noqa: BLE001 - a broken grab is no frame
            frame, problem = None, f"{self.camera.name}: {type(err).__name__}: {err}"
        return await self._verify(job, frame, problem, data)

    async def _verify(self, job: Job, frame: bytes | None, problem: str,
                      data: dict[str, Any]) -> CheckResult:
        item = job.item
        await item.stored.wait()
        if frame is not None and self.frames_dir is not None:
            assert item.public_id is not None
            path = self.frames_dir / f"{item.public_id}.jpg"
            try:
                await asyncio.to_thread(_save_jpeg, frame, path)
                data["frame"] = str(path)
            except (OSError, VisionError) as err:  # the record would lack its frame
                frame, problem = None, f"frame not kept: {err}"
        before = await item.wait_result(self.order_station)
        if item.rejected or not before.ok or item.order is None:
            skip = CheckResult.skip(item.verdict.reason if item.verdict else None)
            return CheckResult(False, Reason.NONE, {**data, **skip.data}, skipped=True,
                               started_at=job.started_at)
        order = item.order
        if order.plate_count == 0:
            # documents are verified by barcode and weight, not by the camera (line.md)
            data["not_verified"] = "the recipe has no plates"
            return CheckResult.passed(data, started_at=job.started_at)
        if frame is None:
            data["problem"] = problem
            return CheckResult.failed(Reason.VISION_FAULT, data, started_at=job.started_at)
        from plateline.vision.reading import Expectation

        expectation = Expectation(order.plate_no or None, order.plate_type or None,
                                  order.plate_count)
        async with asyncio.timeout(self.verify_timeout_s):
            reading, decision = await self.verifier.check(frame, expectation,
                                                          order.min_confidence)
        plates = list(getattr(reading, "plates", []))
        data["plates"] = [_plate_record(p) for p in plates]
        data["detail"] = str(getattr(decision, "detail", ""))
        if plates and self.frames_dir is not None:
            await self._keep_crops(frame, plates, data, item.public_id or item.label())
        if decision.ok is True and decision.reason is Reason.NONE:
            return CheckResult.passed(data, started_at=job.started_at)
        reason = decision.reason if decision.reason in VISION_REASONS else Reason.VISION_FAULT
        return CheckResult.failed(reason, data, started_at=job.started_at)


    async def _keep_crops(self, frame: bytes, plates: list[Any], data: dict[str, Any],
                          stem: str) -> None:
        """Each plate's rectified crop beside the frame (``<item id>.plate<N>.jpg``).
        The frame and the quads are kept: a crop that cannot be written is logged,
        not a reason to reject the tray."""
        from plateline.vision.crops import save_plate_crops

        assert self.frames_dir is not None
        try:
            paths = await asyncio.to_thread(save_plate_crops, frame,
                                            [p.quad for p in plates], self.frames_dir, stem)
        except (OSError, VisionError) as err:
            log.warning("%s: plate crops not kept: %s", stem, err)
            data["crops_problem"] = str(err)
            return
        for record, path in zip(data["plates"], paths, strict=True):
            record["crop"] = str(path)


def _plate_record(plate: Any) -> dict[str, Any]:
    record = {"text": str(plate.text), "type": str(plate.plate_type),
              "score": round(float(plate.score), 4)}
    quad = getattr(plate, "quad", None)
    if quad is not None:
        record["quad"] = [[round(float(x), 1), round(float(y), 1)] for x, y in quad]
    return record


def _save_jpeg(frame: bytes, path: Path) -> None:
    """Keep ``frame`` as a JPEG file (PNG and others are re-encoded)."""
    if not frame.startswith(_JPEG_MAGIC):
        import cv2
        import numpy as np

        image = cv2.imdecode(np.frombuffer(frame, dtype=np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise VisionError("frame is not a decodable image")
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:
            raise VisionError("frame could not be encoded as JPEG")
        frame = encoded.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".jpg.part")
    tmp.write_bytes(frame)
    tmp.replace(path)
