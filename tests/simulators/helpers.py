"""Test helpers: a raw Modbus TCP client, polling, and a minimal controller ("robot")."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from typing import Any

from plateline.contract import ConveyorAlarm, EventType, PackMLCommand, PackMLState, Reason
from plateline.simulators import conveyor as reg
from plateline.simulators.line import SimulatedLine

S = PackMLState


class ModbusReplyError(Exception):
    def __init__(self, code: int):
        self.code = code
        super().__init__(f"exception {code}")


class RawModbus:
    """A bare Modbus TCP client (one request at a time unless ``send_raw`` is used)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self._tid = 0
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1") -> RawModbus:
        async with asyncio.timeout(2):
            reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    def frame(self, pdu: bytes, unit: int = 1) -> bytes:
        self._tid = (self._tid + 1) % 65536
        return struct.pack(">HHHB", self._tid, 0, len(pdu) + 1, unit) + pdu

    async def read_frame(self, timeout: float = 1.0) -> tuple[int, int, bytes]:
        async with asyncio.timeout(timeout):
            head = await self.reader.readexactly(7)
            tid, _, length, unit = struct.unpack(">HHHB", head)
            return tid, unit, await self.reader.readexactly(length - 1)

    async def request(self, pdu: bytes, unit: int = 1) -> bytes:
        async with self._lock:
            self.writer.write(self.frame(pdu, unit))
            await self.writer.drain()
            _, _, answer = await self.read_frame()
        if answer[0] & 0x80:
            raise ModbusReplyError(answer[1])
        return answer

    async def read(self, address: int, count: int = 1) -> list[int]:
        answer = await self.request(struct.pack(">BHH", 3, address, count))
        return list(struct.unpack(f">{count}H", answer[2:]))

    async def read1(self, address: int) -> int:
        return (await self.read(address))[0]

    async def write(self, address: int, values: list[int]) -> None:
        pdu = struct.pack(f">BHHB{len(values)}H", 16, address, len(values), 2 * len(values),
                          *values)
        await self.request(pdu)

    async def write1(self, address: int, value: int) -> None:
        await self.request(struct.pack(">BHH", 6, address, value))

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass


async def wait_until(cond: Callable[[], Any], timeout: float = 3.0, step: float = 0.005) -> Any:
    """Poll ``cond`` (sync or async) until it returns something truthy."""
    async with asyncio.timeout(timeout):
        while True:
            value = cond()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(step)


class Commander:
    """Sends PackML commands the way the contract says (CMD + CMD_SEQ in one write)."""

    def __init__(self, client: RawModbus):
        self.client = client

    async def send(self, command: int) -> int:
        """Send and wait for CMD_ACK; returns CMD_RESULT."""
        seq = (await self.client.read1(reg.CMD_ACK) + 1) % 65536 or 1
        await self.client.write(reg.CMD, [command, seq])

        async def acked() -> bool:
            return await self.client.read1(reg.CMD_ACK) == seq

        await wait_until(acked)
        return await self.client.read1(reg.CMD_RESULT)

    async def state(self) -> S:
        return S(await self.client.read1(reg.STATE))

    async def wait_state(self, state: S, timeout: float = 3.0) -> None:
        async def there() -> bool:
            return await self.state() == state

        await wait_until(there, timeout)


async def heartbeat(client: RawModbus, period: float = 0.05) -> None:
    """Keep HEARTBEAT_CTRL moving (run as a task)."""
    value = 0
    while True:
        value = (value + 1) % 65536
        await client.write1(reg.HEARTBEAT_CTRL, value)
        await asyncio.sleep(period)


async def run_to_execute(client: RawModbus) -> None:
    cmd = Commander(client)
    state = await cmd.state()
    if state is S.STOPPED:
        assert await cmd.send(PackMLCommand.RESET) == 0
        await cmd.wait_state(S.IDLE)
    assert await cmd.send(PackMLCommand.START) == 0
    await cmd.wait_state(S.EXECUTE)


class Robot:
    """A minimal, prompt controller for end-to-end tests of the plant.

    It decides each tray's verdict from the scenario (it is testing the plant, not
    the vision), writes it at ENTERED, keeps the line running like an operator
    (Reset, Start, Clear, Unhold), and keeps records in the export shape.
    """

    def __init__(self, line: SimulatedLine):
        self.line = line
        self.port = line.endpoints["CONV"]["port"]
        self.records: list[dict[str, Any]] = []
        self._open: dict[int, dict[str, Any]] = {}  # tray id -> record
        self._verdicts: list[tuple[int, int, int]] = []
        self._boot: int | None = None
        self._abs = 0
        self._vd_next = 0
        self._hb = 0
        self._cmd_seq = 0
        self._cmd_wait: int | None = None
        self.commands: list[str] = []
        self.reconnects = 0

    async def run(self) -> None:
        while True:
            try:
                client = await RawModbus.connect(self.port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            try:
                while True:
                    await self._cycle(client)
                    await asyncio.sleep(0.01)
            except (OSError, asyncio.IncompleteReadError, TimeoutError):
                self.reconnects += 1
                await asyncio.sleep(0.05)
            finally:
                await client.close()

    async def _cycle(self, c: RawModbus) -> None:
        self._hb = (self._hb + 1) % 65536
        await c.write1(reg.HEARTBEAT_CTRL, self._hb)
        status = await c.read(0, 16)
        if status[reg.BOOT_COUNT] != self._boot:
            self._restarted(status[reg.BOOT_COUNT])
        await self._events(c)
        await self._write_verdicts(c)
        await self._operate(c, status)

    def _restarted(self, boot: int) -> None:
        for record in self._open.values():
            self._close(record, "lost")
        self._open.clear()
        self._verdicts.clear()
        self._boot, self._abs, self._vd_next, self._cmd_seq = boot, 0, 0, 0
        self._cmd_wait = None

    async def _events(self, c: RawModbus) -> None:
        ev_write, ev_read = await c.read(reg.EV_WRITE, 2)
        n = (ev_write - ev_read) % 65536
        if not n:
            return
        slots = await c.read(reg.EV_BASE, 64)
        for k in range(n):
            seq = (ev_read + k) % 65536
            s = (seq % 16) * 4
            got_seq, etype, tray, arg = slots[s:s + 4]
            assert got_seq == seq, (got_seq, seq)
            self._event(EventType(etype), tray, arg)
            self._abs += 1
        await c.write1(reg.EV_READ, ev_write)

    def _event(self, etype: EventType, tray: int, arg: int) -> None:
        plant = self.line.plant
        if etype is EventType.ENTERED:
            serial = next(s for s, t, _ in plant.trays_on_belt() if t == tray)
            expected = self.line.scenario.expected(serial)
            spec = self.line.scenario.tray(serial)
            record = {"item_id": len(self.records) + 1, "tray": tray, "plc_boot": self._boot,
                      "enter_seq": self._abs, "order_id": spec.ticket if spec.readable else None,
                      "verdict": "pass" if expected is Reason.NONE else "reject",
                      "reason": expected.name, "outcome": None, "_found": Reason.NONE}
            if expected in (Reason.NOREAD, Reason.UNKNOWN_ORDER, Reason.ORDER_CANCELLED,
                            Reason.DUPLICATE_ORDER):
                record["_found"] = expected
            self.records.append(record)
            self._open[tray] = record
            self._verdicts.append((tray, 1 if expected is Reason.NONE else 2, int(expected)))
        elif etype is EventType.AT_CAMERA and tray in self._open:
            record = self._open[tray]
            record["_found"] = Reason[str(record["reason"])]
        elif etype is EventType.DIVERTED and tray in self._open:
            record = self._open.pop(tray)
            if arg == 2 and record["verdict"] == "pass":
                record["reason"] = Reason.NO_VERDICT.name
            record["outcome"] = "outfeed" if arg == 1 else "reject_bin"
        elif etype is EventType.LOST and tray in self._open:
            self._close(self._open.pop(tray), "lost")

    @staticmethod
    def _close(record: dict[str, Any], outcome: str) -> None:
        record["outcome"] = outcome
        found = record["_found"]
        record["reason"] = found.name if found is not Reason.NONE else Reason.TRACKING_ERROR.name
        record["verdict"] = "reject"

    async def _write_verdicts(self, c: RawModbus) -> None:
        while self._verdicts:
            vd_read = await c.read1(reg.VD_READ)
            if (self._vd_next - vd_read) % 65536 >= 8:
                return
            tray, verdict, reason = self._verdicts.pop(0)
            slot = reg.VD_BASE + 4 * (self._vd_next % 8)
            await c.write(slot, [self._vd_next, tray, verdict, reason])
            self._vd_next = (self._vd_next + 1) % 65536
            await c.write1(reg.VD_WRITE, self._vd_next)

    async def _operate(self, c: RawModbus, status: list[int]) -> None:
        if self._cmd_wait is not None and status[reg.CMD_ACK] != self._cmd_wait:
            return
        self._cmd_wait = None
        state, alarms = S(status[reg.STATE]), ConveyorAlarm(status[reg.ALARMS])
        holds = alarms & ~(ConveyorAlarm.ESTOP | ConveyorAlarm.VERDICT_RING_ERROR)
        command = None
        if state is S.STOPPED:
            command = PackMLCommand.RESET
        elif state is S.IDLE and not holds:
            command = PackMLCommand.START
        elif state is S.ABORTED and not alarms & ConveyorAlarm.ESTOP:
            command = PackMLCommand.CLEAR
        elif state is S.HELD and not holds:
            command = PackMLCommand.UNHOLD
        if command is not None:
            self._cmd_seq = (status[reg.CMD_ACK] + 1) % 65536 or 1
            self._cmd_wait = self._cmd_seq
            self.commands.append(command.name)
            await c.write(reg.CMD, [int(command), self._cmd_seq])

    def export(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if not k.startswith("_")} for r in self.records]
