from __future__ import annotations

import asyncio
import socket
import struct
import time

import pytest

from plateline.drivers.modbus import ModbusTagClient
from plateline.drivers.tagmap import TagMap, parse_tag_map
from plateline.errors import (
    DeviceClosedError,
    DeviceConnectionError,
    DeviceFault,
    DeviceTimeoutError,
    ProtocolError,
)

from .modbus_server import ModbusTestServer, Request, frame


def client_for(server: ModbusTestServer, tag_map: TagMap, **kw: float) -> ModbusTagClient:
    return ModbusTagClient("CONV", "127.0.0.1", server.port, tag_map, **kw)  # type: ignore[arg-type]


async def test_read_tags_coalesced_over_mapped_registers(plc: ModbusTestServer,
                                                         conv_map: TagMap) -> None:
    plc.registers[0] = 17
    plc.registers[1] = 6
    plc.registers[3] = 0b101
    plc.set_u32(7, 70_000)
    plc.registers[13] = 3
    plc.registers[21] = 2
    async with client_for(plc, conv_map) as conv:
        values = await conv.read_tags("HEARTBEAT_PLC", "STATE", "ALARMS", "COUNT_IN",
                                      "BOOT_COUNT", "CMD")
    assert values == {"HEARTBEAT_PLC": 17, "STATE": 6, "ALARMS": 5, "COUNT_IN": 70_000,
                      "BOOT_COUNT": 3, "CMD": 2}
    # block A is mapped from 0 to 13: one read; 14..20 are not all mapped: a second read
    assert [(r.function, r.address, r.count) for r in plc.requests] == [(3, 0, 14), (3, 21, 1)]
    assert {r.unit for r in plc.requests} == {conv_map.unit_id}


async def test_u32_high_word_first(plc: ModbusTestServer, conv_map: TagMap) -> None:
    plc.registers[9:11] = [0x0001, 0x0002]
    plc.registers[11:13] = [0xFFFF, 0xFFFF]
    async with client_for(plc, conv_map) as conv:
        values = await conv.read_tags("COUNT_OUT", "COUNT_REJ")
    assert values == {"COUNT_OUT": 0x0001_0002, "COUNT_REJ": 0xFFFF_FFFF}
    assert [(r.address, r.count) for r in plc.requests] == [(9, 4)]


async def test_cmd_and_seq_in_one_fc16(plc: ModbusTestServer, conv_map: TagMap) -> None:
    async with client_for(plc, conv_map) as conv:
        await conv.write_tags({"CMD_SEQ": 8, "CMD": 2})
        await conv.write_tags({"HEARTBEAT_CTRL": 5, "RECIPE_NO": 12})
    assert plc.requests[0] == Request(1, 16, 21, 2, (2, 8))
    # not contiguous: two writes, in address order
    assert plc.requests[1:] == [Request(1, 16, 20, 1, (5,)), Request(1, 16, 24, 1, (12,))]
    assert plc.registers[20:25] == [5, 2, 8, 0, 12]


async def test_write_refusals_before_any_io(plc: ModbusTestServer, conv_map: TagMap) -> None:
    async with client_for(plc, conv_map) as conv:
        with pytest.raises(ValueError, match="STATE is read-only"):
            await conv.write_tags({"CMD": 1, "STATE": 4})
        with pytest.raises(ValueError, match=r"CMD: 65536 outside 0..65535"):
            await conv.write_tags({"CMD": 65536})
        with pytest.raises(TypeError, match="not an integer"):
            await conv.write_tags({"CMD": True})
        with pytest.raises(ValueError, match="slots hold 4 values"):
            await conv.write_ring_slot("verdict", 0, [1, 2, 3])
        with pytest.raises(ValueError, match="slot 8 outside 0..7"):
            await conv.write_ring_slot("verdict", 8, [1, 2, 3, 4])
        with pytest.raises(KeyError):
            await conv.read_tags("NOPE")
    assert plc.requests == []


async def test_exception_response_is_device_fault(plc: ModbusTestServer,
                                                  conv_map: TagMap) -> None:
    plc.read_only.add(101)  # EV_READ refused, as a PLC does for a bad value (here: code 2)
    async with client_for(plc, conv_map) as conv:
        with pytest.raises(DeviceFault) as info:
            await conv.write_tags({"EV_READ": 3})
        assert info.value.code == 2 and info.value.device == "CONV"
        assert conv.connected  # an exception answer does not break the link
        assert await conv.read_tags("STATE") == {"STATE": 0}


async def test_ring_read_in_one_request_and_slot_write(plc: ModbusTestServer,
                                                       conv_map: TagMap) -> None:
    plc.registers[100] = 18
    plc.registers[101] = 16
    plc.registers[104 + 4 * 0: 108] = [16, 1, 42, 0]
    plc.registers[104 + 4 * 1: 112] = [17, 5, 42, 2]
    plc.registers[164:168] = [15, 2, 9, 0]
    async with client_for(plc, conv_map) as conv:
        snap = await conv.read_ring("event")
        await conv.write_ring_slot("verdict", 3, [5, 42, 1, 0])
    assert (snap.write, snap.read) == (18, 16)
    assert len(snap.slots) == 16
    assert snap.slots[0] == (16, 1, 42, 0) and snap.slots[1] == (17, 5, 42, 2)
    assert snap.slots[15] == (15, 2, 9, 0)
    assert plc.requests == [Request(1, 3, 100, 68), Request(1, 16, 216, 4, (5, 42, 1, 0))]


async def test_ring_read_sent_time_excludes_the_wait_for_the_link(
        plc: ModbusTestServer, conv_map: TagMap) -> None:
    plc.answer_delay = 0.1
    async with client_for(plc, conv_map) as conv:
        before = time.monotonic()
        slow = asyncio.create_task(conv.read_tags("STATE"))
        await asyncio.sleep(0.01)  # the status read holds the link for 0.1 s
        snap = await conv.read_ring("event")
        await slow
    # the PLC answered after the ring read was sent, not after it was asked for
    assert snap.sent_at >= before + 0.09


async def test_silent_server_times_out_within_timeout(plc: ModbusTestServer,
                                                      conv_map: TagMap) -> None:
    plc.silent = True
    async with client_for(plc, conv_map, timeout=0.2) as conv:
        start = time.monotonic()
        with pytest.raises(DeviceTimeoutError) as info:
            await conv.read_tags("STATE")
        elapsed = time.monotonic() - start
        assert 0.15 < elapsed < 1.5
        assert isinstance(info.value, TimeoutError)
        with pytest.raises(DeviceTimeoutError):
            await conv.read_tags("STATE", timeout=0.05)
        assert conv.connected
        plc.silent = False
        # the late answers to the timed-out requests are skipped by transaction id
        plc.registers[1] = 4
        assert await conv.read_tags("STATE") == {"STATE": 4}


async def test_link_dropped_after_repeated_timeouts(plc: ModbusTestServer,
                                                    conv_map: TagMap) -> None:
    plc.silent = True
    async with client_for(plc, conv_map, timeout=0.05, drop_after_timeouts=2) as conv:
        for _ in range(2):
            with pytest.raises(DeviceTimeoutError):
                await conv.read_tags("STATE")
        assert not conv.connected
        assert isinstance(await asyncio.wait_for(conv.wait_lost(), 1), DeviceConnectionError)
        with pytest.raises(DeviceConnectionError):
            await conv.read_tags("STATE")


async def test_concurrent_callers_never_overlap(plc: ModbusTestServer, conv_map: TagMap) -> None:
    plc.answer_delay = 0.002  # the server reads on while an answer is pending
    async with client_for(plc, conv_map, timeout=5.0) as conv:
        async def hammer(i: int) -> None:
            for n in range(10):
                await conv.write_tags({"HEARTBEAT_CTRL": i * 100 + n})
                await conv.read_tags("HEARTBEAT_CTRL", "CMD")
        await asyncio.gather(*(hammer(i) for i in range(4)))
    assert len(plc.requests) == 80
    assert plc.max_outstanding == 1


@pytest.mark.parametrize("garbage", [
    b"\xde\xad\xbe\xef" * 4,  # no MBAP header at all
    None,  # wrong byte count for the request (filled in below)
    b"HTTP/1.1 400 Bad Request\r\n\r\n",
])
async def test_garbage_reply_is_protocol_error(plc: ModbusTestServer, conv_map: TagMap,
                                               garbage: bytes | None) -> None:
    def hook(tid: int, req: Request) -> bytes:
        if garbage is not None:
            return garbage
        return frame(tid, 1, bytes([3, 4, 0, 1, 0, 2]))  # 2 registers for a read of 1

    plc.reply_hook = hook
    async with client_for(plc, conv_map, timeout=1.0) as conv:
        start = time.monotonic()
        with pytest.raises(ProtocolError):
            await conv.read_tags("STATE")
        assert time.monotonic() - start < 0.9  # failed on sight, not by the timeout
        assert not conv.connected  # the stream cannot be trusted any more
        with pytest.raises(DeviceConnectionError):
            await conv.read_tags("STATE")


async def test_wrong_write_echo_is_protocol_error(plc: ModbusTestServer,
                                                  conv_map: TagMap) -> None:
    plc.reply_hook = lambda tid, req: frame(tid, 1, struct.pack(">BHH", 16, req.address, 1))
    async with client_for(plc, conv_map) as conv:
        with pytest.raises(ProtocolError, match="echoes 1 registers at 21, expected 2"):
            await conv.write_tags({"CMD": 1, "CMD_SEQ": 1})


async def test_server_gone_mid_request_fails_fast(plc: ModbusTestServer,
                                                  conv_map: TagMap) -> None:
    plc.silent = True
    async with client_for(plc, conv_map, timeout=5.0) as conv:
        call = asyncio.create_task(conv.read_tags("STATE"))
        while not plc.requests:
            await asyncio.sleep(0.01)
        await plc.stop()
        with pytest.raises(DeviceConnectionError):
            await asyncio.wait_for(call, 2.0)
        assert not conv.connected
        # pymodbus must not reconnect behind the supervisor's back
        await plc.start()
        await asyncio.sleep(0.3)
        assert plc.connections == 1 and not conv.connected
        with pytest.raises(DeviceConnectionError):
            await conv.read_tags("STATE")
        assert len(plc.requests) == 1


async def test_connect_refused(conv_map: TagMap) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        conv = ModbusTagClient("CONV", "127.0.0.1", port, conv_map)
        with pytest.raises(DeviceConnectionError, match="cannot connect"):
            await conv.connect()
        await conv.aclose()


async def test_close_is_idempotent_and_final(plc: ModbusTestServer, conv_map: TagMap) -> None:
    conv = client_for(plc, conv_map)
    await conv.connect()
    assert conv.connected
    await conv.aclose()
    await conv.aclose()
    assert not conv.connected
    with pytest.raises(DeviceClosedError):
        await conv.read_tags("STATE")
    with pytest.raises(DeviceClosedError):
        await conv.connect()


async def test_interop_with_pymodbus_server(conv_map: TagMap) -> None:
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    device = SimDevice(id=1, simdata=[SimData(address=0, count=300, values=0, datatype=DataType.REGISTERS)])
    server = ModbusTcpServer(device, address=("127.0.0.1", port))
    serving = asyncio.create_task(server.serve_forever())
    try:
        for _ in range(100):
            conv = ModbusTagClient("CONV", "127.0.0.1", port, conv_map, timeout=1.0)
            try:
                await conv.connect()
                break
            except DeviceConnectionError:
                await asyncio.sleep(0.02)
        try:
            await conv.write_tags({"CMD": 2, "CMD_SEQ": 1, "EV_READ": 3})
            await conv.write_ring_slot("verdict", 1, [1, 2, 3, 4])
            assert await conv.read_tags("CMD", "CMD_SEQ", "EV_READ") == {
                "CMD": 2, "CMD_SEQ": 1, "EV_READ": 3}
            snap = await conv.read_ring("verdict")
            assert snap.slots[1] == (1, 2, 3, 4) and snap.slots[0] == (0, 0, 0, 0)
        finally:
            await conv.aclose()
        far_map = parse_tag_map(
            {"tags": {"FAR": {"address": 400, "type": "u16", "access": "rw"}}}, source="far")
        async with ModbusTagClient("FAR", "127.0.0.1", port, far_map, timeout=1.0) as far:
            with pytest.raises(DeviceFault) as info:  # beyond the simulated registers
                await far.read_tags("FAR")
            assert info.value.code == 2
    finally:
        await server.shutdown()
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
