"""Command-triggered fixed-mount code readers over serial: the LON/LOFF protocol.

``LON\\r`` starts a read; the reader answers one line ending in ``\\r``: the decoded
data, or ``ERROR`` when it decoded nothing. ``LOFF\\r`` ends a read early.
Used for S1 (infeed, order barcode) and S2 (label verification).
"""

from __future__ import annotations

import asyncio
import contextlib

from plateline.drivers.serialdevice import SerialDevice
from plateline.errors import DeviceError, DeviceTimeoutError, ProtocolError

TRIGGER = b"LON\r"
STOP = b"LOFF\r"
TERMINATOR = b"\r"
NOTHING_READ = b"ERROR"


def decode_answer(line: bytes, *, device: str | None = None) -> str | None:
    """Decode one answer line (without its ``\\r``).

    Returns the decoded data, or None for ``ERROR`` (the reader saw no code).
    ProtocolError for an empty line, bytes that are not UTF-8, or any
    non-printable character.
    """
    if line == NOTHING_READ:
        return None
    if not line:
        raise ProtocolError("empty answer", device=device)
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ProtocolError("answer is not text", device=device, detail=repr(line[:32])) from err
    if not text.isprintable():
        raise ProtocolError("non-printable characters in answer", device=device,
                            detail=repr(line[:32]))
    return text


class SerialCodeReader(SerialDevice):
    """A LON/LOFF code reader on a serial port; an async context manager.

    ``scan()`` returns the decoded data, or None when the reader decoded nothing:
    None is the reader's answer ``ERROR``, a normal outcome, not a failure.
    """

    def __init__(self, name: str, port: str, *, baudrate: int = 115200, timeout: float = 0.5,
                 max_length: int = 512, drain_timeout: float = 0.1) -> None:
        super().__init__(name, port, baudrate=baudrate, timeout=timeout,
                         drain_timeout=drain_timeout)
        self.max_length = max_length

    async def scan(self, timeout: float | None = None, *,
                   stop: asyncio.Event | None = None) -> str | None:
        """Trigger one read; the data, or None when the reader decoded nothing.

        ``stop`` ends the read early when it is set (``LOFF``): the reader then answers
        what it has, ``ERROR`` when it had decoded nothing yet. DeviceTimeoutError when
        no answer comes within the timeout (the read is then stopped with LOFF and its
        late answer drained); ProtocolError for garbage.
        """
        limit = self._limit(timeout)
        async with self._lock:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + limit
            await self._drain()
            await self._line.write(TRIGGER, timeout=limit)
            answer = asyncio.ensure_future(self._line.readline(
                TERMINATOR, max(0.0, deadline - loop.time()),
                max_size=self.max_length + len(TERMINATOR)))
            try:
                if stop is not None:
                    await self._end_early_on(stop, answer, deadline)
                raw = await answer
            except DeviceTimeoutError as err:
                await self._stop_read()
                raise DeviceTimeoutError(f"no answer within {limit:g} s", device=self.name,
                                         detail=err.detail) from err
            except ProtocolError:
                self._line.discard_input()
                raise
            finally:
                if not answer.done():
                    answer.cancel()
                    await asyncio.gather(answer, return_exceptions=True)
            return decode_answer(raw, device=self.name)

    async def _end_early_on(self, stop: asyncio.Event, answer: asyncio.Future[bytes],
                            deadline: float) -> None:
        """Send LOFF if ``stop`` is set before ``answer`` came; the answer still follows."""
        waiter: asyncio.Future[object] = asyncio.ensure_future(stop.wait())
        pending: set[asyncio.Future[object]] = {answer, waiter}  # type: ignore[arg-type]
        try:
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            await asyncio.gather(waiter, return_exceptions=True)
        if not answer.done():
            loop = asyncio.get_running_loop()
            await self._line.write(STOP, timeout=max(0.001, deadline - loop.time()))

    async def _stop_read(self) -> None:
        """End a read that outlived its timeout and swallow its late answer."""
        with contextlib.suppress(DeviceError):
            await self._line.write(STOP, timeout=self.drain_timeout)
            await self._line.readline(TERMINATOR, self.drain_timeout,
                                      max_size=self.max_length + len(TERMINATOR))
        self._line.discard_input()
