"""A scripted serial device on the master side of a pty, for driver tests."""

from __future__ import annotations

import asyncio
import os
import tty


class ScriptedDevice:
    """Plays a device: ``path`` is the slave end the driver under test opens.

    ``reply(...)`` queues what to send for the next request (pieces written with a
    pause in between, or nothing at all for a silent device); ``received`` holds
    every byte the driver sent.
    """

    def __init__(self, terminator: bytes = b"\r\n") -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        os.set_blocking(self.master, False)
        self.terminator = terminator
        self.received = bytearray()
        self.requests: list[bytes] = []
        self._pending = bytearray()
        self._script: list[tuple[tuple[bytes, ...], float]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._got = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.master, self._on_readable)

    def reply(self, *pieces: bytes, pause: float = 0.0) -> None:
        """Answer the next request with ``pieces`` (none: stay silent)."""
        self._script.append((pieces, pause))

    def _on_readable(self) -> None:
        try:
            data = os.read(self.master, 4096)
        except (BlockingIOError, InterruptedError, OSError):
            return
        self.received += data
        self._got.set()
        self._pending += data
        while (idx := self._pending.find(self.terminator)) >= 0:
            end = idx + len(self.terminator)
            self.requests.append(bytes(self._pending[:idx]))
            del self._pending[:end]
            pieces, pause = self._script.pop(0) if self._script else ((), 0.0)
            task = self._loop.create_task(self._send(pieces, pause))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, pieces: tuple[bytes, ...], pause: float) -> None:
        for i, piece in enumerate(pieces):
            if i and pause:
                await asyncio.sleep(pause)
            os.write(self.master, piece)

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    async def wait_received(self, size: int, timeout: float = 2.0) -> bytes:
        """Everything received, once at least ``size`` bytes have come."""
        async with asyncio.timeout(timeout):
            while len(self.received) < size:
                self._got.clear()
                await self._got.wait()
        return bytes(self.received)

    async def settle(self) -> None:
        """Wait until every scripted answer has been written."""
        if self._tasks:
            await asyncio.wait(set(self._tasks))

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._loop.remove_reader(self.master)
        os.close(self.master)
        os.close(self._slave)

