"""The device end of a pseudo-terminal: tests play a serial device on the master fd."""

from __future__ import annotations

import asyncio
import os


class PtyPeer:
    """Master side of a pty; ``path`` is the slave for the driver under test."""

    def __init__(self) -> None:
        self.master, self._slave = os.openpty()
        self.path = os.ttyname(self._slave)
        os.set_blocking(self.master, False)
        self._buf = bytearray()
        self._data = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.master, self._on_readable)
        self.received = bytearray()  # everything the driver sent, for assertions

    def _on_readable(self) -> None:
        try:
            data = os.read(self.master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # EIO: no slave open at the moment
            return
        self._buf += data
        self.received += data
        self._data.set()

    async def read_until(self, terminator: bytes, timeout: float = 2.0) -> bytes:
        async with asyncio.timeout(timeout):
            while (idx := self._buf.find(terminator)) < 0:
                self._data.clear()
                await self._data.wait()
        end = idx + len(terminator)
        piece = bytes(self._buf[:end])
        del self._buf[:end]
        return piece

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        self._loop.remove_reader(self.master)
        os.close(self.master)
        os.close(self._slave)
