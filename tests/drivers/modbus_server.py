"""A small Modbus TCP server for tests: holding registers, functions 3 and 16.

It records every request it receives (function, address, count, values), so tests
can check how the client framed its requests, and can be told to misbehave:
answer nothing, answer garbage, or answer with an exception code.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self


@dataclass
class Request:
    unit: int
    function: int
    address: int
    count: int
    values: tuple[int, ...] = ()


Reply = Callable[[int, Request], bytes | None]
"""Hook: (tid, request) -> raw bytes to send instead of the normal answer, or None."""


@dataclass
class ModbusTestServer:
    unit_id: int = 1
    registers: list[int] = field(default_factory=lambda: [0] * 65536)
    read_only: set[int] = field(default_factory=set)  # writes there: exception 2
    requests: list[Request] = field(default_factory=list)
    silent: bool = False  # take requests, never answer
    answer_delay: float = 0.0  # > 0: answer later from a task, reading on meanwhile
    max_outstanding: int = 0  # most requests received and not yet answered
    reply_hook: Reply | None = None
    port: int = 0
    _server: asyncio.Server | None = None
    _conns: set[asyncio.StreamWriter] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _later: set[asyncio.Task[None]] = field(default_factory=set)
    _outstanding: int = 0
    connections: int = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop every connection (a PLC switched off)."""
        if self._server is not None:
            self._server.close()
            for w in list(self._conns):
                w.close()
            for t in list(self._later):
                t.cancel()
            # closing the writers ends the handlers (EOF); cancelling them upsets asyncio.streams
            await asyncio.gather(*self._tasks, *self._later, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def set_u32(self, address: int, value: int) -> None:
        self.registers[address] = value >> 16
        self.registers[address + 1] = value & 0xFFFF

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._conns.add(writer)
        self.connections += 1
        try:
            while True:
                head = await reader.readexactly(7)
                tid, _pid, length, unit = struct.unpack(">HHHB", head)
                pdu = await reader.readexactly(length - 1)
                self._outstanding += 1
                self.max_outstanding = max(self.max_outstanding, self._outstanding)
                answer = self._handle(tid, unit, pdu)
                if answer is None:
                    continue
                if self.answer_delay > 0:
                    later = asyncio.create_task(self._answer_later(writer, answer))
                    self._later.add(later)
                    later.add_done_callback(self._later.discard)
                else:
                    self._outstanding -= 1
                    writer.write(answer)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._conns.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer_later(self, writer: asyncio.StreamWriter, answer: bytes) -> None:
        await asyncio.sleep(self.answer_delay)
        self._outstanding -= 1
        if not writer.is_closing():
            writer.write(answer)

    def _handle(self, tid: int, unit: int, pdu: bytes) -> bytes | None:
        fc = pdu[0]
        if fc == 3:
            address, count = struct.unpack_from(">HH", pdu, 1)
            req = Request(unit, fc, address, count)
        elif fc == 16:
            address, count = struct.unpack_from(">HH", pdu, 1)
            values = struct.unpack_from(f">{count}H", pdu, 6)
            req = Request(unit, fc, address, count, tuple(values))
        else:
            req = Request(unit, fc, 0, 0)
        self.requests.append(req)
        if self.silent:
            return None
        if self.reply_hook is not None:
            raw = self.reply_hook(tid, req)
            if raw is not None:
                return raw
        return frame(tid, unit, self._answer(req))

    def _answer(self, req: Request) -> bytes:
        if req.function == 3:
            if not 1 <= req.count <= 125 or req.address + req.count > 65536:
                return bytes([0x83, 3])
            regs = self.registers[req.address:req.address + req.count]
            return bytes([3, 2 * req.count]) + struct.pack(f">{req.count}H", *regs)
        if req.function == 16:
            if any(a in self.read_only for a in range(req.address, req.address + req.count)):
                return bytes([0x90, 2])
            self.registers[req.address:req.address + req.count] = list(req.values)
            return struct.pack(">BHH", 16, req.address, req.count)
        return bytes([req.function | 0x80, 1])


def frame(tid: int, unit: int, pdu: bytes) -> bytes:
    """MBAP-frame a PDU."""
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu
