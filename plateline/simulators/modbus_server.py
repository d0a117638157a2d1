"""A small Modbus TCP server (MBAP framing; functions 3, 6 and 16) over asyncio.

Written by hand because pymodbus's server answers only the first of several
requests that arrive in one TCP segment. The registers live in a
``RegisterBank`` (the simulated PLC); it signals Modbus exceptions by raising
``ModbusExceptionError``.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import Protocol, Self

from plateline.errors import PlatelineError
from plateline.simulators._aio import cancel_and_wait

log = logging.getLogger(__name__)

ILLEGAL_FUNCTION = 1
ILLEGAL_DATA_ADDRESS = 2
ILLEGAL_DATA_VALUE = 3
GATEWAY_TARGET_FAILED = 11

_MAX_READ = 125
_MAX_WRITE = 123
_MAX_BUFFER = 4096


class ModbusExceptionError(PlatelineError):
    """Raised by a register bank: answer the request with exception ``code``."""

    def __init__(self, code: int, detail: str = ""):
        self.code = code
        super().__init__(f"Modbus exception {code}" + (f": {detail}" if detail else ""))


class BankUnavailableError(PlatelineError):
    """The register bank cannot answer at all (the PLC is down): drop the connection."""


class RegisterBank(Protocol):
    """Holding registers behind the server."""

    def read_registers(self, address: int, count: int) -> list[int]: ...

    def write_registers(self, address: int, values: list[int]) -> None: ...


def _exception(function: int, code: int) -> bytes:
    return bytes((function | 0x80, code))


def handle_pdu(bank: RegisterBank, pdu: bytes) -> bytes:
    """Answer one request PDU (function code + data) with a response PDU."""
    function = pdu[0]
    try:
        if function == 3:
            if len(pdu) != 5:
                raise ModbusExceptionError(ILLEGAL_DATA_VALUE, "bad length")
            address, count = struct.unpack(">HH", pdu[1:5])
            if not 1 <= count <= _MAX_READ:
                raise ModbusExceptionError(ILLEGAL_DATA_VALUE, "bad quantity")
            values = bank.read_registers(address, count)
            return bytes((3, 2 * count)) + struct.pack(f">{count}H", *values)
        if function == 6:
            if len(pdu) != 5:
                raise ModbusExceptionError(ILLEGAL_DATA_VALUE, "bad length")
            address, value = struct.unpack(">HH", pdu[1:5])
            bank.write_registers(address, [value])
            return pdu
        if function == 16:
            if len(pdu) < 6:
                raise ModbusExceptionError(ILLEGAL_DATA_VALUE, "bad length")
            address, count, nbytes = struct.unpack(">HHB", pdu[1:6])
            if not 1 <= count <= _MAX_WRITE or nbytes != 2 * count or len(pdu) != 6 + nbytes:
                raise ModbusExceptionError(ILLEGAL_DATA_VALUE, "bad quantity or byte count")
            values = list(struct.unpack(f">{count}H", pdu[6:]))
            bank.write_registers(address, values)
            return bytes((16,)) + struct.pack(">HH", address, count)
        return _exception(function, ILLEGAL_FUNCTION)
    except ModbusExceptionError as err:
        return _exception(function, err.code)


class _Connection(asyncio.Protocol):
    def __init__(self, server: ModbusTcpServer):
        self._server = server
        self._buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._server._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._server._connections.discard(self)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= 7 and self.transport is not None:
            tid, pid, length, unit = struct.unpack(">HHHB", self._buffer[:7])
            if pid != 0 or not 2 <= length <= 254:
                self.abort("not Modbus TCP framing")
                return
            if len(self._buffer) < 6 + length:
                break
            pdu = bytes(self._buffer[7:6 + length])
            del self._buffer[:6 + length]
            self._answer(tid, unit, pdu)
        if len(self._buffer) > _MAX_BUFFER:
            self.abort("request too long")

    def _answer(self, tid: int, unit: int, pdu: bytes) -> None:
        if unit != self._server.unit_id:
            response = _exception(pdu[0], GATEWAY_TARGET_FAILED)
        else:
            try:
                response = handle_pdu(self._server.bank, pdu)
            except BankUnavailableError:
                self.abort("device unavailable")
                return
        assert self.transport is not None
        self.transport.write(struct.pack(">HHHB", tid, 0, len(response) + 1, unit) + response)

    def abort(self, why: str) -> None:
        log.debug("Modbus connection dropped: %s", why)
        if self.transport is not None:
            self.transport.abort()


class ModbusTcpServer:
    """Modbus TCP server for one register bank; async context manager.

    ``port=0`` picks a free port (see ``.port``). ``drop_connections(s)`` closes
    every connection and refuses new ones for ``s`` seconds.
    """

    def __init__(self, bank: RegisterBank, *, host: str = "127.0.0.1", port: int = 5020,
                 unit_id: int = 1):
        self.bank = bank
        self.host = host
        self.unit_id = unit_id
        self._port = port
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._reopen: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def port(self) -> int:
        return self._port

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    @property
    def listening(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), self.host, self._port, reuse_address=True)
        self._port = self._server.sockets[0].getsockname()[1]
        log.info("Modbus TCP server on %s:%d", self.host, self._port)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _close_all(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in list(self._connections):
            conn.abort("server closing")

    def drop_connections(self, duration_s: float) -> None:
        """Close every connection now and refuse new ones for ``duration_s`` seconds."""
        if self._closed:
            return
        self._close_all()
        if self._reopen is not None:
            self._reopen.cancel()
        self._reopen = asyncio.get_running_loop().create_task(self._reopen_after(duration_s))

    async def _reopen_after(self, duration_s: float) -> None:
        await asyncio.sleep(duration_s)
        for attempt in range(50):
            try:
                await self.start()
                return
            except OSError as err:
                if attempt == 49:
                    log.error("cannot listen again on port %d: %s", self._port, err)
                    return
                await asyncio.sleep(0.05)

    async def aclose(self) -> None:
        """Stop serving; safe to call twice."""
        self._closed = True
        await cancel_and_wait(self._reopen)
        self._reopen = None
        server = self._server
        self._close_all()
        if server is not None:
            await server.wait_closed()
