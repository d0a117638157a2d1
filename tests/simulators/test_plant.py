"""The plant: belt motion, fields of view, positional faults, truth of each trip."""

from __future__ import annotations

import asyncio

import pytest

from plateline.contract import ConveyorAlarm, EventType, PackMLState, Reason
from plateline.errors import ConfigError, PlatelineError
from plateline.simulators import conveyor as reg
from plateline.simulators.conveyor import ConveyorPlc, PlcConfig
from plateline.simulators.plant import Plant
from plateline.simulators.scenario import FaultSpec, Scenario, TraySpec
from plateline.simulators.truth import TruthRecorder

from .conftest import simple_scenario
from .helpers import Commander, RawModbus, run_to_execute, wait_until
from .test_conveyor_rings import collect, drain, write_verdict

S, A, E = PackMLState, ConveyorAlarm, EventType
NO_HB = PlcConfig(heartbeat_timeout_s=None)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def stepped_plant(scenario: Scenario, speed: float = 1.0) -> tuple[Plant, ConveyorPlc, FakeClock]:
    """A plant stepped by hand with a fake clock: exact positions, no sockets."""
    clock = FakeClock()
    plc = ConveyorPlc(PlcConfig(speed_factor=speed, standalone=True, acting_s=0.0), clock=clock)
    plant = Plant(scenario, plc, truth=TruthRecorder(scenario), clock=clock)
    plc.power_on()
    plant._last = clock.now
    for _ in range(4):  # standalone: Reset, Start
        clock.now += 0.001
        plant.step()
    assert plc.state is S.EXECUTE
    return plant, plc, clock


def run_for(plant: Plant, clock: FakeClock, seconds: float, tick: float = 0.005) -> None:
    for _ in range(round(seconds / tick)):
        clock.now += tick
        plant.step()


def test_belt_moves_at_set_speed_times_factor():
    scenario = simple_scenario(1, gap_first=100)
    for factor in (1.0, 20.0):
        plant, _plc, clock = stepped_plant(scenario, factor)
        start = plant.odometer
        run_for(plant, clock, 0.5)
        assert plant.odometer - start == pytest.approx(300 * factor * 0.5, rel=0.02)


def test_fields_of_view_follow_the_tray():
    scenario = Scenario(trays=(
        TraySpec("ORDER-1", True, simple_scenario(1).trays[0].plates, expect=Reason.NONE),
        TraySpec("ORDER-2", False, (), expect=Reason.NOREAD)),
        faults=(FaultSpec("camera_corrupt", 2),), seed=5)
    plant, _plc, clock = stepped_plant(scenario)
    assert plant.scan_view("S1").data is None
    scans: set[str | None] = set()
    cams: set[tuple[int | None, str]] = set()
    while plant.odometer < 2600:
        clock.now += 0.005
        plant.step()
        scans.add(plant.scan_view("S1").data)
        view = plant.camera_view("CAM1")
        cams.add((view.tray, view.fault))
    assert scans == {None, "ORDER-1"}  # tray 2's ticket is unreadable
    assert cams == {(None, "none"), (1, "none"), (2, "corrupt")}
    with pytest.raises(ConfigError):
        plant.scan_view("S9")


def test_scan_window_is_150_mm_after_the_event():
    plant, _plc, clock = stepped_plant(simple_scenario(1), speed=1.0)
    positions_with_read = []
    while plant.position(1) is None or plant.position(1) < 400:
        clock.now += 0.005
        plant.step()
        if plant.position(1) is not None and plant.scan_view("S1").data == "T000001":
            positions_with_read.append(plant.position(1))
    assert min(positions_with_read) < 2.0  # seen from the ENTERED tick on (1.5 mm per tick)
    assert 148 <= max(positions_with_read) < 150


def test_camera_view_is_stable_for_one_pass_and_unreadable_ticket_reads_nothing():
    scenario = simple_scenario(1, readable=False, expect=Reason.NOREAD)
    plant, _plc, clock = stepped_plant(scenario)
    keys = set()
    while plant.odometer < 400 + 760:
        clock.now += 0.005
        plant.step()
        assert plant.scan_view("S1").data is None
        view = plant.camera_view("CAM1")
        if view.tray is not None:
            keys.add((view.key, view.seed, view.plates, view.ticket_readable))
    assert len(keys) == 1
    key, _, plates, readable = keys.pop()
    assert key == "test/1" and len(plates) == 2 and readable is False


def test_coincident_events_go_downstream_first():
    plant, plc, clock = stepped_plant(simple_scenario(7))
    seen = []
    original = plc._emit

    def spy(etype, tray, arg=0):
        seen.append((round(plant.odometer), EventType(etype).name, tray))
        return original(etype, tray, arg)

    plc._emit = spy
    run_for(plant, clock, 10.0)
    at_2800 = [(name, tray) for odo, name, tray in seen if odo == 2800]
    assert at_2800 == [("AT_SCALE", 1), ("ENTERED", 7)]


def test_trays_stay_while_the_belt_stands():
    plant, plc, clock = stepped_plant(simple_scenario(2))
    run_for(plant, clock, 2.0)
    where = plant.trays_on_belt()
    plc.press_estop()
    run_for(plant, clock, 1.0)
    assert plant.trays_on_belt() == where
    assert plc.register(reg.SPEED_ACT) == 0


def test_remove_tray_reports_lost_and_truth():
    scenario = simple_scenario(2, faults=(FaultSpec("remove_tray", 1, at_mm=1800.0),),
                               expect=Reason.NONE)
    plant, _plc, clock = stepped_plant(scenario)
    run_for(plant, clock, 20.0)
    rows = plant.truth.rows()
    assert rows[0]["outcome"] == "lost" and rows[0]["lost_cause"] == "removed"
    assert rows[0]["lost_at_mm"] == 1800.0 and rows[0]["reason"] == "TRACKING_ERROR"
    assert rows[1]["outcome"] == "reject_bin" and rows[1]["reason"] == "NO_VERDICT"
    assert plant.remove_tray(1) is False


def run_until(plant: Plant, clock: FakeClock, cond, limit_s: float = 60.0) -> None:
    for _ in range(round(limit_s / 0.005)):
        if cond():
            return
        clock.now += 0.005
        plant.step()
    raise AssertionError("condition not reached")


@pytest.mark.parametrize("kind,alarm", [("estop", A.ESTOP), ("jam", A.INFEED_JAM)])
@pytest.mark.parametrize("factor", [1.0, 20.0])
def test_positional_estop_and_jam_stop_at_the_same_place_at_any_speed(kind, alarm, factor):
    faults = (FaultSpec(kind, 2, at_mm=700.0, duration_s=0.2),)
    plant, plc, clock = stepped_plant(simple_scenario(2, faults=faults), factor)
    run_until(plant, clock, lambda: plc.state is not S.EXECUTE)
    assert plant.position(2) == 700.0 and plant.position(1) == 1100.0
    assert plc.alarms & alarm
    run_until(plant, clock, lambda: plant.position(2) > 700.0)  # released, restarted
    assert not plc.alarms & alarm


def test_verdict_stall_by_belt_travel():
    faults = (FaultSpec("verdict_stall", 1, at_mm=100.0, length_mm=500.0),)
    plant, plc, clock = stepped_plant(simple_scenario(1, faults=faults))
    while (plant.position(1) or 0) < 100:
        clock.now += 0.005
        plant.step()
    assert plc.verdicts_stalled
    while plant.position(1) < 600:
        clock.now += 0.005
        plant.step()
    assert not plc.verdicts_stalled


async def test_gate_pass_goes_to_outfeed_and_no_verdict_to_reject_bin(make_line):
    line, client = await make_line(simple_scenario(2, gaps=2), config=NO_HB)
    await run_to_execute(client)
    events = await collect(client, 1)
    assert (E(events[0][1]), events[0][2]) == (E.ENTERED, 1)
    await write_verdict(client, 0, 1, 1)  # tray 1 PASS, tray 2 nothing
    await wait_until(lambda: len(line.truth_rows()) == 2, timeout=5)
    one, two = line.truth_rows()
    assert (one["outcome"], one["plc_verdict"], one["reason"]) == (
        "outfeed", {"verdict": "pass", "reason": "NONE"}, "NONE")
    assert (two["outcome"], two["plc_verdict"], two["reason"], two["expected_outcome"]) == (
        "reject_bin", None, "NO_VERDICT", "reject_bin")
    assert (one["enter_seq"], two["enter_seq"], one["plc_boot"]) == (0, 2, 1)  # AT_CAMERA 1 between


async def test_drop_connection_fault_at_a_position(make_line):
    faults = (FaultSpec("drop_connection", 1, at_mm=300.0, duration_s=0.3),)
    line, client = await make_line(simple_scenario(1, faults=faults), config=NO_HB)
    await run_to_execute(client)
    async with asyncio.timeout(2):
        assert await client.reader.read() == b""
    await wait_until(lambda: line.server.listening, timeout=2)
    again = await RawModbus.connect(line.endpoints["CONV"]["port"])
    try:
        assert (await drain(again))[0][1] == E.ENTERED  # the ring kept the events
        assert await Commander(again).state() is S.EXECUTE
    finally:
        await again.close()


async def test_standalone_line_runs_trays_by_itself(make_line):
    from plateline.simulators.line import SimulatedLine

    async with SimulatedLine(simple_scenario(2), speed=20, devices=[]) as line:
        assert line.endpoints == {}
        await line.wait_all_trays_done(5)
        assert [r["outcome"] for r in line.truth_rows()] == ["reject_bin", "reject_bin"]
        assert line.plc.register(reg.EV_READ) == line.plc.register(reg.EV_WRITE)


async def test_wait_all_trays_done_times_out(make_line):
    line, _ = await make_line(simple_scenario(1))
    with pytest.raises(TimeoutError):
        await line.wait_all_trays_done(0.05)


async def test_a_failing_plant_is_reported(make_line):
    line, _ = await make_line(simple_scenario(1))

    def broken() -> None:
        raise RuntimeError("bug")

    line.plant.step = broken
    with pytest.raises(PlatelineError):
        await line.wait_all_trays_done(2)
