"""Helpers for the device simulator tests: a non-blocking client on a pty."""

from __future__ import annotations

import asyncio
import os
import tty
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest


class PtyClient:
    """The controller's end of a simulated serial port, read through the event loop."""

    def __init__(self, path: str | Path) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        self._loop = asyncio.get_running_loop()
        self._buf = bytearray()
        self._more = asyncio.Event()
        self._loop.add_reader(self.fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 4096)
        except BlockingIOError:
            return
        self._buf += data
        self._more.set()

    def write(self, data: bytes) -> None:
        assert os.write(self.fd, data) == len(data)

    async def readline(self, timeout: float = 1.0) -> bytes:
        """One answer up to and including ``\\r``; TimeoutError if none came."""
        async with asyncio.timeout(timeout):
            while (end := self._buf.find(b"\r")) < 0:
                self._more.clear()
                await self._more.wait()
        line = bytes(self._buf[: end + 1])
        del self._buf[: end + 1]
        return line

    async def read_for(self, seconds: float) -> bytes:
        """Everything that arrives within ``seconds``."""
        await asyncio.sleep(seconds)
        data = bytes(self._buf)
        self._buf.clear()
        return data

    def close(self) -> None:
        if self.fd >= 0:
            self._loop.remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1


@pytest.fixture
async def open_client() -> AsyncIterator[Callable[[str | Path], PtyClient]]:
    clients: list[PtyClient] = []

    def factory(path: str | Path) -> PtyClient:
        client = PtyClient(path)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()
