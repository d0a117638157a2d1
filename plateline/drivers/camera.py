"""Camera drivers: the common base and the image checks they share.

A camera grabs one frame on demand and returns it encoded (JPEG or PNG, as the
source gives it). Protocols: ``camera_http`` (snapshot URL), ``camera_opencv``
(OpenCV VideoCapture), ``camera_files`` (frames replayed from a folder).
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from plateline.drivers.lifecycle import AsyncResource
from plateline.errors import DeviceError, DeviceTimeoutError, ProtocolError

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def image_kind(data: bytes) -> str | None:
    """``"jpeg"`` or ``"png"`` from the leading bytes, else None."""
    if data.startswith(JPEG_MAGIC):
        return "jpeg"
    if data.startswith(PNG_MAGIC):
        return "png"
    return None


def check_image(data: bytes, *, device: str | None = None) -> bytes:
    """Return ``data`` if it starts like a JPEG or PNG; ProtocolError otherwise."""
    if image_kind(data) is None:
        raise ProtocolError("not a JPEG or PNG image", device=device,
                            detail=f"{len(data)} bytes beginning {data[:8]!r}")
    return data


class Camera(AsyncResource):
    """One camera; an async context manager. ``timeout`` is the default per grab."""

    def __init__(self, name: str, *, timeout: float) -> None:
        self.name = name
        self.timeout = timeout

    async def open(self) -> None:
        """Acquire what the camera needs (session, device, file list)."""

    async def aclose(self) -> None:
        """Release it; safe to call more than once."""

    async def _enter(self) -> None:
        await self.open()

    @abc.abstractmethod
    async def grab(self, timeout: float | None = None) -> bytes:
        """One frame of what is under the camera now, as encoded image bytes."""

    @asynccontextmanager
    async def _deadline(self, timeout: float | None, what: str = "grab") -> AsyncIterator[None]:
        """Apply the timeout of one call; DeviceTimeoutError when it runs out."""
        limit = self.timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                yield
        except TimeoutError as err:
            if isinstance(err, DeviceError):
                raise
            raise DeviceTimeoutError(f"{what} not done within {limit:g} s",
                                     device=self.name) from err
