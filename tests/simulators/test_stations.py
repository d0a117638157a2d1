"""The stations after the first slice in the plant: PACK, W1, P1 and S2 (stepped, no sockets)."""

from __future__ import annotations

from typing import Any

import pytest

from plateline.contract import PackMLState, Reason
from plateline.drivers.zpl import ParsedLabel
from plateline.errors import ConfigError
from plateline.simulators.conveyor import ConveyorPlc, PlcConfig
from plateline.simulators.packer_machine import PackerConfig, PackerMachine, PackerNotExecuting
from plateline.simulators.plant import Plant
from plateline.simulators.products import load_products, pack_weight, physical_product
from plateline.simulators.scenario import FaultSpec, Scenario, TraySpec, scenario_from_dict
from plateline.simulators.truth import TruthRecorder

from .conftest import simple_scenario
from .test_plant import FakeClock

S = PackMLState
ALL = ("PACK", "W1", "P1", "S2")


class FakePacker:
    """A packer without its server: the real machine, faults recorded."""

    def __init__(self, clock: FakeClock) -> None:
        self.machine = PackerMachine(PackerConfig(acting_s=0.0), clock=clock)
        self.machine.power_on()
        self.restarts: list[float] = []
        self.drops = 0

    def pack(self, tray: int, seal_ok: bool, temp_deci_c: int) -> Any:
        return self.machine.pack(tray, seal_ok, temp_deci_c)

    def restart(self, down_s: float) -> None:
        self.restarts.append(down_s)

    def drop_sessions(self) -> None:
        self.drops += 1


class FakePrinter:
    def __init__(self) -> None:
        self.faults: dict[str, bool] = {}
        self.misprint: list[bool] = []

    def set_fault(self, fault: str, active: bool = True) -> None:
        self.faults[fault] = active

    def set_misprint(self, enabled: bool = True, *, labels: int | None = 1) -> None:
        self.misprint.append(enabled)


def plant_with(scenario: Scenario, stations: tuple[str, ...] = ALL, *, standalone: bool = False
               ) -> tuple[Plant, ConveyorPlc, FakeClock, FakePacker, FakePrinter]:
    clock = FakeClock()
    plc = ConveyorPlc(PlcConfig(standalone=standalone, heartbeat_timeout_s=None, acting_s=0.0),
                      clock=clock)
    plant = Plant(scenario, plc, truth=TruthRecorder(scenario, stations=stations), clock=clock)
    packer, printer = FakePacker(clock), FakePrinter()
    plant.attach_packer(packer)  # type: ignore[arg-type]
    plant.attach_printer(printer)  # type: ignore[arg-type]
    plc.power_on()
    plc.force_state(S.EXECUTE)
    packer.machine.force_state(S.EXECUTE)
    plant._last = clock.now
    return plant, plc, clock, packer, printer


def run_to(plant: Plant, clock: FakeClock, serial: int, mm: float) -> None:
    """Step until tray ``serial`` is at least ``mm`` from the infeed eye (or gone)."""
    for _ in range(100_000):
        pos = plant.position(serial)
        if pos is not None and pos >= mm:
            return
        if pos is None and plant.odometer > plant.scenario.entry_mm(serial) + 4000:
            return
        clock.now += 0.005
        plant.step()
    raise AssertionError("the belt does not move")


def pair(weight: float | None = None, *, expect: Reason = Reason.NONE,
         ticket: str = "T000001") -> TraySpec:
    return TraySpec(ticket, True, simple_scenario(1).trays[0].plates, expect=expect,
                    product="plate-pair", weight_g=weight)


# ---- products and weights ----------------------------------------------------------------

def test_windows_are_the_reference_products():
    got = {p: (w.min_g, w.max_g) for p, w in load_products().items()}
    assert got == {"plate-pair": (370, 400), "plate-single": (190, 220),
                   "ebike-plate": (95, 115), "licence-doc": (45, 65)}
    assert load_products()["licence-doc"].allow_dynamic


@pytest.mark.parametrize("plates, product", [
    ((), "licence-doc"), ((("粤A12345", "blue"),), "plate-single"),
    ((("粤A123456", "ebike"),), "ebike-plate"),
    ((("粤A12345", "blue"), ("粤A12345", "blue")), "plate-pair")])
def test_a_typical_pack_weighs_inside_its_window(plates, product):
    from plateline.simulators.views import PlateOnTray

    on_tray = [PlateOnTray(t, k) for t, k in plates]
    assert physical_product(on_tray) == product
    window = load_products()[product]
    weights = {pack_weight(on_tray, f"7/{n}") for n in range(50)}
    assert len(weights) > 10 and all(window.contains(w) for w in weights)


# ---- W1 ------------------------------------------------------------------------------------

def test_weight_is_dynamic_then_stable_and_the_empty_platform_weighs_nothing():
    plant, plc, clock, *_ = plant_with(Scenario(trays=(pair(385.0),), seed=1))
    assert plant.scale_view().weight_g is None
    run_to(plant, clock, 1, 2410)
    assert (plant.scale_view().weight_g, plant.scale_view().dynamic) == (385.0, True)
    run_to(plant, clock, 1, 2505)
    assert (plant.scale_view().weight_g, plant.scale_view().dynamic) == (385.0, False)
    run_to(plant, clock, 1, 2705)
    assert plant.scale_view().weight_g is None


def test_weight_settles_0_3_s_after_the_belt_stops():
    plant, plc, clock, *_ = plant_with(Scenario(trays=(pair(385.0),), seed=1))
    run_to(plant, clock, 1, 2420)
    plc.force_state(S.HELD)
    for _ in range(50):  # 0.25 s standing
        clock.now += 0.005
        plant.step()
    assert plant.scale_view().dynamic
    for _ in range(12):
        clock.now += 0.005
        plant.step()
    assert not plant.scale_view().dynamic and plant.position(1) < 2500
    plc.force_state(S.EXECUTE)
    clock.now += 0.005
    plant.step()
    assert plant.scale_view().dynamic  # moving again on the platform


@pytest.mark.parametrize("kind, shown", [("scale_silent", "silent"), ("scale_busy", "busy"),
                                         ("scale_overload", "overload")])
def test_scale_faults_show_while_their_tray_is_on_the_platform(kind, shown):
    scenario = Scenario(trays=(pair(), pair(ticket="T000002")), faults=(FaultSpec(kind, 1),),
                        seed=1)
    plant, _plc, clock, *_ = plant_with(scenario)
    run_to(plant, clock, 1, 2450)
    assert plant.scale_view().fault == shown
    run_to(plant, clock, 2, 2450)
    assert plant.scale_view().fault is None
    run_to(plant, clock, 2, 4001)
    rows = plant.truth.rows()
    assert [r["scenario_reason"] for r in rows] == ["SCALE_FAULT", "NONE"]


# ---- P1 and S2 ------------------------------------------------------------------------------

def test_a_printed_label_sticks_on_the_tray_at_the_labeler_and_s2_reads_it():
    plant, _plc, clock, *_ = plant_with(Scenario(trays=(pair(),), seed=1))
    plant.on_print(ParsedLabel("SF0000000001", ()))
    assert plant.stray_labels == 1  # nobody at the labeler
    run_to(plant, clock, 1, 3010)
    assert plant.label_view("S2").data is None  # not labelled yet
    plant.on_print(ParsedLabel("SF1234567890", ("ORD",)))
    assert plant.label_view("S2").data == "SF1234567890"
    run_to(plant, clock, 1, 3160)
    assert plant.label_view("S2").data is None  # out of S2's field of view
    assert plant.label_on(1) == ParsedLabel("SF1234567890", ("ORD",))
    run_to(plant, clock, 1, 4001)
    assert plant.truth.rows()[0]["label"] == "SF1234567890"


def test_a_misprint_is_armed_only_while_its_tray_is_at_the_labeler():
    scenario = Scenario(trays=(pair(), pair(ticket="T000002")),
                        faults=(FaultSpec("misprint", 1),), seed=1)
    plant, _plc, clock, _packer, printer = plant_with(scenario)
    run_to(plant, clock, 1, 3001)
    assert printer.misprint == [True]
    plant.on_print(ParsedLabel(None, ("ORD",)))  # what a misprinting printer hands over
    assert plant.label_view("S2").data is None
    run_to(plant, clock, 1, 3151)
    assert printer.misprint == [True, False]
    run_to(plant, clock, 2, 4001)
    assert printer.misprint == [True, False]
    assert [r["scenario_reason"] for r in plant.truth.rows()] == ["LABEL_VERIFY_FAIL", "NONE"]


def test_a_printer_fault_stretch_covers_one_tray_at_the_labeler():
    scenario = Scenario(trays=(pair(), pair(ticket="T000002"), pair(ticket="T000003")),
                        faults=(FaultSpec("printer_paper_out", 2, at_mm=2900, length_mm=300),),
                        seed=1)
    plant, _plc, clock, _packer, printer = plant_with(scenario)
    run_to(plant, clock, 2, 2901)
    assert printer.faults == {"paper_out": True}
    run_to(plant, clock, 2, 3201)
    assert printer.faults == {"paper_out": False}
    run_to(plant, clock, 3, 4001)
    rows = plant.truth.rows()
    assert [r["printer_fault"] for r in rows] == [False, True, False]
    assert [r["scenario_reason"] for r in rows] == ["NONE", "PRINTER_FAULT", "NONE"]


# ---- PACK ------------------------------------------------------------------------------------

def test_one_pack_per_tray_as_it_leaves_the_packer():
    scenario = Scenario(trays=(pair(), pair(ticket="T000002")),
                        faults=(FaultSpec("bad_seal", 2),), seed=1)
    plant, _plc, clock, packer, _ = plant_with(scenario)
    run_to(plant, clock, 1, 1190)
    assert packer.machine.sequence == 0
    run_to(plant, clock, 1, 1200)
    assert [(r.tray, r.seal_ok) for r in packer.machine.recent()] == [(1, True)]
    run_to(plant, clock, 2, 4001)
    recent = packer.machine.recent()
    assert [(r.sequence, r.tray, r.seal_ok) for r in recent] == [(1, 1, True), (2, 2, False)]
    assert abs(recent[0].seal_temp_deci_c - 1800) <= 10
    assert [r["scenario_reason"] for r in plant.truth.rows()] == ["NONE", "SEAL_FAIL"]
    assert [r["seal"] for r in plant.truth.rows()] == ["ok", "bad"]


def test_a_packer_not_in_execute_packs_nothing_and_the_tray_has_no_seal_result():
    plant, _plc, clock, packer, _ = plant_with(Scenario(trays=(pair(),), seed=1))
    packer.machine.force_state(S.HELD)
    run_to(plant, clock, 1, 4001)
    assert packer.machine.sequence == 0
    assert (plant.truth.rows()[0]["seal"], plant.truth.rows()[0]["scenario_reason"]) == ("none",
                                                                                 "SEAL_FAIL")


def test_packer_restart_just_before_a_tray_leaves_it_loses_its_result():
    scenario = Scenario(trays=(pair(), pair(ticket="T000002")),
                        faults=(FaultSpec("packer_restart", 1, at_mm=1195, duration_s=0.5),
                                FaultSpec("packer_drop_session", 2, at_mm=1300)), seed=1)
    plant, _plc, clock, packer, _ = plant_with(scenario)
    run_to(plant, clock, 1, 1201)
    assert packer.restarts == [0.5] and not packer.machine.powered
    with pytest.raises(PackerNotExecuting):
        packer.pack(1, True, 1800)
    packer.machine.power_on()
    packer.machine.force_state(S.EXECUTE)
    run_to(plant, clock, 2, 4001)
    assert packer.drops == 1
    assert [r["scenario_reason"] for r in plant.truth.rows()] == ["SEAL_FAIL", "NONE"]


def test_a_standalone_packer_runs_by_itself():
    plant, _plc, clock, packer, _ = plant_with(Scenario(trays=(pair(),), seed=1),
                                               standalone=True)
    packer.machine.force_state(S.STOPPED)
    run_to(plant, clock, 1, 1201)
    assert packer.machine.sequence == 1


def test_stations_not_selected_are_not_judged():
    scenario = Scenario(trays=(pair(300.0),), faults=(FaultSpec("bad_seal", 1),), seed=1)
    plant, _plc, clock, packer, _ = plant_with(scenario, stations=())
    run_to(plant, clock, 1, 4001)
    assert packer.machine.sequence == 0
    assert plant.truth.rows()[0]["scenario_reason"] == "NONE"
    assert "seal" not in plant.truth.rows()[0]


# ---- scenario format ---------------------------------------------------------------------------

def test_new_tray_keys_and_fault_kinds_round_trip():
    data = {"trays": [{"ticket": "T1", "plates": [], "product": "licence-doc", "weight_g": 80,
                       "expect": "NONE"}],
            "faults": [{"kind": "bad_seal", "tray": 1}, {"kind": "scale_busy", "tray": 1},
                       {"kind": "misprint", "tray": 1},
                       {"kind": "printer_paused", "tray": 1, "at_mm": 2900, "length_mm": 300},
                       {"kind": "packer_restart", "tray": 1, "at_mm": 1195},
                       {"kind": "packer_drop_session", "tray": 1, "at_mm": 1300},
                       {"kind": "operator_reject", "tray": 1, "at_mm": 1800}]}
    s = scenario_from_dict(data)
    assert s.trays[0].weight_g == 80.0 and not s.weight_ok(1)
    assert s.tray_faults(1) == {"bad_seal", "scale_busy", "misprint"}
    assert s.operator_reject_at(1) == 1800.0
    assert scenario_from_dict(s.to_dict()) == s


@pytest.mark.parametrize("bad", [
    {"kind": "printer_paper_out", "tray": 1, "at_mm": 2900},
    {"kind": "packer_restart", "tray": 1},
    {"kind": "operator_reject", "tray": 1},
    {"kind": "scale_on_fire", "tray": 1}])
def test_bad_new_faults_are_refused(bad):
    with pytest.raises(ConfigError):
        scenario_from_dict({"trays": [{"ticket": "T1", "expect": "NONE"}], "faults": [bad]})


def test_unknown_product_is_refused():
    with pytest.raises(ConfigError, match="product"):
        scenario_from_dict({"trays": [{"ticket": "T1", "product": "pizza", "expect": "NONE"}]})


# ---- truth rules -------------------------------------------------------------------------------

def _one(tray: TraySpec, *faults: FaultSpec) -> Scenario:
    return Scenario(trays=(tray,), faults=faults, seed=1)


@pytest.mark.parametrize("tray, faults, stations, want", [
    (pair(330.0), ("bad_seal", "scale_busy", "misprint"), ALL, Reason.SEAL_FAIL),
    (pair(330.0), ("scale_busy", "misprint"), ALL, Reason.SCALE_FAULT),
    (pair(330.0), ("misprint",), ALL, Reason.WEIGHT_OUT_OF_RANGE),
    (pair(), ("misprint",), ALL, Reason.LABEL_VERIFY_FAIL),
    (pair(), ("misprint",), ("P1",), Reason.NONE),  # nobody verifies the label
    (pair(330.0), ("bad_seal",), ("P1", "S2"), Reason.NONE),
    (pair(expect=Reason.PLATE_TYPE), ("bad_seal", "scale_silent"), ALL, Reason.PLATE_TYPE),
])
def test_the_first_failing_check_stands(tray, faults, stations, want):
    from plateline.simulators.truth import tray_reason

    scenario = _one(tray, *(FaultSpec(k, 1) for k in faults))
    assert tray_reason(scenario, 1, stations) is want


def test_printer_fault_comes_before_the_misprint_it_prevents():
    from plateline.simulators.truth import tray_reason

    scenario = _one(pair(), FaultSpec("misprint", 1),
                    FaultSpec("printer_head_open", 1, at_mm=2900, length_mm=300))
    assert tray_reason(scenario, 1, ALL) is Reason.PRINTER_FAULT
    assert tray_reason(scenario, 1, ALL, printer_fault=False) is Reason.LABEL_VERIFY_FAIL
    assert tray_reason(scenario, 1, ALL, seal="none") is Reason.SEAL_FAIL


@pytest.mark.parametrize("expect, faults, at, want", [
    (Reason.NONE, (), 1800.0, Reason.OPERATOR_REJECT),
    (Reason.NOREAD, (), 1800.0, Reason.NOREAD),  # already found at the infeed
    (Reason.NONE, ("scale_busy",), 1800.0, Reason.OPERATOR_REJECT),  # found later
    (Reason.NONE, ("bad_seal",), 1800.0, Reason.SEAL_FAIL),
    (Reason.PLATE_COUNT, (), 300.0, Reason.OPERATOR_REJECT),
])
def test_operator_reject_unless_a_check_had_already_failed(expect, faults, at, want):
    from plateline.simulators.truth import tray_reason

    scenario = _one(pair(expect=expect), *(FaultSpec(k, 1) for k in faults),
                    FaultSpec("operator_reject", 1, at_mm=at))
    assert tray_reason(scenario, 1, ALL) is want


@pytest.mark.parametrize("reason, lost_at, done_at, want", [
    (Reason.SEAL_FAIL, 1300.0, None, Reason.SEAL_FAIL),
    (Reason.SEAL_FAIL, 1100.0, None, Reason.TRACKING_ERROR),
    (Reason.WEIGHT_OUT_OF_RANGE, 2600.0, None, Reason.TRACKING_ERROR),
    (Reason.SCALE_FAULT, 2750.0, None, Reason.SCALE_FAULT),
    (Reason.LABEL_VERIFY_FAIL, 3100.0, None, Reason.TRACKING_ERROR),
    (Reason.PRINTER_FAULT, 3200.0, None, Reason.PRINTER_FAULT),
    (Reason.OPERATOR_REJECT, 2000.0, 1800.0, Reason.OPERATOR_REJECT),
    (Reason.OPERATOR_REJECT, 1700.0, 1800.0, Reason.TRACKING_ERROR),
])
def test_lost_trays_keep_a_reason_only_once_its_check_was_done(reason, lost_at, done_at, want):
    from plateline.simulators.truth import LOST, final_expectation

    assert final_expectation(reason, LOST, lost_at, True, done_at) == (want, LOST)


# ---- the demo with every station -----------------------------------------------------------------

@pytest.mark.parametrize("n", [35, 60, 200])
def test_demo_with_every_station_has_every_reason_code(n):
    from plateline.simulators.demo_data import load_demo_orders, make_demo_scenario
    from plateline.simulators.line import DEVICES
    from plateline.simulators.scenario import derive_expected
    from plateline.simulators.truth import predict

    s = make_demo_scenario(n_trays=n, seed=7, stations=DEVICES)
    pred = predict(s, DEVICES)
    assert all(p.certain for p in pred.values())
    assert {p.reason for p in pred.values()} == set(Reason)
    assert [t.expect for t in s.trays] == derive_expected(s, load_demo_orders())
    new = {"bad_seal", "packer_restart", "packer_drop_session", "scale_silent", "misprint",
           "printer_paper_out", "operator_reject"}
    assert new <= {f.kind for f in s.faults}
    # Without the new devices it is the first slice's demo.
    slice1 = make_demo_scenario(n_trays=n, seed=7, stations=("CONV", "S1", "CAM1"))
    assert slice1 == make_demo_scenario(n_trays=n, seed=7)
    assert not {f.kind for f in slice1.faults} & new
    assert all(t.weight_g is None for t in slice1.trays)


def test_demo_needs_more_trays_with_every_station():
    from plateline.simulators.demo_data import make_demo_scenario

    with pytest.raises(ValueError, match="too few"):
        make_demo_scenario(n_trays=30, seed=1, stations=ALL)
