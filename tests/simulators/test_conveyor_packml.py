"""CONV's PackML commands over Modbus (pymodbus client), the heartbeat watch, SPEED_ACT."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient

import plateline
from plateline.contract import ConveyorAlarm, PackMLCommand, PackMLState
from plateline.packml import transition
from plateline.simulators import conveyor as reg
from plateline.simulators.conveyor import PlcConfig

from .helpers import Commander, heartbeat, run_to_execute, wait_until

S, C, A = PackMLState, PackMLCommand, ConveyorAlarm


def test_register_constants_agree_with_the_tag_map():
    text = (Path(plateline.__file__).parent / "maps" / "conv_modbus.toml").read_text()
    tags = tomllib.loads(text)["tags"]
    for name, tag in tags.items():
        assert getattr(reg, name) == tag["address"], name
    rings = tomllib.loads(text)["rings"]
    assert (rings["event"]["base"], rings["event"]["slots"]) == (reg.EV_BASE, reg.EV_SLOTS)
    assert (rings["verdict"]["base"], rings["verdict"]["slots"]) == (reg.VD_BASE, reg.VD_SLOTS)


async def test_every_state_by_every_command(make_line):
    """The whole ISA-88 table through CMD/CMD_SEQ, with acting states held long."""
    line, _ = await make_line(config=PlcConfig(acting_s=60.0, heartbeat_timeout_s=None))
    port = line.endpoints["CONV"]["port"]
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0)
    await client.connect()
    seq = 0
    try:
        for state in S:
            for code in [*range(11), 999]:
                line.plc.force_state(state)
                seq += 1
                rr = await client.write_registers(reg.CMD, [code, seq], device_id=1)
                assert not rr.isError()

                async def acked(seq: int = seq) -> bool:
                    r = await client.read_holding_registers(reg.CMD_ACK, count=2, device_id=1)
                    return r.registers[0] == seq

                await wait_until(acked)
                r = await client.read_holding_registers(0, count=6, device_id=1)
                result, now = r.registers[reg.CMD_RESULT], S(r.registers[reg.STATE])
                if code not in {int(c) for c in C}:
                    assert (result, now) == (2, state), (state, code)
                    continue
                target = transition(state, C(code))
                if target is None:
                    assert (result, now) == (1, state), (state.name, C(code).name)
                else:
                    assert (result, now) == (0, target), (state.name, C(code).name)
    finally:
        client.close()


async def test_same_seq_is_acted_on_once(make_line):
    _line, client = await make_line(config=PlcConfig(heartbeat_timeout_s=None))
    cmd = Commander(client)
    await client.write(reg.CMD, [int(C.RESET), 5])
    await cmd.wait_state(S.IDLE)
    await client.write(reg.CMD, [int(C.RESET), 5])  # same CMD_SEQ again: ignored
    await asyncio.sleep(0.05)
    assert await cmd.state() is S.IDLE
    assert await client.read(reg.CMD_ACK, 2) == [5, 0]


async def test_acting_states_complete_by_themselves(make_line):
    _line, client = await make_line(config=PlcConfig(acting_s=0.05, heartbeat_timeout_s=None))
    cmd = Commander(client)
    assert await cmd.send(C.RESET) == 0
    await cmd.wait_state(S.IDLE)
    assert await cmd.send(C.START) == 0
    await cmd.wait_state(S.EXECUTE)
    assert await cmd.send(C.SUSPEND) == 0
    await cmd.wait_state(S.SUSPENDED)
    assert await cmd.send(C.UNSUSPEND) == 0
    await cmd.wait_state(S.EXECUTE)
    assert await cmd.send(C.STOP) == 0
    await cmd.wait_state(S.STOPPED)


async def test_heartbeat_watch(make_line):
    line, client = await make_line()
    cmd = Commander(client)
    # From the PLC's start, bit 7 is set until HEARTBEAT_CTRL first changes.
    assert await client.read1(reg.ALARMS) & A.CTRL_HEARTBEAT_LOST
    assert await cmd.send(C.RESET) == 0
    await cmd.wait_state(S.IDLE)
    assert await cmd.send(C.START) == 1  # refused: no controller heartbeat yet
    beat = asyncio.create_task(heartbeat(client))
    try:
        await wait_until(lambda: not line.plc.alarms & A.CTRL_HEARTBEAT_LOST)
        await run_to_execute(client)
    finally:
        beat.cancel()
        await asyncio.gather(beat, return_exceptions=True)
    # HEARTBEAT_CTRL unchanged for 1 s: bit 7, Holding -> Held.
    await wait_until(lambda: line.plc.alarms & A.CTRL_HEARTBEAT_LOST, timeout=2)
    await cmd.wait_state(S.HELD)
    assert await cmd.send(C.UNHOLD) == 1  # refused while bit 7 is set
    beat = asyncio.create_task(heartbeat(client))
    try:
        await wait_until(lambda: not line.plc.alarms & A.CTRL_HEARTBEAT_LOST)
        await asyncio.sleep(0.1)
        assert await cmd.state() is S.HELD  # stays Held until Unhold
        assert await cmd.send(C.UNHOLD) == 0
        await cmd.wait_state(S.EXECUTE)
    finally:
        beat.cancel()
        await asyncio.gather(beat, return_exceptions=True)


async def test_plc_heartbeat_counts(make_line):
    _, client = await make_line()
    first = await client.read1(reg.HEARTBEAT_PLC)
    await asyncio.sleep(0.35)
    assert (await client.read1(reg.HEARTBEAT_PLC) - first) % 65536 >= 2


@pytest.mark.parametrize("speed_set,factor,expected", [(300, 20.0, 6000), (300, 1.0, 300),
                                                       (4000, 20.0, 65535)])
async def test_speed_act(make_line, speed_set, factor, expected):
    line, client = await make_line(speed=factor, config=PlcConfig(heartbeat_timeout_s=None))
    await client.write1(reg.SPEED_SET, speed_set)
    assert await client.read1(reg.SPEED_ACT) == 0  # belt stands while Stopped
    await run_to_execute(client)
    await wait_until(lambda: line.plc.register(reg.SPEED_ACT) == expected)
    await Commander(client).send(C.HOLD)
    await wait_until(lambda: line.plc.register(reg.SPEED_ACT) == 0)


async def test_estop(make_line):
    line, client = await make_line(config=PlcConfig(heartbeat_timeout_s=None))
    cmd = Commander(client)
    await run_to_execute(client)
    line.plc.press_estop()
    assert await client.read1(reg.ALARMS) & A.ESTOP
    await cmd.wait_state(S.ABORTED)
    assert await cmd.send(C.CLEAR) == 1  # refused while pressed
    assert await cmd.send(C.RESET) == 1
    line.plc.release_estop()
    assert not await client.read1(reg.ALARMS) & A.ESTOP
    assert await cmd.state() is S.ABORTED  # nothing restarts by itself
    assert await cmd.send(C.CLEAR) == 0
    await cmd.wait_state(S.STOPPED)


async def test_jam_holds_until_unhold(make_line):
    line, client = await make_line(config=PlcConfig(heartbeat_timeout_s=None))
    cmd = Commander(client)
    await run_to_execute(client)
    line.plc.set_cause(A.INFEED_JAM, True)
    assert await client.read1(reg.ALARMS) & A.INFEED_JAM
    await cmd.wait_state(S.HELD)
    assert await cmd.send(C.UNHOLD) == 1
    line.plc.set_cause(A.INFEED_JAM, False)
    assert not await client.read1(reg.ALARMS) & A.INFEED_JAM
    await asyncio.sleep(0.05)
    assert await cmd.state() is S.HELD
    assert await cmd.send(C.UNHOLD) == 0
    await cmd.wait_state(S.EXECUTE)


async def test_set_cause_rejects_non_field_bits(make_line):
    line, _ = await make_line()
    with pytest.raises(ValueError):
        line.plc.set_cause(A.CTRL_HEARTBEAT_LOST, True)


def test_restart_starts_the_heartbeat_watch_again():
    from plateline.simulators.conveyor import ConveyorPlc

    plc = ConveyorPlc()
    plc.power_on()
    plc.write_registers(reg.HEARTBEAT_CTRL, [1])
    plc.scan()
    assert not plc.alarms & A.CTRL_HEARTBEAT_LOST
    plc.write_registers(reg.SPEED_SET, [250])
    plc.power_off()
    plc.power_on()
    plc.scan()
    assert plc.alarms & A.CTRL_HEARTBEAT_LOST
    assert plc.register(reg.BOOT_COUNT) == 2
    assert plc.register(reg.HEARTBEAT_CTRL) == 0
    assert plc.register(reg.SPEED_SET) == 250  # retained set-point
