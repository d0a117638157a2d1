"""The hand-written Modbus TCP server: framing, functions, exceptions, connections."""

from __future__ import annotations

import asyncio
import struct

import pytest

from plateline.simulators import conveyor as reg
from plateline.simulators.conveyor import ConveyorPlc
from plateline.simulators.modbus_server import ModbusTcpServer

from .helpers import ModbusReplyError, RawModbus, wait_until


@pytest.fixture
async def served():
    plc = ConveyorPlc()
    plc.power_on()
    async with ModbusTcpServer(plc, port=0) as server:
        client = await RawModbus.connect(server.port)
        yield plc, server, client
        await client.close()


async def test_read_status_block(served):
    _plc, _, client = served
    values = await client.read(0, 16)
    assert values[reg.STATE] == 2  # Stopped after start
    assert values[reg.MODE] == 1
    assert values[reg.BOOT_COUNT] == 1
    assert values[14:16] == [0, 0]


async def test_two_requests_in_one_segment_get_two_answers(served):
    _, _, client = served
    first = client.frame(struct.pack(">BHH", 3, reg.BOOT_COUNT, 1))
    second = client.frame(struct.pack(">BHH", 3, reg.SPEED_SET, 1))
    client.writer.write(first + second)
    await client.writer.drain()
    tid1, _, pdu1 = await client.read_frame()
    tid2, _, pdu2 = await client.read_frame()
    assert (tid1, tid2) == (struct.unpack(">H", first[:2])[0], struct.unpack(">H", second[:2])[0])
    assert struct.unpack(">H", pdu1[2:])[0] == 1
    assert struct.unpack(">H", pdu2[2:])[0] == 300


async def test_request_split_over_segments(served):
    _, _, client = served
    frame = client.frame(struct.pack(">BHH", 3, reg.SPEED_SET, 1))
    for byte in frame:
        client.writer.write(bytes([byte]))
        await client.writer.drain()
        await asyncio.sleep(0.001)
    _, _, pdu = await client.read_frame()
    assert pdu == bytes([3, 2]) + struct.pack(">H", 300)


async def test_function_6_and_16_write_controller_registers(served):
    plc, _, client = served
    await client.write1(reg.SPEED_SET, 250)
    await client.write(reg.RECIPE_NO, [7])
    assert plc.register(reg.SPEED_SET) == 250
    assert await client.read(reg.SPEED_SET, 2) == [250, 7]


@pytest.mark.parametrize("pdu,code", [
    (struct.pack(">BHH", 4, 0, 1), 1),                      # input registers: not served
    (struct.pack(">BHH", 5, 0, 0xFF00), 1),                 # coils: not served
    (struct.pack(">BHH", 3, 30, 1), 2),                     # hole in the map
    (struct.pack(">BHH", 3, 0, 101), 2),                    # spans the hole
    (struct.pack(">BHH", 3, 236, 1), 2),                    # past the verdict ring
    (struct.pack(">BHH", 3, 0, 0), 3),                      # quantity 0
    (struct.pack(">BHH", 3, 0, 126), 3),                    # quantity too large
    (struct.pack(">BHH", 6, reg.STATE, 6), 2),              # PLC-owned register
    (struct.pack(">BHH", 6, reg.EV_WRITE, 1), 2),
    (struct.pack(">BHH", 6, reg.VD_READ, 1), 2),
    (struct.pack(">BHHBHH", 16, 19, 2, 4, 1, 1), 2),        # 19 is PLC-owned, 20 is not
    (struct.pack(">BHHBH", 16, 20, 2, 2, 1), 3),            # byte count disagrees
])
async def test_exceptions(served, pdu, code):
    plc, _, client = served
    before = [plc.register(a) for a in range(30)]
    with pytest.raises(ModbusReplyError) as err:
        await client.request(pdu)
    assert err.value.code == code
    assert [plc.register(a) for a in range(30)] == before  # nothing half-written


async def test_other_unit_id_is_answered_with_gateway_exception(served):
    _, _, client = served
    with pytest.raises(ModbusReplyError) as err:
        await client.request(struct.pack(">BHH", 3, 0, 1), unit=2)
    assert err.value.code == 11


async def test_garbage_framing_closes_the_connection(served):
    _, _, client = served
    client.writer.write(b"\x00\x01\x12\x34\x00\x06\x01\x03\x00\x00\x00\x01")  # protocol id != 0
    await client.writer.drain()
    async with asyncio.timeout(1):
        assert await client.reader.read() == b""


async def test_several_connections(served):
    _, server, client = served
    others = [await RawModbus.connect(server.port) for _ in range(3)]
    try:
        assert server.connection_count == 4
        results = await asyncio.gather(*(c.read1(reg.BOOT_COUNT) for c in [client, *others]))
        assert results == [1, 1, 1, 1]
    finally:
        for c in others:
            await c.close()


async def test_drop_connection_closes_and_refuses_then_recovers(served):
    _, server, client = served
    server.drop_connections(0.3)
    async with asyncio.timeout(1):
        assert await client.reader.read() == b""
    with pytest.raises(OSError):
        await RawModbus.connect(server.port)
    again = await wait_until(lambda: server.listening, timeout=2)
    assert again
    fresh = await RawModbus.connect(server.port)
    assert await fresh.read1(reg.BOOT_COUNT) == 1
    await fresh.close()


async def test_down_plc_drops_requests(served):
    plc, _, client = served
    plc.power_off()
    client.writer.write(client.frame(struct.pack(">BHH", 3, 0, 1)))
    await client.writer.drain()
    async with asyncio.timeout(1):
        assert await client.reader.read() == b""


async def test_aclose_twice(served):
    _, server, _ = served
    await server.aclose()
    await server.aclose()
