"""The controller against the simulated line (plant + CONV + S1 + CAM1), orders imported
through the records importer, records exported and compared with the plant's truth."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from plateline.contract import CmdResult, ConveyorAlarm, PackMLCommand, PackMLState, Reason
from plateline.controller.line import LineController
from plateline.controller.settings import ControllerSettings
from plateline.drivers.camera_http import HttpCamera
from plateline.drivers.codereader import SerialCodeReader
from plateline.drivers.tagmap import TagMap
from plateline.recipes import Recipe
from plateline.records.export import export_jsonl
from plateline.records.orders import import_orders
from plateline.records.plates import DEFAULT_EBIKE_PATTERN
from plateline.simulators.conveyor import PlcConfig
from plateline.simulators.line import SimulatedLine
from plateline.simulators.orderfile import SimOrder, orders_csv
from plateline.simulators.scenario import FaultSpec, Scenario, TraySpec
from plateline.simulators.truth import compare

from .harness import fast_settings, make_link, wait_until

SPEED = 5.0  # window 100 ms: robust on a loaded machine


def doc(n: int, status: str = "open") -> SimOrder:
    return SimOrder(f"DOC-{n:06d}", "licence-doc", "", "", 0, f"SF{n:013d}", "王伟",
                    "13800000000", "广东省广州市天河区中山路1号", status)


class NoVerifier:
    """Documents are not verified by the camera: nothing may call this."""

    calls = 0

    async def check(self, image: bytes, expectation: Any, min_confidence: float) -> Any:
        self.calls += 1
        raise AssertionError("the verifier was called for a document")


@contextlib.asynccontextmanager
async def run_line(scenario: Scenario, orders: Sequence[SimOrder], tmp_path: Path,
                   sessions: sessionmaker[Session], conv_map: TagMap,
                   recipes: dict[str, Recipe], verifier: Any,
                   settings: ControllerSettings | None = None, speed: float = SPEED
                   ) -> AsyncIterator[tuple[SimulatedLine, LineController]]:
    order_file = tmp_path / "orders.csv"
    order_file.write_text(orders_csv(orders), encoding="utf-8")
    with sessions() as s:
        import_orders(s, order_file, recipes=recipes, ebike_pattern=DEFAULT_EBIKE_PATTERN)
    async with contextlib.AsyncExitStack() as stack:
        sim = await stack.enter_async_context(
            SimulatedLine(scenario, speed=speed, plc_config=PlcConfig(acting_s=0.05),
                          devices=("CONV", "S1", "CAM1")))
        ep = sim.endpoints
        sup = await stack.enter_async_context(make_link(ep["CONV"]["port"], conv_map))
        reader = await stack.enter_async_context(SerialCodeReader("S1", ep["S1"]["port"]))
        camera = await stack.enter_async_context(HttpCamera("CAM1", ep["CAM1"]["url"]))
        line = await stack.enter_async_context(LineController(
            # the contract's 1 s PLC heartbeat timeout: a whole line in one process
            settings or fast_settings(frames_dir=tmp_path / "frames",
                                      plc_heartbeat_timeout_s=1.0),
            sessions=sessions,
            conveyor=sup, tag_map=conv_map, recipes=recipes, code_reader=reader,
            camera=camera, verifier=verifier))
        yield sim, line


async def start(line: LineController, sim: SimulatedLine) -> None:
    await line.wait_for_state(PackMLState.STOPPED, timeout=5)
    await wait_until(lambda: line.line_state.core_ready, what="tracking ready")
    await wait_until(lambda: not sim.plc.alarms & ConveyorAlarm.CTRL_HEARTBEAT_LOST,
                     what="heartbeat seen")
    assert await line.command(PackMLCommand.RESET, "op") is CmdResult.TAKEN
    await line.wait_for_state(PackMLState.IDLE, timeout=5)
    assert await line.command(PackMLCommand.START, "op") is CmdResult.TAKEN


async def finish(sim: SimulatedLine, line: LineController, timeout: float = 30) -> None:
    await sim.wait_all_trays_done(timeout)
    await wait_until(lambda: sim.plc.register(101) == sim.plc.register(100),
                     what="events acknowledged")
    await wait_until(lambda: line.tracker is not None and not line.tracker.items,
                     what="items closed")


def records(sessions: sessionmaker[Session]) -> list[dict[str, Any]]:
    out = io.StringIO()
    with sessions() as s:
        export_jsonl(s, out, line_id="L1")
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def test_infeed_reasons_and_a_lost_tray_match_the_truth(
        tmp_path: Path, sessions: sessionmaker[Session], conv_map: TagMap,
        recipes: dict[str, Recipe]) -> None:
    orders = [doc(n) for n in range(1, 8)] + [doc(99, "cancelled")]
    trays = (
        TraySpec("DOC-000001", expect=Reason.NONE),
        TraySpec("DOC-000002", readable=False, expect=Reason.NOREAD),
        TraySpec("NOT-AN-ORDER", expect=Reason.UNKNOWN_ORDER),
        TraySpec("DOC-000099", expect=Reason.ORDER_CANCELLED),
        TraySpec("DOC-000001", expect=Reason.DUPLICATE_ORDER),  # tray 1 is still on the line
        TraySpec("DOC-000003", expect=Reason.NONE),
        TraySpec("DOC-000004", expect=Reason.NONE),  # taken off the belt by hand
        TraySpec("DOC-000005", expect=Reason.NONE),
    )
    scenario = Scenario(trays, faults=(FaultSpec("remove_tray", 7, at_mm=1000),), name="infeed")
    verifier = NoVerifier()
    async with run_line(scenario, orders, tmp_path, sessions, conv_map, recipes,
                        verifier) as (sim, line):
        await start(line, sim)
        await finish(sim, line)
    assert verifier.calls == 0
    recs = records(sessions)
    assert compare(sim.truth_rows(), recs) == []
    assert [r["reason"] for r in sorted(recs, key=lambda r: r["enter_seq"])] == [
        "NONE", "NOREAD", "UNKNOWN_ORDER", "ORDER_CANCELLED", "DUPLICATE_ORDER", "NONE",
        "TRACKING_ERROR", "NONE"]


async def test_plc_restart_and_verdict_stall_match_the_truth(
        tmp_path: Path, sessions: sessionmaker[Session], conv_map: TagMap,
        recipes: dict[str, Recipe]) -> None:
    orders = [doc(n) for n in range(1, 12)]
    trays = tuple(TraySpec(f"DOC-{n:06d}", expect=Reason.NONE) for n in range(1, 12))
    faults = (
        FaultSpec("plc_restart", 3, at_mm=100, duration_s=0.3),  # trays 1-3 on the belt: lost
        # the PLC takes no verdicts from before tray 5's camera until after its gate
        FaultSpec("verdict_stall", 5, at_mm=0, length_mm=4500),
    )
    scenario = Scenario(trays, faults=faults, name="faults")
    async with run_line(scenario, orders, tmp_path, sessions, conv_map, recipes,
                        NoVerifier()) as (sim, line):
        await start(line, sim)
        await wait_until(lambda: line.alarms.is_active("PLC_RESTARTED"), timeout=30,
                         what="PLC restart seen")
        await line.wait_for_state(PackMLState.STOPPED, timeout=10)
        await start(line, sim)  # the operator starts the line again
        await finish(sim, line)
    recs = records(sessions)
    mismatches = compare(sim.truth_rows(), recs)
    assert mismatches == [], "\n".join(map(str, mismatches))
    reasons = {r["reason"] for r in recs}
    assert {"NO_VERDICT", "TRACKING_ERROR", "NONE"} <= reasons


async def test_plate_reasons_with_the_real_verifier(
        tmp_path: Path, sessions: sessionmaker[Session], conv_map: TagMap,
        recipes: dict[str, Recipe]) -> None:
    service = pytest.importorskip("plateline.vision.service")
    from importlib import resources

    from plateline.vision.model import DEFAULT_MODEL
    if not resources.files("plateline.vision.models").joinpath(DEFAULT_MODEL).is_file():
        pytest.skip("the vision package ships no default model yet")
    from plateline.simulators.demo_data import generate_demo_orders, plates_for
    from plateline.simulators.plates import near_miss

    orders, _ = generate_demo_orders(60, seed=7)
    pairs = [o for o in orders if o.product == "plate-pair" and o.plate_type == "blue"]
    single = next(o for o in orders if o.product == "plate-single")
    ebike = next(o for o in orders if o.product == "ebike-plate")
    mismatch = next(t for o in pairs[1:] if (t := near_miss(o.plate_no, "8/B")
                                            or near_miss(o.plate_no, "0/D")))
    miss_order = next(o for o in pairs[1:] if near_miss(o.plate_no, "8/B") == mismatch
                      or near_miss(o.plate_no, "0/D") == mismatch)
    a, b, c, d = [o for o in pairs if o is not miss_order][:4]
    trays = (
        TraySpec(a.order_id, plates=plates_for(a), expect=Reason.NONE),
        TraySpec(miss_order.order_id, plates=plates_for(miss_order, text=mismatch),
                 expect=Reason.PLATE_MISMATCH),
        TraySpec(b.order_id, plates=plates_for(b)[:1], expect=Reason.PLATE_COUNT),
        TraySpec(c.order_id, plates=plates_for(c, plate_type="yellow"),
                 expect=Reason.PLATE_TYPE),
        TraySpec(d.order_id, plates=plates_for(d), expect=Reason.VISION_FAULT),
        TraySpec(single.order_id, plates=plates_for(single), expect=Reason.NONE),
        TraySpec(ebike.order_id, plates=plates_for(ebike), expect=Reason.NONE),
    )
    scenario = Scenario(trays, faults=(FaultSpec("camera_timeout", 5),), name="plates")
    # threads: the first check of a process pool spawns its workers on the event loop
    async with service.PlateVerifier(None, workers=2, use_processes=False) as verifier, \
            run_line(scenario, orders, tmp_path, sessions, conv_map, recipes, verifier,
                     speed=3.0) as (sim, line):
        await start(line, sim)
        await finish(sim, line, timeout=60)
    recs = records(sessions)
    mismatches = compare(sim.truth_rows(), recs)
    assert mismatches == [], "\n".join(map(str, mismatches))
    by_seq = sorted(recs, key=lambda r: r["enter_seq"])
    assert by_seq[0]["plates_read"] and by_seq[0]["plates_read"][0]["text"] == a.plate_no
    # the frame and each plate's rectified crop are kept beside the record
    first = by_seq[0]["item_id"]
    frames = tmp_path / "frames"
    assert (frames / f"{first}.jpg").is_file()
    crops = sorted(frames.glob(f"{first}.plate*.jpg"))
    assert [c.name for c in crops] == [f"{first}.plate1.jpg", f"{first}.plate2.jpg"]
    import cv2
    import numpy as np
    crop = cv2.imdecode(np.frombuffer(crops[0].read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    assert crop.shape[0] == 140 and 3.0 < crop.shape[1] / crop.shape[0] < 3.4  # 440x140 mm
