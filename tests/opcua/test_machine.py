"""The packer's PLC program without OPC UA: PackML, handshake, parameters, results."""

from __future__ import annotations

from typing import Any

import pytest

from plateline.contract import PackMLCommand as C
from plateline.contract import PackMLState as S
from plateline.simulators import packer_machine as pm
from plateline.simulators.packer_machine import (
    PackerConfig,
    PackerMachine,
    PackerNotExecuting,
    WriteRefused,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def machine() -> tuple[PackerMachine, Clock, list[tuple[str, Any]]]:
    clock = Clock()
    published: list[tuple[str, Any]] = []
    m = PackerMachine(PackerConfig(acting_s=0.2), clock=clock,
                      publish=lambda path, value: published.append((path, value)))
    m.power_on()
    return m, clock, published


def command(m: PackerMachine, clock: Clock, cmd: C, settle: bool = True) -> None:
    m.write(pm.CNTRL_CMD, int(cmd))
    m.write(pm.CHANGE_REQUEST, True)
    m.scan()
    assert m.values[pm.CHANGE_REQUEST] is False  # taken (or refused), never left pending
    if settle:
        clock.now += 0.25
        m.scan()


def to_execute(m: PackerMachine, clock: Clock) -> None:
    command(m, clock, C.RESET)
    command(m, clock, C.START)
    assert m.state is S.EXECUTE


def test_handshake_drives_packml_states() -> None:
    m, clock, _ = machine()
    assert m.state is S.STOPPED and m.values[pm.MODE] == 1
    command(m, clock, C.RESET, settle=False)
    assert m.state is S.RESETTING
    clock.now += 0.25
    m.scan()
    assert m.state is S.IDLE
    command(m, clock, C.START)
    assert m.state is S.EXECUTE and m.values[pm.CUR_SPEED] == pytest.approx(45.0)
    command(m, clock, C.START)  # refused in Execute: nothing changes
    assert m.state is S.EXECUTE
    command(m, clock, C.HOLD)
    assert m.state is S.HELD and m.values[pm.CUR_SPEED] == 0.0
    m.write(pm.CNTRL_CMD, 77)  # not a command: taken off the handshake, ignored
    m.write(pm.CHANGE_REQUEST, True)
    m.scan()
    assert m.state is S.HELD and m.values[pm.CHANGE_REQUEST] is False


def test_heartbeat_every_100_ms() -> None:
    m, clock, _ = machine()
    for _ in range(10):
        clock.now += 0.1
        m.scan()
    assert m.values[pm.HEARTBEAT] == 10


@pytest.mark.parametrize("path, value, status", [
    (pm.SEAL_TEMP, 119.9, "BadOutOfRange"), (pm.SEAL_TEMP, 220.5, "BadOutOfRange"),
    (pm.BAG_LENGTH, 79.0, "BadOutOfRange"), (pm.BAG_LENGTH, float("nan"), "BadOutOfRange"),
    (pm.MACH_SPEED, 1000.1, "BadOutOfRange"), (pm.MACH_SPEED, -1.0, "BadOutOfRange"),
    (pm.RECIPE_NO, -1, "BadOutOfRange"), (pm.STATE, 6, "BadNotWritable"),
])
def test_parameter_checks(path: str, value: Any, status: str) -> None:
    m, _, _ = machine()
    before = m.values[path]
    with pytest.raises(WriteRefused) as refused:
        m.check_write(path, value)
    assert refused.value.status == status and m.values[path] == before


def test_parameters_only_in_stopped_idle_held_machspeed_always() -> None:
    m, clock, _ = machine()
    for path, value in ((pm.SEAL_TEMP, 120.0), (pm.BAG_LENGTH, 400.0), (pm.RECIPE_NO, 4)):
        m.check_write(path, value)
        m.write(path, value)
    assert m.values[pm.RECIPE_NO_ACT] == 4  # echoed at once
    to_execute(m, clock)
    with pytest.raises(WriteRefused, match="BadInvalidState"):
        m.check_write(pm.SEAL_TEMP, 150.0)
    m.check_write(pm.MACH_SPEED, 1000.0)
    m.write(pm.MACH_SPEED, 60.0)
    assert m.values[pm.CUR_SPEED] == 60.0


def test_packs_only_in_execute_and_reset_zeroes_results() -> None:
    m, clock, published = machine()
    with pytest.raises(PackerNotExecuting, match="STOPPED"):
        m.pack(1, True, 1800)
    to_execute(m, clock)
    published.clear()
    first = m.pack(11, True, 1801)
    m.pack(12, False, 2301)
    assert (first.sequence, m.sequence) == (1, 2)
    assert [p for p, _ in published] == [pm.RECENT, pm.LAST_PACK, pm.PROCESSED] * 2 + [pm.DEFECTIVE]
    assert m.values[pm.LAST_PACK] == [2, 12, 0, 2301]
    assert m.values[pm.RECENT][-8:] == [1, 11, 1, 1801, 2, 12, 0, 2301]
    assert m.values[pm.RECENT][:-8] == [0] * 120  # unused places in front are zeros
    for tray in range(13, 60):
        m.pack(tray, True, 1800)
    assert m.values[pm.RECENT][:4] == [m.sequence - 31, 59 - 31, 1, 1800]  # oldest first
    assert (m.values[pm.PROCESSED], m.values[pm.DEFECTIVE]) == (49, 1)
    command(m, clock, C.STOP)
    command(m, clock, C.RESET)
    assert m.values[pm.LAST_PACK] == [0] * 4 and m.values[pm.RECENT] == [0] * 128
    assert (m.sequence, m.values[pm.PROCESSED]) == (0, 0)
    command(m, clock, C.START)
    assert m.pack(5, True, 1800).sequence == 1
    with pytest.raises(ValueError, match="tray"):
        m.pack(-1, True, 1800)


def test_alarm_holds_refuses_unhold_until_cleared() -> None:
    m, clock, _ = machine()
    to_execute(m, clock)
    m.alarm(12, "film torn")
    assert m.state is S.HOLDING and m.values[pm.STOP_REASON] == 12
    assert m.values[pm.ALARM_MESSAGE] == "film torn"
    clock.now += 0.25
    m.scan()
    command(m, clock, C.UNHOLD)
    assert m.state is S.HELD
    m.clear_alarm()
    command(m, clock, C.UNHOLD)
    assert m.state is S.EXECUTE and m.values[pm.STOP_REASON] == 0
    m.alarm(3, "guard open", abort=True)
    clock.now += 0.25
    m.scan()
    command(m, clock, C.CLEAR)
    assert m.state is S.ABORTED
    m.clear_alarm()
    command(m, clock, C.CLEAR)
    assert m.state is S.STOPPED


def test_power_cycle_keeps_parameters_and_forgets_results() -> None:
    m, clock, _ = machine()
    m.write(pm.SEAL_TEMP, 200.0)
    m.write(pm.RECIPE_NO, 3)
    to_execute(m, clock)
    m.pack(1, True, 1800)
    m.power_off()
    with pytest.raises(PackerNotExecuting, match="switched off"):
        m.pack(2, True, 1800)
    m.power_on()
    assert m.state is S.STOPPED and m.sequence == 0 and m.values[pm.LAST_PACK] == [0] * 4
    assert (m.values[pm.SEAL_TEMP], m.values[pm.RECIPE_NO_ACT]) == (200.0, 3)
