"""A pseudo-terminal end for serial device simulators.

The simulator owns the master side; a client (the controller, a terminal program)
opens :attr:`PtyPort.path` like any serial port. The slave side is kept open here as
well, so that a client closing and reopening the port never hangs the pty up.

A pty ignores the baud rate; with ``pace=True`` writes are delayed as a real line
at ``baud`` would (10 bit times per byte, 8N1).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import termios
import tty
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from plateline.drivers.lifecycle import ClosedOnce
from plateline.errors import DeviceClosedError, DeviceConnectionError

log = logging.getLogger(__name__)

_READ_SIZE = 4096


class PtyPort(ClosedOnce):
    """One simulated serial port on a pseudo-terminal (async context manager).

    Bytes the client writes arrive either through ``on_data`` (called in the event
    loop with each chunk as it is read) or, without a callback, through
    :meth:`chunks` / :meth:`read`. Bytes for the client go through :meth:`write`.
    """

    def __init__(
        self,
        name: str,
        *,
        link: Path | None = None,
        on_data: Callable[[bytes], None] | None = None,
        baud: int = 115200,
        pace: bool = False,
        write_timeout: float = 1.0,
    ) -> None:
        if baud <= 0:
            raise ValueError("baud must be positive")
        self.name = name
        self.link = Path(link) if link is not None else None
        self.baud = baud
        self.pace = pace
        self.write_timeout = write_timeout
        self._on_data = on_data
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._master: int | None = None
        self._slave: int | None = None
        self._path: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._write_lock = asyncio.Lock()
        self._linked = False
        #: bytes received from / sent to the client, and bytes dropped because the
        #: client did not read them within ``write_timeout``.
        self.bytes_in = 0
        self.bytes_out = 0
        self.bytes_dropped = 0

    # -- lifecycle ---------------------------------------------------------------

    @property
    def path(self) -> str:
        """The slave device path a client opens (e.g. ``/dev/pts/5``)."""
        if self._path is None:
            raise DeviceClosedError("port is not open", device=self.name)
        return self._path

    @property
    def endpoint(self) -> str:
        """What a client should open: the link if there is one, else the device path."""
        return str(self.link) if self.link is not None else self.path

    async def open(self) -> None:
        """Create the pseudo-terminal (and the link) and start reading."""
        if self._closed:
            raise DeviceClosedError("port was closed", device=self.name)
        if self._master is not None:
            return
        self._loop = asyncio.get_running_loop()
        master, slave = os.openpty()
        try:
            tty.setraw(master)
            tty.setraw(slave)
            os.set_blocking(master, False)
            self._path = os.ttyname(slave)
            self._master, self._slave = master, slave
            if self.link is not None:
                _replace_symlink(self.link, self._path)
                self._linked = True
            self._loop.add_reader(master, self._readable)
        except BaseException:
            self._master = self._slave = None
            self._path = None
            os.close(master)
            os.close(slave)
            raise

    async def _close(self) -> None:
        """Stop reading, remove the link and close the pty."""
        master, slave = self._master, self._slave
        if master is not None and self._loop is not None:
            self._loop.remove_reader(master)
            self._loop.remove_writer(master)
        if self._linked and self.link is not None and self._path is not None:
            _remove_symlink_if_ours(self.link, self._path)
            self._linked = False
        self._master = self._slave = None
        self._path = None
        for fd in (master, slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._queue.put_nowait(None)

    async def _enter(self) -> None:
        await self.open()

    # -- data in -----------------------------------------------------------------

    def _readable(self) -> None:
        if self._master is None:
            return
        try:
            data = os.read(self._master, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError as err:  # EIO: cannot happen while we hold the slave open
            log.error("%s: pty read failed: %s", self.name, err)
            if self._loop is not None:
                self._loop.remove_reader(self._master)
            self._queue.put_nowait(None)
            return
        if not data:
            return
        self.bytes_in += len(data)
        if self._on_data is not None:
            self._on_data(data)
        else:
            self._queue.put_nowait(data)

    async def read(self) -> bytes:
        """The next chunk the client wrote (only without ``on_data``)."""
        if self._on_data is not None:
            raise RuntimeError("port delivers data to its on_data callback")
        if self._closed and self._queue.empty():
            raise DeviceClosedError("port is closed", device=self.name)
        chunk = await self._queue.get()
        if chunk is None:
            self._queue.put_nowait(None)  # wake any other reader too
            raise DeviceClosedError("port is closed", device=self.name)
        return chunk

    async def chunks(self) -> AsyncIterator[bytes]:
        """Iterate over the chunks the client writes until the port closes."""
        while True:
            try:
                yield await self.read()
            except DeviceClosedError:
                return

    # -- data out ----------------------------------------------------------------

    async def write(self, data: bytes) -> None:
        """Send bytes to the client, paced to ``baud`` if ``pace`` is set.

        Like a real transmitter, the port does not wait for a client that never
        reads: what the pty cannot take within ``write_timeout`` is dropped.
        """
        if not data:
            return
        async with self._write_lock:
            if self.pace:
                await asyncio.sleep(len(data) * 10 / self.baud)
            view = memoryview(data)
            while view:
                master = self._master_fd()
                try:
                    n = os.write(master, view)
                except BlockingIOError:
                    if not await self._wait_writable(master):
                        self.bytes_dropped += len(view)
                        log.warning("%s: client not reading, dropped %d bytes",
                                    self.name, len(view))
                        return
                    continue
                except OSError as err:
                    raise DeviceConnectionError("pty write failed", device=self.name,
                                                detail=str(err)) from err
                self.bytes_out += n
                view = view[n:]

    def _master_fd(self) -> int:
        if self._master is None:
            raise DeviceClosedError("port is closed", device=self.name)
        return self._master

    async def _wait_writable(self, fd: int) -> bool:
        assert self._loop is not None
        ready: asyncio.Future[None] = self._loop.create_future()

        def _set() -> None:
            if not ready.done():
                ready.set_result(None)

        self._loop.add_writer(fd, _set)
        try:
            async with asyncio.timeout(self.write_timeout):
                await ready
            return True
        except TimeoutError:
            return False
        finally:
            if self._master == fd:
                self._loop.remove_writer(fd)

    def discard_input(self) -> None:
        """Drop what was sent to the client but not read yet (a port reset)."""
        if self._slave is not None:
            termios.tcflush(self._slave, termios.TCIFLUSH)


def _replace_symlink(link: Path, target: str) -> None:
    """Point ``link`` at ``target``, replacing whatever is there (atomically)."""
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, link)


def _remove_symlink_if_ours(link: Path, target: str) -> None:
    """Remove ``link`` unless someone else has pointed it elsewhere meanwhile."""
    try:
        if link.is_symlink() and os.readlink(link) == target:
            link.unlink()
    except OSError as err:
        log.warning("could not remove link %s: %s", link, err)


class LineSplitter:
    """Cuts a byte stream into lines, however the stream was split or merged.

    Any byte of ``terminators`` ends a line; empty lines (as between ``\r`` and
    ``\n``) are dropped. A line longer than ``max_line`` is noise: it is thrown
    away up to its terminator and counted in ``overflows``.
    """

    def __init__(self, terminators: bytes = b"\r\n", max_line: int = 256) -> None:
        if not terminators:
            raise ValueError("at least one terminator is needed")
        self.terminators = terminators
        self.max_line = max_line
        self.overflows = 0
        self._buf = bytearray()
        self._skipping = False

    def feed(self, chunk: bytes) -> list[bytes]:
        """The lines completed by ``chunk``, without their terminators."""
        lines: list[bytes] = []
        start = 0
        for i, byte in enumerate(chunk):
            if byte in self.terminators:
                self._take(chunk[start:i])
                start = i + 1
                if self._buf and not self._skipping:
                    lines.append(bytes(self._buf))
                self._skipping = False
                self._buf.clear()
        self._take(chunk[start:])
        return lines

    def _take(self, part: bytes) -> None:
        if self._skipping:
            return
        self._buf += part
        if len(self._buf) > self.max_line:
            self.overflows += 1
            self._skipping = True
            self._buf.clear()
