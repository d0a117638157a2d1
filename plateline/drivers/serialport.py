"""AsyncSerialLine: a small async byte transport over pyserial.

Never blocks the event loop. Ports with a file descriptor (POSIX ttys, ptys,
USB-serial adapters) are read through ``loop.add_reader`` and written
non-blocking; URL ports without one (``loop://``, ``socket://``, ``rfc2217://``)
are read by a thread that hands the bytes to the loop and written from a thread.

Received bytes collect in a buffer; :meth:`read_until` / :meth:`readline` take
framed pieces from it. One reader at a time: the device driver on top holds a lock
around each command and its answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import logging
import os
import threading

import serial

from plateline.drivers.lifecycle import DeviceLink
from plateline.errors import (
    DeviceClosedError,
    DeviceConnectionError,
    DeviceError,
    DeviceTimeoutError,
    ProtocolError,
)

log = logging.getLogger(__name__)

try:
    import termios
    _RESET_ERRORS: tuple[type[BaseException], ...] = (
        serial.SerialException, OSError, termios.error)
except ImportError:  # not POSIX
    _RESET_ERRORS = (serial.SerialException, OSError)

_CHUNK = 4096
_THREAD_POLL = 0.05  # how long the reader thread blocks in one read of a URL port


class AsyncSerialLine(DeviceLink):
    """An open-able, close-able serial line with async reads and writes."""

    def __init__(self, name: str, url: str, *, baudrate: int = 115200, bytesize: int = 8,
                 parity: str = "N", stopbits: float = 1, write_timeout: float = 1.0,
                 max_buffer: int = 65536) -> None:
        super().__init__()
        self.name = name
        self.url = url
        self.baudrate = baudrate
        self.bytesize = bytesize
        self.parity = parity
        self.stopbits = stopbits
        self.write_timeout = write_timeout
        self.max_buffer = max_buffer
        self._port: serial.SerialBase | None = None
        self._fd: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._buf = bytearray()
        self._data = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # -- lifecycle ---------------------------------------------------------------

    async def open(self) -> None:
        """Open the port; DeviceConnectionError when it cannot be opened."""
        if self._closed or self._port is not None:
            raise DeviceClosedError("line not reusable", device=self.name)
        self._loop = asyncio.get_running_loop()
        opener = functools.partial(
            serial.serial_for_url, self.url, baudrate=self.baudrate, bytesize=self.bytesize,
            parity=self.parity, stopbits=self.stopbits, timeout=0, write_timeout=0)
        opening = self._loop.run_in_executor(None, opener)
        try:
            port = await asyncio.shield(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(_close_opened)
            raise
        except (serial.SerialException, OSError, ValueError) as err:
            raise DeviceConnectionError(f"cannot open {self.url}", device=self.name,
                                        detail=str(err)) from err
        self._port = port
        try:
            self._fd = port.fileno()
        except (AttributeError, io.UnsupportedOperation, serial.SerialException):
            self._fd = None
        if self._fd is not None:
            self._loop.add_reader(self._fd, self._on_readable)
        else:
            port.timeout = _THREAD_POLL
            port.write_timeout = self.write_timeout
            self._thread = threading.Thread(target=self._read_thread, daemon=True,
                                            name=f"serial {self.name}")
            self._thread.start()

    async def _enter(self) -> None:
        await self.open()

    async def _close(self) -> None:
        """Close the port."""
        self._fail(DeviceClosedError("line closed", device=self.name))
        port, self._port = self._port, None
        if port is None:
            return
        if self._thread is not None:
            self._stop.set()
            with contextlib.suppress(serial.SerialException, OSError, AttributeError):
                port.cancel_read()
            thread = self._thread
            await asyncio.to_thread(thread.join, 2 * _THREAD_POLL + 1.0)
        with contextlib.suppress(serial.SerialException, OSError):
            port.close()

    @property
    def is_open(self) -> bool:
        """True while the port is open and not broken."""
        return self._port is not None and self._lost_error is None

    # -- I/O ---------------------------------------------------------------------

    async def write(self, data: bytes, *, timeout: float | None = None) -> None:
        """Write all of ``data``; DeviceTimeoutError if the line does not take it in time."""
        port = self._usable()
        limit = self.write_timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit), self._write_lock:
                if self._fd is None:
                    await asyncio.to_thread(port.write, data)
                else:
                    await self._write_fd(self._fd, memoryview(data))
        except TimeoutError as err:
            if isinstance(err, DeviceError):
                raise
            raise DeviceTimeoutError(f"write not taken within {limit:g} s",
                                     device=self.name) from err
        except serial.SerialTimeoutException as err:
            raise DeviceTimeoutError("write timed out", device=self.name) from err
        except (serial.SerialException, OSError) as err:
            broken = DeviceConnectionError("write failed", device=self.name, detail=str(err))
            self._fail(broken)
            raise broken from err

    async def read_until(self, terminator: bytes, timeout: float, *,
                         max_size: int = 4096) -> bytes:
        """Return the bytes up to and including ``terminator``.

        ProtocolError when ``max_size`` bytes arrive without it (they are dropped);
        DeviceTimeoutError when it does not arrive in time (what came stays buffered).
        """
        if not terminator:
            raise ValueError("empty terminator")
        try:
            async with asyncio.timeout(timeout):
                while True:
                    found = self._take(terminator, max_size)
                    if found is not None:
                        return found
                    if self._lost_error is not None:
                        raise self._lost_error
                    self._data.clear()
                    await self._data.wait()
        except TimeoutError as err:
            if isinstance(err, DeviceError):
                raise
            raise DeviceTimeoutError(f"no {terminator!r} within {timeout:g} s", device=self.name,
                                     detail=f"{len(self._buf)} bytes pending") from err

    async def readline(self, terminator: bytes, timeout: float, *, max_size: int = 4096) -> bytes:
        """Like :meth:`read_until`, without the terminator."""
        return (await self.read_until(terminator, timeout, max_size=max_size))[:-len(terminator)]

    def discard_input(self) -> int:
        """Drop everything received and not yet read; returns how many bytes were dropped."""
        dropped = len(self._buf)
        self._buf.clear()
        port = self._port
        if port is not None and self._lost_error is None:
            with contextlib.suppress(*_RESET_ERRORS):
                port.reset_input_buffer()
        if self._fd is not None and self._lost_error is None:
            dropped += self._drain_fd(self._fd)
        return dropped

    # -- internals ---------------------------------------------------------------

    def _usable(self) -> serial.SerialBase:
        if self._lost_error is not None:
            raise self._lost_error
        if self._port is None:
            raise DeviceConnectionError("line not open", device=self.name)
        return self._port

    def _take(self, terminator: bytes, max_size: int) -> bytes | None:
        idx = self._buf.find(terminator)
        end = idx + len(terminator)
        if idx >= 0 and end <= max_size:
            piece = bytes(self._buf[:end])
            del self._buf[:end]
            return piece
        if idx >= 0 or len(self._buf) >= max_size:
            cut = end if idx >= 0 else len(self._buf)
            head = bytes(self._buf[:16])
            del self._buf[:cut]
            raise ProtocolError(f"no {terminator!r} within {max_size} bytes", device=self.name,
                                detail=f"began {head!r}")
        return None

    def _feed(self, data: bytes) -> None:
        self._buf += data
        if len(self._buf) > self.max_buffer:
            log.warning("%s: input buffer over %d bytes, oldest dropped", self.name,
                        self.max_buffer)
            del self._buf[:len(self._buf) - self.max_buffer]
        self._data.set()

    def _fail(self, err: DeviceError) -> None:
        self._record_lost(err)
        if self._fd is not None and self._loop is not None:
            self._loop.remove_reader(self._fd)
        self._data.set()

    def _on_readable(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, _CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:
            self._fail(DeviceConnectionError("read failed", device=self.name, detail=str(err)))
            return
        if not data:
            self._fail(DeviceConnectionError("device disconnected", device=self.name))
            return
        self._feed(data)

    def _drain_fd(self, fd: int) -> int:
        dropped = 0
        with contextlib.suppress(OSError):  # EAGAIN: empty; a real failure: seen by the reader
            while chunk := os.read(fd, _CHUNK):
                dropped += len(chunk)
        return dropped

    async def _write_fd(self, fd: int, view: memoryview) -> None:
        assert self._loop is not None
        while view:
            try:
                n = os.write(fd, view)
            except (BlockingIOError, InterruptedError):
                n = 0
            view = view[n:]
            if view:
                ready: asyncio.Future[None] = self._loop.create_future()
                self._loop.add_writer(fd, _resolve, ready)
                try:
                    await ready
                finally:
                    self._loop.remove_writer(fd)

    def _read_thread(self) -> None:
        port, loop = self._port, self._loop
        assert port is not None and loop is not None
        try:
            while not self._stop.is_set():
                data = port.read(max(1, port.in_waiting))
                if data and not self._stop.is_set():
                    with contextlib.suppress(RuntimeError):  # loop already closed
                        loop.call_soon_threadsafe(self._feed, data)
        except (serial.SerialException, OSError) as err:
            if not self._stop.is_set():
                lost = DeviceConnectionError("read failed", device=self.name, detail=str(err))
                with contextlib.suppress(RuntimeError):  # loop already closed
                    loop.call_soon_threadsafe(self._fail, lost)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _close_opened(opening: asyncio.Future[serial.SerialBase]) -> None:
    """Close a port whose open() finished after the caller gave up."""
    if not opening.cancelled() and opening.exception() is None:
        with contextlib.suppress(*_RESET_ERRORS):
            opening.result().close()
