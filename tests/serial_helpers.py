"""Shared by the serial device tests: a raw pty client and a loop-blocking check."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests.loop_blocking import watch_for_blocking


class PtyClient:
    """The controller's end of a simulated serial port, bytes in and out, read through the loop."""

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
        except OSError:  # EAGAIN included
            return
        self._buf += data
        self._more.set()

    def write(self, data: bytes) -> None:
        assert os.write(self.fd, data) == len(data)

    async def read_until(self, terminator: bytes = b"\r\n", timeout: float = 2.0) -> bytes:
        """Up to and including ``terminator``; TimeoutError if it does not come."""
        async with asyncio.timeout(timeout):
            while (idx := self._buf.find(terminator)) < 0:
                self._more.clear()
                await self._more.wait()
        end = idx + len(terminator)
        piece = bytes(self._buf[:end])
        del self._buf[:end]
        return piece

    async def readline(self, timeout: float = 1.0) -> bytes:
        """One answer up to and including ``\\r``; TimeoutError if none came."""
        return await self.read_until(b"\r", timeout)

    async def read_for(self, seconds: float) -> bytes:
        """Everything that arrives within ``seconds`` (and whatever was unread)."""
        await asyncio.sleep(seconds)
        data = bytes(self._buf)
        self._buf.clear()
        return data

    def close(self) -> None:
        if self.fd >= 0:
            self._loop.remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1


@contextlib.contextmanager
def pty_clients() -> Iterator[Callable[[str | Path], PtyClient]]:
    """A factory of clients, each closed when the block ends (for a fixture)."""
    clients: list[PtyClient] = []

    def factory(path: str | Path) -> PtyClient:
        client = PtyClient(path)
        clients.append(client)
        return client

    try:
        yield factory
    finally:
        for client in clients:
            client.close()


@pytest.fixture(autouse=True)
async def no_blocking_of_the_loop() -> AsyncIterator[None]:
    """Fail a test during which one loop callback ran longer than 0.25 s (asyncio debug)."""
    with watch_for_blocking(0.25) as watch:
        yield
    assert not watch.blocked, f"event loop blocked: {watch.blocked}"
