"""CONV's event ring, verdict ring, gate, counters and restart, over Modbus."""

from __future__ import annotations

import asyncio

import pytest

from plateline.contract import ConveyorAlarm, DivertTarget, EventType, PackMLCommand, PackMLState
from plateline.simulators import conveyor as reg
from plateline.simulators.conveyor import PlcConfig

from .conftest import simple_scenario
from .helpers import Commander, ModbusReplyError, RawModbus, run_to_execute, wait_until

S, C, A, E = PackMLState, PackMLCommand, ConveyorAlarm, EventType
NO_HB = PlcConfig(heartbeat_timeout_s=None)


async def drain(client: RawModbus, consume: bool = True) -> list[tuple[int, int, int, int]]:
    """Read the unconsumed events (checking SEQ) and write EV_READ."""
    ev_write, ev_read = await client.read(reg.EV_WRITE, 2)
    slots = await client.read(reg.EV_BASE, 64)
    out = []
    for k in range((ev_write - ev_read) % 65536):
        seq = (ev_read + k) % 65536
        got, etype, tray, arg = slots[(seq % 16) * 4:(seq % 16) * 4 + 4]
        assert got == seq
        out.append((got, etype, tray, arg))
    if consume and out:
        await client.write1(reg.EV_READ, ev_write)
    return out


async def collect(client: RawModbus, until: int, timeout: float = 5.0) -> list[tuple[int, ...]]:
    events: list[tuple[int, ...]] = []

    async def enough() -> bool:
        events.extend(await drain(client))
        return len(events) >= until

    await wait_until(enough, timeout)
    return events


async def test_trays_raise_events_in_belt_order(make_line):
    _line, client = await make_line(simple_scenario(2), config=NO_HB)
    await run_to_execute(client)
    events = await collect(client, 10)
    kinds = [(E(t).name, tray, arg) for _, t, tray, arg in events]
    assert kinds == [("ENTERED", 1, 0), ("ENTERED", 2, 0), ("AT_CAMERA", 1, 0),
                     ("AT_CAMERA", 2, 0), ("AT_SCALE", 1, 0), ("AT_SCALE", 2, 0),
                     ("AT_LABELER", 1, 0), ("AT_LABELER", 2, 0), ("DIVERTED", 1, 2),
                     ("DIVERTED", 2, 2)]
    assert [seq for seq, *_ in events] == list(range(10))
    assert await client.read(reg.COUNT_IN, 6) == [0, 2, 0, 0, 0, 2]


async def test_event_ring_wraps_at_65536(make_line):
    line, client = await make_line(simple_scenario(2), config=PlcConfig(
        heartbeat_timeout_s=None, first_event_no=65530))
    assert await client.read(reg.EV_WRITE, 2) == [65530, 65530]
    await run_to_execute(client)
    events = await collect(client, 10)
    assert [seq for seq, *_ in events] == [*range(65530, 65536), 0, 1, 2, 3]
    assert await client.read(reg.EV_WRITE, 2) == [4, 4]
    assert line.truth_rows()[0]["enter_seq"] == 65530  # absolute number since the PLC start


async def test_overflow_holds_and_keeps_the_event(make_line):
    line, client = await make_line(simple_scenario(4), config=NO_HB)
    cmd = Commander(client)
    await run_to_execute(client)
    await wait_until(lambda: line.plc.alarms & A.EVENT_RING_OVERFLOW, timeout=5)
    await cmd.wait_state(S.HELD)
    assert await client.read(reg.EV_WRITE, 2) == [16, 0]  # never overwrites
    # The 17th event (tray 4 at the labeler) waits; the belt stopped right there.
    assert line.plant.position(4) == 3000.0
    await asyncio.sleep(0.05)
    assert line.plant.position(4) == 3000.0
    first = await drain(client, consume=False)
    await client.write1(reg.EV_READ, 1)  # room for one
    await wait_until(lambda: line.plc.register(reg.EV_WRITE) == 17)
    assert not line.plc.alarms & A.EVENT_RING_OVERFLOW
    slot0 = await client.read(reg.EV_BASE, 4)
    assert slot0 == [16, int(E.AT_LABELER), 4, 0]
    assert first[0][:3] == (0, int(E.ENTERED), 1)
    await asyncio.sleep(0.05)
    assert await cmd.state() is S.HELD  # stays Held until Unhold
    await drain(client)
    assert await cmd.send(C.UNHOLD) == 0
    await cmd.wait_state(S.EXECUTE)
    await wait_until(lambda: len(line.truth_rows()) == 4, timeout=5)


async def test_ev_read_validation(make_line):
    line, client = await make_line(simple_scenario(1), config=NO_HB)
    await run_to_execute(client)
    await wait_until(lambda: line.plc.register(reg.EV_WRITE) >= 2)
    await client.write1(reg.EV_READ, 1)
    with pytest.raises(ModbusReplyError) as err:
        await client.write1(reg.EV_READ, 0)  # backwards
    assert err.value.code == 3
    ev_write = await client.read1(reg.EV_WRITE)
    with pytest.raises(ModbusReplyError) as err:
        await client.write1(reg.EV_READ, ev_write + 1)  # past EV_WRITE
    assert err.value.code == 3
    with pytest.raises(ModbusReplyError) as err:
        await client.write1(reg.EV_WRITE, 0)  # PLC-owned
    assert err.value.code == 2
    await client.write1(reg.EV_READ, 1)  # unchanged is fine
    assert await client.read1(reg.EV_READ) == 1


async def write_verdict(client: RawModbus, n: int, tray: int, verdict: int, reason: int = 0,
                        seq: int | None = None) -> None:
    await client.write(reg.VD_BASE + 4 * (n % 8), [n if seq is None else seq, tray, verdict, reason])
    await client.write1(reg.VD_WRITE, (n + 1) % 65536)


async def test_gate_follows_last_verdict_since_entered(make_line):
    line, client = await make_line(config=NO_HB)
    plc = line.plc
    plc.tray_entered(1)
    plc.tray_entered(2)
    plc.tray_entered(3)
    await write_verdict(client, 0, 1, 1)
    await write_verdict(client, 1, 3, 1)
    await write_verdict(client, 2, 3, 2, 4)  # the last one counts
    await write_verdict(client, 3, 4, 1)  # tray 4 has not entered: ignored
    await wait_until(lambda: plc.register(reg.VD_READ) == 4)
    plc.tray_entered(4)
    assert plc.tray_at_gate(1)[:2] == (DivertTarget.OUTFEED, (1, 0))
    assert plc.tray_at_gate(2)[:2] == (DivertTarget.REJECT_BIN, None)  # NO_VERDICT
    assert plc.tray_at_gate(3)[:2] == (DivertTarget.REJECT_BIN, (2, 4))
    assert plc.tray_at_gate(4)[:2] == (DivertTarget.REJECT_BIN, None)
    assert await client.read(reg.COUNT_OUT, 4) == [0, 1, 0, 3]
    diverted = [e for e in await drain(client) if e[1] == E.DIVERTED]
    assert [(tray, arg) for _, _, tray, arg in diverted] == [(1, 1), (2, 2), (3, 2), (4, 2)]


async def test_verdict_ring_bad_seq_stalls_until_rewritten(make_line):
    line, client = await make_line(config=NO_HB)
    cmd = Commander(client)
    plc = line.plc
    plc.tray_entered(9)
    await write_verdict(client, 0, 9, 1)
    await wait_until(lambda: plc.register(reg.VD_READ) == 1)
    await write_verdict(client, 1, 9, 2, 4, seq=7)  # bad SEQ
    await wait_until(lambda: plc.alarms & A.VERDICT_RING_ERROR)
    await asyncio.sleep(0.05)
    assert await client.read1(reg.VD_READ) == 1  # stalled
    await client.write(reg.VD_BASE + 4, [1, 9, 2, 4])  # written correctly now
    await wait_until(lambda: plc.register(reg.VD_READ) == 2)
    assert plc.tray_at_gate(9)[0] == DivertTarget.REJECT_BIN
    assert await client.read1(reg.ALARMS) & A.VERDICT_RING_ERROR  # stays until Reset
    assert await cmd.send(C.RESET) == 0
    assert not await client.read1(reg.ALARMS) & A.VERDICT_RING_ERROR


async def test_verdict_ring_limit_and_validation(make_line):
    line, client = await make_line(config=NO_HB)
    with pytest.raises(ModbusReplyError) as err:
        await client.write1(reg.VD_WRITE, 9)  # 9 outstanding
    assert err.value.code == 3
    with pytest.raises(ModbusReplyError) as err:
        await client.write1(reg.VD_READ, 1)
    assert err.value.code == 2
    await client.write(reg.VD_BASE, [0, 1, 3, 0])  # VERDICT 3 does not exist
    await client.write1(reg.VD_WRITE, 1)
    await wait_until(lambda: line.plc.alarms & A.VERDICT_RING_ERROR)
    assert await client.read1(reg.VD_READ) == 0


async def test_verdict_ring_wraps(make_line):
    line, client = await make_line(config=PlcConfig(heartbeat_timeout_s=None,
                                                    first_verdict_no=65534))
    plc = line.plc
    plc.tray_entered(5)
    for n in (65534, 65535, 0, 1):
        await write_verdict(client, n, 5, 1 if n != 1 else 2)
    await wait_until(lambda: plc.register(reg.VD_READ) == 2)
    assert not plc.alarms & A.VERDICT_RING_ERROR
    assert plc.tray_at_gate(5)[1] == (2, 0)


async def test_counters_cleared_by_reset_not_rings(make_line):
    _line, client = await make_line(simple_scenario(2), config=NO_HB)
    cmd = Commander(client)
    await run_to_execute(client)
    await collect(client, 10)
    assert await client.read(reg.COUNT_IN, 6) == [0, 2, 0, 0, 0, 2]
    assert await cmd.send(C.STOP) == 0
    await cmd.wait_state(S.STOPPED)
    assert await cmd.send(C.RESET) == 0
    assert await client.read(reg.COUNT_IN, 6) == [0] * 6
    assert await client.read(reg.EV_WRITE, 2) == [10, 10]


async def test_plc_restart(make_line):
    line, client = await make_line(simple_scenario(3, gaps=3), config=NO_HB)
    await run_to_execute(client)
    await wait_until(lambda: (line.plant.position(2) or 0) > 200, timeout=5)
    on_belt = [s for s, *_ in line.plant.trays_on_belt()]
    assert on_belt == [1, 2]
    line.plant.restart_plc(0.3)
    async with asyncio.timeout(1):
        assert await client.reader.read() == b""  # connection dropped
    port = line.endpoints["CONV"]["port"]
    with pytest.raises(OSError):
        await RawModbus.connect(port)
    # the server listens again and the plant powers the PLC on after the same 0.3 s, on
    # two clocks (the loop's sleep, the plant's tick): a request between the two finds the
    # PLC down and its connection closed, as a real PLC's would be
    await wait_until(lambda: line.server.listening and line.plc.powered, timeout=2)
    fresh = await RawModbus.connect(port)
    try:
        status = await fresh.read(0, 16)
        assert status[reg.BOOT_COUNT] == 2
        assert S(status[reg.STATE]) is S.STOPPED
        assert await fresh.read(reg.EV_WRITE, 2) == [0, 0]
        assert await fresh.read(reg.VD_WRITE, 2) == [0, 0]
        rows = line.truth_rows()
        assert [(r["serial"], r["outcome"], r["lost_cause"], r["reason"]) for r in rows] == [
            (1, "lost", "plc_restart", "TRACKING_ERROR"),
            (2, "lost", "plc_restart", "TRACKING_ERROR")]
        assert line.plc.tracked_trays() == []
        # Tray 3 had not entered: it enters after Reset + Start, events from 0.
        await run_to_execute(fresh)
        events = await collect(fresh, 5)
        assert [(seq, E(t).name, tray) for seq, t, tray, _ in events][:1] == [(0, "ENTERED", 3)]
        assert line.truth_rows()[-1]["plc_boot"] == 2
    finally:
        await fresh.close()
