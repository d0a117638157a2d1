"""Modbus TCP client that reads and writes tags by name through a :class:`TagMap`.

Built on pymodbus's ``AsyncModbusTcpClient`` with its hidden behaviour switched off:
no retries, no automatic reconnection (a :class:`~plateline.drivers.supervisor.LinkSupervisor`
owns reconnection), and its own response timer set far beyond ours, so that the
deadline of every call is enforced here, in one place. One request at a time is on
the wire (an ``asyncio.Lock``): several controller tasks share one client.

Errors: no answer within the timeout -> DeviceTimeoutError; link lost or not
connected -> DeviceConnectionError; Modbus exception response -> DeviceFault with
``code``; a malformed answer -> ProtocolError (the link is then dropped, as the byte
stream can no longer be trusted).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import NoReturn

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException
from pymodbus.pdu import ModbusPDU

from plateline.drivers.lifecycle import DeviceLink
from plateline.drivers.modbus_frames import (
    FC_READ_HOLDING,
    FC_WRITE_MULTIPLE,
    READ_MAX,
    WRITE_MAX,
    Expected,
    check_reply,
    coalesce,
)
from plateline.drivers.tagmap import Tag, TagMap
from plateline.errors import (
    DeviceClosedError,
    DeviceConnectionError,
    DeviceError,
    DeviceFault,
    DeviceTimeoutError,
    ProtocolError,
)

log = logging.getLogger(__name__)

RING_GAP_MAX = 8
# pymodbus's own response timer: far beyond any deadline of ours, so it never fires.
_LIBRARY_TIMER = 3600.0


@dataclass(frozen=True, slots=True)
class RingSnapshot:
    """Header counters and every slot of a ring, as read in one go."""

    write: int
    read: int
    slots: list[tuple[int, ...]]
    #: ``time.monotonic()`` when the read was sent (after waiting for the link): the
    #: device answered after this, so what it did not hold then was written later.
    sent_at: float = float("-inf")


class ModbusTagClient(DeviceLink):
    """Tag-level Modbus TCP client for one device; an async context manager.

    Not reusable: once closed or lost, make a new one (the supervisor does).
    ``timeout`` is the default deadline of a whole call, waiting for the line included.
    After ``drop_after_timeouts`` unanswered requests in a row the link is dropped.
    """

    def __init__(self, name: str, host: str, port: int, tag_map: TagMap, *,
                 timeout: float = 0.3, connect_timeout: float = 1.0,
                 drop_after_timeouts: int = 3) -> None:
        super().__init__()
        self.name = name
        self.host = host
        self.port = port
        self.tag_map = tag_map
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.drop_after_timeouts = drop_after_timeouts
        self._client: AsyncModbusTcpClient | None = None
        self._lock = asyncio.Lock()
        self._request: tuple[int, int, int] | None = None  # function, address, count
        self._expected: Expected | None = None
        self._fault: asyncio.Future[DeviceError] | None = None
        self._cut_off = False
        self._unanswered = 0
        self._mapped_registers = frozenset(
            a for t in tag_map.tags.values() for a in range(t.address, t.end))

    # -- lifecycle ---------------------------------------------------------------

    async def connect(self) -> None:
        """Open the TCP connection; DeviceConnectionError when it cannot be had."""
        if self._closed:
            raise DeviceClosedError("client closed", device=self.name)
        if self._client is not None:
            raise RuntimeError(f"{self.name}: connect() called twice")
        client = AsyncModbusTcpClient(
            self.host, port=self.port, name=self.name, timeout=_LIBRARY_TIMER, retries=0,
            reconnect_delay=0, reconnect_delay_max=0,
            trace_packet=self._trace_packet, trace_connect=self._trace_connect)
        try:
            async with asyncio.timeout(self.connect_timeout):
                ok = await client.connect()
        except TimeoutError as err:
            client.close()
            raise DeviceConnectionError(f"connect to {self.host}:{self.port} timed out",
                                        device=self.name) from err
        except BaseException:
            client.close()
            raise
        if not ok:
            client.close()
            raise DeviceConnectionError(f"cannot connect to {self.host}:{self.port}",
                                        device=self.name)
        self._client = client

    async def _enter(self) -> None:
        await self.connect()

    async def _close(self) -> None:
        self._mark_lost(DeviceClosedError("client closed", device=self.name))

    @property
    def connected(self) -> bool:
        """True while the TCP connection is open and usable."""
        return self._client is not None and self._client.connected and not self._lost.is_set()

    # -- tag access --------------------------------------------------------------

    async def read_tags(self, *names: str, timeout: float | None = None) -> dict[str, int]:
        """Read tags by name, in as few function-3 requests as the map allows.

        A gap between requested tags is read along when other tags of the map fill
        it; registers the map does not name are never read.
        """
        tags = [self.tag_map.tag(n) for n in names]
        plan = coalesce(((t.address, t.end) for t in tags), bridge=self._mapped)
        async with self._exclusive(timeout, f"read {', '.join(names)}"):
            regs = await self._read_plan(plan)
        return {t.name: _decode(t, regs) for t in tags}

    async def write_tags(self, values: Mapping[str, int], *, timeout: float | None = None) -> None:
        """Write tags; contiguous tags go in one function-16 request, in address order."""
        regs: dict[int, int] = {}
        tags = []
        for name, value in values.items():
            tag = self.tag_map.tag(name)
            if not tag.writable:
                raise ValueError(f"{self.name}: tag {name} is read-only (access \"r\")")
            _check_value(tag.name, value, tag.max_value)
            regs.update(zip(range(tag.address, tag.end), _encode(tag, value)))
            tags.append(tag)
        plan = coalesce(((t.address, t.end) for t in tags), max_count=WRITE_MAX)
        async with self._exclusive(timeout, f"write {', '.join(values)}"):
            for address, count in plan:
                await self._write(address, [regs[a] for a in range(address, address + count)])

    async def read_ring(self, ring: str, *, timeout: float | None = None) -> RingSnapshot:
        """Read a ring's header and all its slots in as few requests as possible.

        A gap between the header and the slots of up to ``RING_GAP_MAX`` registers
        (reserved words in the contract) or one filled by tags is read along and ignored.
        """
        r = self.tag_map.ring(ring)
        head = [self.tag_map.tag(r.write), self.tag_map.tag(r.read)]
        slots = [(r.slot_address(i), r.slot_address(i) + r.slot_size) for i in range(r.slots)]
        plan = coalesce([(t.address, t.end) for t in head] + slots,
                        bridge=lambda lo, hi: hi - lo <= RING_GAP_MAX or self._mapped(lo, hi))
        async with self._exclusive(timeout, f"read ring {ring}"):
            sent_at = time.monotonic()
            regs = await self._read_plan(plan)
        return RingSnapshot(
            write=regs[head[0].address], read=regs[head[1].address],
            slots=[tuple(regs[a] for a in range(s, e)) for s, e in slots], sent_at=sent_at)

    async def write_ring_slot(self, ring: str, index: int, values: Sequence[int], *,
                              timeout: float | None = None) -> None:
        """Write one whole slot of a ring in one function-16 request."""
        r = self.tag_map.ring(ring)
        address = r.slot_address(index)
        if len(values) != r.slot_size:
            raise ValueError(f"{self.name}: ring {ring} slots hold {r.slot_size} values, "
                             f"got {len(values)}")
        for i, value in enumerate(values):
            _check_value(f"{ring}[{index}].{r.fields[i] if r.fields else i}", value, 0xFFFF)
        async with self._exclusive(timeout, f"write ring {ring} slot {index}"):
            await self._write(address, list(values))

    # -- requests ----------------------------------------------------------------

    def _mapped(self, lo: int, hi: int) -> bool:
        return all(a in self._mapped_registers for a in range(lo, hi))

    @asynccontextmanager
    async def _exclusive(self, timeout: float | None, what: str) -> AsyncIterator[None]:
        limit = self.timeout if timeout is None else timeout
        holder = False
        try:
            async with asyncio.timeout(limit):
                async with self._lock:
                    holder = True
                    self._cut_off = False  # only the lock holder touches it
                    yield
        except DeviceError:
            raise
        except TimeoutError as err:
            if holder and self._cut_off:
                self._unanswered += 1
                if self._unanswered >= self.drop_after_timeouts:
                    log.warning("%s: %d requests in a row unanswered, dropping the link",
                                self.name, self._unanswered)
                    self._mark_lost(DeviceConnectionError(
                        f"{self._unanswered} requests unanswered", device=self.name))
            raise DeviceTimeoutError(f"no answer within {limit:g} s", device=self.name,
                                     detail=what if holder else f"{what}; line busy") from err

    async def _read_plan(self, plan: list[tuple[int, int]]) -> dict[int, int]:
        regs: dict[int, int] = {}
        for address, count in plan:
            regs.update(zip(range(address, address + count), await self._read(address, count)))
        return regs

    async def _read(self, address: int, count: int) -> list[int]:
        unit = self.tag_map.unit_id
        pdu = await self._transact(
            FC_READ_HOLDING, address, count,
            lambda c: c.read_holding_registers(address, count=count, device_id=unit))
        registers = list(getattr(pdu, "registers", []))
        if len(registers) != count:
            self._garbled(f"read of {count} registers answered with {len(registers)}")
        return registers

    async def _write(self, address: int, values: list[int]) -> None:
        unit = self.tag_map.unit_id
        await self._transact(FC_WRITE_MULTIPLE, address, len(values),
                             lambda c: c.write_registers(address, values, device_id=unit))

    async def _transact(self, function: int, address: int, count: int,
                        send: Callable[[AsyncModbusTcpClient], Awaitable[ModbusPDU]]) -> ModbusPDU:
        client = self._usable_client()
        where = f"function {function} at {address}, {count} registers"
        fault: asyncio.Future[DeviceError] = asyncio.get_running_loop().create_future()
        self._fault = fault
        self._request = (function, address, count)

        async def run() -> ModbusPDU:
            # send() checks the connection synchronously, so pymodbus never reconnects here.
            return await send(client)

        task = asyncio.create_task(run(), name=f"{self.name} modbus request")
        try:
            await asyncio.wait((task, fault), return_when=asyncio.FIRST_COMPLETED)
            if fault.done():
                raise fault.result()
            pdu = task.result()
        except asyncio.CancelledError:
            self._cut_off = True
            raise
        except ConnectionException as err:
            self._mark_lost(DeviceConnectionError("link lost", device=self.name))
            raise DeviceConnectionError("not connected", device=self.name, detail=where) from err
        except ModbusException as err:
            self._garbled(str(err), err)
        except ProtocolError:
            self._mark_lost(DeviceConnectionError("link dropped after garbage", device=self.name))
            raise
        finally:
            self._fault = None
            self._request = None
            self._expected = None
            if not task.done():
                task.cancel()
                await asyncio.wait((task,))
            elif not task.cancelled():
                task.exception()  # retrieved: the error (if any) was handled above
        self._unanswered = 0
        if pdu.isError():
            code = getattr(pdu, "exception_code", None)
            raise DeviceFault(f"exception response {code}", device=self.name, code=code,
                              detail=where)
        return pdu

    def _usable_client(self) -> AsyncModbusTcpClient:
        self._check_usable()
        if self._client is None:
            raise DeviceConnectionError("not connected", device=self.name)
        return self._client

    def _garbled(self, problem: str, cause: BaseException | None = None) -> NoReturn:
        err = ProtocolError("malformed answer", device=self.name, detail=problem)
        self._mark_lost(DeviceConnectionError("link dropped after garbage", device=self.name))
        raise err from cause

    def _mark_lost(self, err: DeviceError) -> None:
        self._record_lost(err)
        if self._fault is not None and not self._fault.done():
            self._fault.set_result(err)
        if self._client is not None:
            self._client.close()

    # -- pymodbus hooks ----------------------------------------------------------

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if sending:
            if self._request is not None:
                self._expected = Expected(int.from_bytes(data[:2], "big"), self.tag_map.unit_id,
                                          *self._request)
            return data
        if self._lost.is_set():
            return b""
        fault, expected = self._fault, self._expected
        if fault is None or fault.done() or expected is None:
            return data
        problem = check_reply(data, expected)
        if problem is None:
            return data
        fault.set_result(ProtocolError("malformed answer", device=self.name, detail=problem))
        return b""

    def _trace_connect(self, connected: bool) -> None:
        if not connected and not self._closed:
            log.info("%s: connection to %s:%d lost", self.name, self.host, self.port)
            self._mark_lost(DeviceConnectionError("connection lost", device=self.name))


def _decode(tag: Tag, regs: Mapping[int, int]) -> int:
    if tag.size == 1:
        return regs[tag.address]
    return (regs[tag.address] << 16) | regs[tag.address + 1]


def _encode(tag: Tag, value: int) -> list[int]:
    if tag.size == 1:
        return [value]
    return [value >> 16, value & 0xFFFF]


def _check_value(name: str, value: int, maximum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: {value!r} is not an integer")
    if not 0 <= value <= maximum:
        raise ValueError(f"{name}: {value} outside 0..{maximum}")


__all__ = ["READ_MAX", "ModbusTagClient", "RingSnapshot"]
