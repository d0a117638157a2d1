"""HTTP snapshot camera: ``GET <url>`` returns one JPEG or PNG (IP cameras, the simulator)."""

from __future__ import annotations

import aiohttp

from plateline.drivers.camera import Camera, check_image
from plateline.errors import (
    DeviceClosedError,
    DeviceConnectionError,
    DeviceFault,
    ProtocolError,
)


class HttpCamera(Camera):
    """Grabs frames from a snapshot URL with one aiohttp session owned by the camera."""

    def __init__(self, name: str, url: str, *, timeout: float = 1.0,
                 max_bytes: int = 32 * 1024 * 1024) -> None:
        super().__init__(name, timeout=timeout)
        self.url = url
        self.max_bytes = max_bytes
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    async def open(self) -> None:
        if self._closed or self._session is not None:
            raise DeviceClosedError("camera not reusable", device=self.name)
        # no aiohttp timers: the deadline of each grab is ours
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))

    async def aclose(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def grab(self, timeout: float | None = None) -> bytes:
        """GET the snapshot; DeviceFault for a non-200 status (``code`` = status)."""
        session = self._session
        if session is None:
            raise DeviceClosedError("camera not open", device=self.name)
        async with self._deadline(timeout):
            try:
                async with session.get(self.url) as resp:
                    if resp.status != 200:
                        raise DeviceFault(f"HTTP status {resp.status}", device=self.name,
                                          code=resp.status, detail=self.url)
                    data = await self._body(resp)
            except aiohttp.ClientConnectionError as err:
                raise DeviceConnectionError("camera unreachable", device=self.name,
                                            detail=str(err)) from err
            except aiohttp.ClientError as err:  # payload or HTTP framing errors
                raise ProtocolError("bad HTTP answer", device=self.name,
                                    detail=str(err)) from err
        return check_image(data, device=self.name)

    async def _body(self, resp: aiohttp.ClientResponse) -> bytes:
        if resp.content_length is not None and resp.content_length > self.max_bytes:
            raise ProtocolError(f"image of {resp.content_length} bytes", device=self.name)
        body = bytearray()
        async for chunk in resp.content.iter_chunked(65536):
            body += chunk
            if len(body) > self.max_bytes:
                raise ProtocolError(f"image larger than {self.max_bytes} bytes", device=self.name)
        return bytes(body)
