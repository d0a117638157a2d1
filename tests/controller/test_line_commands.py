"""Operator commands through the controller to the simulated CONV: every state x command,
E-stop and Clear, the hold latch, and the record of every command."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from plateline.contract import CmdResult, ConveyorAlarm, PackMLCommand, PackMLState
from plateline.drivers.tagmap import TagMap
from plateline.packml import transition
from plateline.recipes import Recipe
from plateline.records.models import OperatorAction
from plateline.simulators.conveyor import CMD_ACK, PlcConfig

from .harness import controller, devices, start_line, wait_until


async def test_every_state_and_command(sessions: sessionmaker[Session], conv_map: TagMap,
                                       recipes: dict[str, Recipe]) -> None:
    seen: list[tuple[str, str, str]] = []
    # acting states last long enough to be commanded in
    async with devices(PlcConfig(acting_s=60)) as dev, \
            controller(dev, sessions, conv_map, recipes) as line:
        await wait_until(lambda: line.line_state.core_ready, what="tracking ready")
        await wait_until(lambda: not dev.plc.plc.alarms & ConveyorAlarm.CTRL_HEARTBEAT_LOST,
                         what="controller heartbeat seen")
        for state in PackMLState:
            for cmd in PackMLCommand:
                dev.plc.run_to(state)
                await line.wait_for_state(state, timeout=2)
                ack = dev.plc.register(CMD_ACK)
                result = await line.command(cmd, "tester")
                target = transition(state, cmd)
                if target is None:
                    assert result is CmdResult.REFUSED, (state, cmd)
                    assert dev.plc.register(CMD_ACK) == ack  # not even sent
                else:
                    assert result is CmdResult.TAKEN, (state, cmd)
                    assert dev.plc.plc.state is target
                    await line.wait_for_state(target, timeout=2)
                seen.append((state.name, cmd.name, result.name))
    with sessions() as s:
        actions = [(a.user, a.action, a.detail["result"], a.detail["state"])
                   for a in s.scalars(select(OperatorAction).order_by(OperatorAction.id))
                   if a.user == "tester"]
    assert [(a[3], a[1].removeprefix("command "), a[2]) for a in actions] == seen
    assert len(seen) == len(PackMLState) * len(PackMLCommand)


async def test_estop_aborts_and_clear_waits_for_its_release(
        sessions: sessionmaker[Session], conv_map: TagMap, recipes: dict[str, Recipe]) -> None:
    async with devices() as dev, controller(dev, sessions, conv_map, recipes) as line:
        await start_line(line, dev)
        dev.plc.plc.press_estop()
        await line.wait_for_state(PackMLState.ABORTED, timeout=5)
        assert line.alarms.is_active("CONV_ESTOP")
        assert await line.command(PackMLCommand.CLEAR, "op") is CmdResult.REFUSED
        assert dev.plc.plc.state is PackMLState.ABORTED
        dev.plc.plc.release_estop()
        await wait_until(lambda: not line.alarms.is_active("CONV_ESTOP"), what="E-stop released")
        assert await line.command(PackMLCommand.CLEAR, "op") is CmdResult.TAKEN
        await line.wait_for_state(PackMLState.STOPPED, timeout=5)


async def test_a_lost_controller_heartbeat_holds_until_unhold(
        sessions: sessionmaker[Session], conv_map: TagMap, recipes: dict[str, Recipe]) -> None:
    async with devices(PlcConfig(acting_s=0.05, heartbeat_timeout_s=0.3)) as dev, \
            controller(dev, sessions, conv_map, recipes) as line:
        await start_line(line, dev)
        # the PLC stops seeing our heartbeat (a hung controller, as far as it can tell)
        dev.plc.plc.config.heartbeat_timeout_s = 0.0001
        await line.wait_for_state(PackMLState.HELD, timeout=5)
        dev.plc.plc.config.heartbeat_timeout_s = 0.3
        await wait_until(lambda: not dev.plc.plc.alarms & ConveyorAlarm.CTRL_HEARTBEAT_LOST,
                         what="heartbeat seen again")
        await line.wait_for_state(PackMLState.HELD, timeout=1)  # nothing restarts by itself
        assert await line.command(PackMLCommand.UNHOLD, "op") is CmdResult.TAKEN
        await line.wait_for_state(PackMLState.EXECUTE, timeout=5)


async def test_a_lost_plc_heartbeat_holds_the_controller(
        sessions: sessionmaker[Session], conv_map: TagMap, recipes: dict[str, Recipe]) -> None:
    async with devices() as dev, controller(dev, sessions, conv_map, recipes) as line:
        await start_line(line, dev)
        dev.plc.scanning = False  # the PLC program hangs: HEARTBEAT_PLC stands still
        await line.wait_for_state(PackMLState.HELD, timeout=5)
        assert line.link_states["PLC_HEARTBEAT"] == "lost"
        assert await line.command(PackMLCommand.UNHOLD, "op") is CmdResult.REFUSED
        dev.plc.scanning = True
        # CONV still runs: the controller holds it before anything moves on
        await wait_until(lambda: dev.plc.plc.state is PackMLState.HELD, what="CONV held")
        await line.wait_for_state(PackMLState.HELD, timeout=5)
        assert await line.command(PackMLCommand.UNHOLD, "op") is CmdResult.TAKEN
        await line.wait_for_state(PackMLState.EXECUTE, timeout=5)
        assert not line.line_state.latch
