"""The controller's state and its refusals, over every state x command (pure)."""

from __future__ import annotations

import pytest

from plateline.contract import ConveyorAlarm, PackMLCommand, PackMLState
from plateline.controller.line_state import RUNNING, controller_state, refusal
from plateline.packml import transition

STATES = [s for s in PackMLState]
COMMANDS = [c for c in PackMLCommand]
NO_ALARM = ConveyorAlarm(0)


@pytest.mark.parametrize("state", STATES, ids=lambda s: s.name)
@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: c.name)
def test_commands_follow_the_packml_table(state: PackMLState, cmd: PackMLCommand) -> None:
    why = refusal(state, cmd, link_up=True, alarms=NO_ALARM, core_ready=True)
    assert (why is None) == (transition(state, cmd) is not None)


@pytest.mark.parametrize("state", STATES, ids=lambda s: s.name)
@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: c.name)
def test_nothing_is_sent_without_the_plc(state: PackMLState, cmd: PackMLCommand) -> None:
    assert refusal(state, cmd, link_up=False, alarms=NO_ALARM, core_ready=True) is not None


def test_clear_is_refused_while_the_estop_is_pressed() -> None:
    why = refusal(PackMLState.ABORTED, PackMLCommand.CLEAR, link_up=True,
                  alarms=ConveyorAlarm.ESTOP, core_ready=True)
    assert why is not None and "E-stop" in why
    assert refusal(PackMLState.ABORTED, PackMLCommand.CLEAR, link_up=True, alarms=NO_ALARM,
                   core_ready=True) is None


@pytest.mark.parametrize("cmd", [PackMLCommand.START, PackMLCommand.UNHOLD,
                                 PackMLCommand.UNSUSPEND], ids=lambda c: c.name)
def test_trays_do_not_move_without_tracking(cmd: PackMLCommand) -> None:
    state = {PackMLCommand.START: PackMLState.IDLE, PackMLCommand.UNHOLD: PackMLState.HELD,
             PackMLCommand.UNSUSPEND: PackMLState.SUSPENDED}[cmd]
    assert refusal(state, cmd, link_up=True, alarms=NO_ALARM, core_ready=False) is not None
    assert refusal(state, cmd, link_up=True, alarms=NO_ALARM, core_ready=True) is None


@pytest.mark.parametrize("conv", STATES, ids=lambda s: s.name)
def test_state_follows_conv_with_link(conv: PackMLState) -> None:
    assert controller_state(True, conv, NO_ALARM, latched=False) is conv
    held = controller_state(True, conv, NO_ALARM, latched=True)
    assert held is (PackMLState.HOLDING if conv in RUNNING else conv)


@pytest.mark.parametrize("conv", STATES, ids=lambda s: s.name)
def test_lost_link_shows_held_or_aborted(conv: PackMLState) -> None:
    state = controller_state(False, conv, NO_ALARM, latched=False)
    expect = (PackMLState.ABORTED if conv in (PackMLState.ABORTING, PackMLState.ABORTED)
              else PackMLState.HELD)
    assert state is expect
    assert controller_state(False, PackMLState.EXECUTE, ConveyorAlarm.ESTOP,
                            latched=False) is PackMLState.ABORTED
    assert controller_state(False, None, NO_ALARM, latched=False) is PackMLState.UNDEFINED
