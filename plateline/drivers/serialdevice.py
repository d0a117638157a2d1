"""SerialDevice: the lifecycle shared by the command/answer drivers on a serial port.

A driver subclasses it and adds only its protocol: it holds ``_lock`` around each
exchange, calls :meth:`SerialDevice._drain` first, and sets ``_stale`` when an
answer may still arrive late (after a timeout, garbage or cancellation).
"""

from __future__ import annotations

import asyncio

from plateline.drivers.lifecycle import AsyncResource
from plateline.drivers.serialport import AsyncSerialLine


class SerialDevice(AsyncResource):
    """A device on one serial port; an async context manager."""

    def __init__(self, name: str, port: str, *, baudrate: int = 115200, timeout: float = 1.0,
                 drain_timeout: float = 0.05) -> None:
        self.name = name
        self.port = port
        self.timeout = timeout
        self.drain_timeout = drain_timeout
        self._line = AsyncSerialLine(name, port, baudrate=baudrate)
        self._lock = asyncio.Lock()
        self._stale = False

    async def open(self) -> None:
        """Open the serial port."""
        await self._line.open()

    async def _enter(self) -> None:
        await self.open()

    async def aclose(self) -> None:
        """Close the port; safe to call more than once."""
        await self._line.aclose()

    @property
    def is_open(self) -> bool:
        """True while the port is open and not broken."""
        return self._line.is_open

    async def wait_lost(self) -> BaseException | None:
        """Return the reason once the port is broken or closed (for a supervisor)."""
        return await self._line.wait_lost()

    def _limit(self, timeout: float | None) -> float:
        return self.timeout if timeout is None else timeout

    async def _drain(self) -> None:
        """Before an exchange: let a late answer arrive (if one may), then drop all input."""
        if self._stale:
            await asyncio.sleep(self.drain_timeout)
            self._stale = False
        self._line.discard_input()
