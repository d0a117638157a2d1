"""OpenCV camera: a ``VideoCapture`` source (V4L2 device number, RTSP URL, video file).

Every OpenCV call runs in a single-thread executor owned by the camera, so that
the capture object is only ever touched by one thread and the loop never blocks.
Frames are encoded to JPEG (quality 90) in that thread too. A grab that times out
leaves its thread blocked in the capture; the next grab waits behind it.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import cv2

from plateline.drivers.camera import Camera
from plateline.errors import DeviceClosedError, DeviceConnectionError, DeviceFault

T = TypeVar("T")


class OpenCVCamera(Camera):
    """Grabs frames from an OpenCV ``VideoCapture``."""

    def __init__(self, name: str, source: int | str, *, timeout: float = 1.0,
                 open_timeout: float = 10.0, jpeg_quality: int = 90) -> None:
        super().__init__(name, timeout=timeout)
        self.source = source
        self.open_timeout = open_timeout
        self.jpeg_quality = jpeg_quality
        self._executor: ThreadPoolExecutor | None = None
        self._capture: cv2.VideoCapture | None = None
        self._closed = False

    async def open(self) -> None:
        if self._closed or self._executor is not None:
            raise DeviceClosedError("camera not reusable", device=self.name)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"camera {self.name}")
        try:
            async with self._deadline(self.open_timeout, "open"):
                self._capture = await self._in_thread(self._open_capture)
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        executor, capture = self._executor, self._capture
        self._executor = self._capture = None
        if executor is None:
            return
        if capture is not None:
            release = asyncio.get_running_loop().run_in_executor(executor, capture.release)
            try:
                await asyncio.wait_for(release, self.timeout)
            except TimeoutError:
                pass  # stuck in a read: the thread releases nothing, the process exit will
        executor.shutdown(wait=False, cancel_futures=True)

    async def grab(self, timeout: float | None = None) -> bytes:
        """Read one frame and return it as JPEG bytes; DeviceFault when no frame comes."""
        if self._capture is None:
            raise DeviceClosedError("camera not open", device=self.name)
        async with self._deadline(timeout):
            return await self._in_thread(functools.partial(self._read_jpeg, self._capture))

    async def _in_thread(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _open_capture(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(self.source)
        if not capture.isOpened():
            capture.release()
            raise DeviceConnectionError(f"cannot open video source {self.source!r}",
                                        device=self.name)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, where the backend allows
        return capture

    def _read_jpeg(self, capture: cv2.VideoCapture) -> bytes:
        ok, frame = capture.read()
        if not ok or frame is None:
            raise DeviceFault("no frame from video source", device=self.name)
        ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise DeviceFault("frame could not be encoded", device=self.name)
        return encoded.tobytes()
