"""ConveyorLink against the simulated CONV program over real Modbus TCP."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from plateline.contract import CmdResult, ConveyorAlarm, PackMLCommand, PackMLState
from plateline.controller.alarms import AlarmCode, Alarms
from plateline.controller.conveyor import ConveyorLink
from plateline.controller.settings import ControllerSettings
from plateline.drivers.tagmap import TagMap
from plateline.errors import DeviceTimeoutError
from plateline.simulators.conveyor import CMD_ACK, CMD_SEQ, HEARTBEAT_CTRL, PlcConfig

from .harness import PlcRig, make_link, wait_until

FAST = ControllerSettings(line_id="L1", heartbeat_period_s=0.05, plc_heartbeat_timeout_s=0.4,
                          status_poll_s=0.01, command_timeout_s=0.5)


@pytest.fixture
async def rig() -> AsyncIterator[PlcRig]:
    async with PlcRig(PlcConfig(acting_s=0.05, heartbeat_timeout_s=0.5)) as rig:
        yield rig


@contextlib.asynccontextmanager
async def running_link(rig: PlcRig, conv_map: TagMap,
                       alarms: Alarms) -> AsyncIterator[ConveyorLink]:
    async with make_link(rig.port, conv_map) as sup:
        link = ConveyorLink(sup, conv_map, FAST, alarms)
        task = asyncio.create_task(link.run())
        try:
            await asyncio.wait_for(link.wait_usable(), 3)
            yield link
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def test_heartbeat_keeps_the_plc_happy(rig: PlcRig, conv_map: TagMap) -> None:
    assert rig.plc.alarms & ConveyorAlarm.CTRL_HEARTBEAT_LOST  # set until the first change
    alarms = Alarms()
    async with running_link(rig, conv_map, alarms) as link:
        await wait_until(lambda: not rig.plc.alarms & ConveyorAlarm.CTRL_HEARTBEAT_LOST,
                         what="heartbeat seen by the PLC")
        first = rig.register(HEARTBEAT_CTRL)
        await asyncio.sleep(0.6)  # longer than the PLC's watch
        assert not rig.plc.alarms & ConveyorAlarm.CTRL_HEARTBEAT_LOST
        assert rig.register(HEARTBEAT_CTRL) != first
        assert link.status is not None and link.status.state is PackMLState.STOPPED
        assert link.status.boot_count == 1
    # the controller is gone: the PLC notices within its timeout
    await wait_until(lambda: bool(rig.plc.alarms & ConveyorAlarm.CTRL_HEARTBEAT_LOST),
                     what="PLC noticing the lost controller heartbeat")


async def test_plc_heartbeat_watch(rig: PlcRig, conv_map: TagMap) -> None:
    alarms = Alarms()
    async with running_link(rig, conv_map, alarms) as link:
        assert link.plc_alive and link.usable
        rig.scanning = False  # the PLC program stops: HEARTBEAT_PLC stands still
        await wait_until(lambda: not link.plc_alive, what="PLC heartbeat loss")
        assert alarms.is_active(AlarmCode.PLC_HEARTBEAT_LOST)
        rig.scanning = True
        await wait_until(lambda: link.plc_alive, what="PLC heartbeat back")
        assert not alarms.is_active(AlarmCode.PLC_HEARTBEAT_LOST)


async def test_command_handshake_continues_from_cmd_ack(rig: PlcRig, conv_map: TagMap) -> None:
    alarms = Alarms()
    async with running_link(rig, conv_map, alarms) as link:
        # an earlier controller left CMD_ACK at 500 (an unknown command, taken)
        await link.write({"CMD": 99, "CMD_SEQ": 500})
        await wait_until(lambda: rig.register(CMD_ACK) == 500, what="CMD_ACK 500")
        assert await link.send_command(PackMLCommand.RESET) is CmdResult.TAKEN
        assert rig.register(CMD_SEQ) == 501 and rig.register(CMD_ACK) == 501
        await wait_until(lambda: link.status is not None
                         and link.status.state is PackMLState.IDLE, what="Idle")
        assert await link.send_command(PackMLCommand.CLEAR) is CmdResult.REFUSED
        assert rig.register(CMD_ACK) == 502
    # a new controller (new connection) goes on from the PLC's CMD_ACK
    async with running_link(rig, conv_map, Alarms()) as link:
        assert await link.send_command(PackMLCommand.START) is CmdResult.TAKEN
        assert rig.register(CMD_ACK) == 503


async def test_command_not_taken_times_out(rig: PlcRig, conv_map: TagMap) -> None:
    async with running_link(rig, conv_map, Alarms()) as link:
        rig.scanning = False
        with pytest.raises(DeviceTimeoutError):
            await link.send_command(PackMLCommand.RESET)


async def test_speed_history_for_the_window_rule(rig: PlcRig, conv_map: TagMap) -> None:
    async with running_link(rig, conv_map, Alarms()) as link:
        import time
        t0 = time.monotonic()
        assert link.max_speed_since(t0 - 1) == 0  # stopped
        await wait_until(lambda: not rig.plc.alarms & ConveyorAlarm.CTRL_HEARTBEAT_LOST,
                         what="heartbeat seen by the PLC")
        rig.run_to(PackMLState.EXECUTE)
        await wait_until(lambda: link.status is not None and link.status.speed_mm_s == 300,
                         what="belt running")
        assert link.max_speed_since(t0) == 300
        assert link.max_speed_since(time.monotonic() + 10) == 300  # the last reading counts
        # stopped: an event after a restart, before a status read saw the belt run again,
        # takes the speed the belt last ran at (never "unknown", which closes the window)
        assert await link.send_command(PackMLCommand.STOP) is CmdResult.TAKEN
        await wait_until(lambda: link.status is not None and link.status.speed_mm_s == 0,
                         what="belt stopped")
        stopped = time.monotonic()
        assert link.max_speed_since(stopped) == 0
        assert link.window_speed(stopped) == 300
