"""Label printer ``P1`` over serial: ZPL II formats out, ``~HS`` host status in.

The printer answers nothing to a format, so :meth:`ZplPrinter.print_label` asks
``~HS`` first (by default) and refuses to send while the printer shows a fault:
paper out, paused, head open or ribbon out raise :class:`PrinterFault`
(PRINTER_FAULT for the controller). A printer that stays silent is a
DeviceTimeoutError, a malformed answer a ProtocolError.
"""

from __future__ import annotations

import asyncio

from plateline.drivers.serialdevice import SerialDevice
from plateline.drivers.zpl import (
    DEFAULT_CJK_FONT,
    HOST_STATUS,
    PrinterStatus,
    WaybillLabel,
    build_label_zpl,
    parse_host_status,
)
from plateline.errors import DeviceFault, DeviceTimeoutError, ProtocolError

TERMINATOR = b"\r\n"
_STATUS_LINES = 3
_MAX_STATUS_LINE = 128


class PrinterFault(DeviceFault):
    """The printer answered ``~HS`` but is not ready; ``status.faults`` names why."""

    def __init__(self, status: PrinterStatus, *, device: str | None = None) -> None:
        self.status = status
        super().__init__("printer not ready", device=device, detail=", ".join(status.faults))


class ZplPrinter(SerialDevice):
    """A ZPL label printer on a serial port; an async context manager.

    One exchange at a time (a lock); ``timeout`` (per call overridable) bounds the
    ``~HS`` answer and the write of a format. After a timeout or garbage the next
    exchange first waits ``drain_timeout`` and drops whatever came late.
    """

    def __init__(self, name: str, port: str, *, baudrate: int = 115200, timeout: float = 1.0,
                 drain_timeout: float = 0.05, cjk_font: str = DEFAULT_CJK_FONT) -> None:
        super().__init__(name, port, baudrate=baudrate, timeout=timeout,
                         drain_timeout=drain_timeout)
        self.cjk_font = cjk_font

    # -- operations --------------------------------------------------------------

    async def status(self, timeout: float | None = None) -> PrinterStatus:
        """Ask ``~HS``; the printer's status (check ``ready`` / ``faults``)."""
        async with self._lock:
            return await self._status(self._limit(timeout))

    async def print_label(self, label: WaybillLabel, *, check_status: bool = True,
                          timeout: float | None = None) -> None:
        """Send the label's format; first (by default) check that the printer is ready.

        PrinterFault when it is not (nothing is sent). The printer does not confirm
        a print: verify the printed label with the verification scanner.
        """
        await self.send_format(build_label_zpl(label, cjk_font=self.cjk_font),
                               check_status=check_status, timeout=timeout)

    async def send_format(self, zpl: str, *, check_status: bool = True,
                          timeout: float | None = None) -> None:
        """Send one ZPL format as it is (it must be ASCII: escape field data with ``^FH``)."""
        data = zpl.encode("ascii")
        limit = self._limit(timeout)
        async with self._lock:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + limit
            if check_status:
                status = await self._status(limit)
                if not status.ready:
                    raise PrinterFault(status, device=self.name)
            await self._line.write(data, timeout=max(0.0, deadline - loop.time()))

    # -- internals ---------------------------------------------------------------

    async def _status(self, limit: float) -> PrinterStatus:
        await self._drain()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        await self._line.write(HOST_STATUS, timeout=limit)
        lines: list[bytes] = []
        try:
            for _ in range(_STATUS_LINES):
                lines.append(await self._line.read_until(
                    TERMINATOR, max(0.0, deadline - loop.time()), max_size=_MAX_STATUS_LINE))
            return parse_host_status(b"".join(lines), device=self.name)
        except DeviceTimeoutError as err:
            self._stale = True
            raise DeviceTimeoutError(f"no complete ~HS answer within {limit:g} s",
                                     device=self.name,
                                     detail=f"{len(lines)} of {_STATUS_LINES} lines") from err
        except (ProtocolError, asyncio.CancelledError):
            self._stale = True  # more may still come: drop it before the next exchange
            raise
