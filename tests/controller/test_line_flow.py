"""Trays through the controller on the simulated PLC, a pty scanner and an HTTP camera:
each reason code this slice produces, end to end, and what gets recorded."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from plateline.contract import DivertTarget, EventType, Reason
from plateline.controller.line import LineController
from plateline.controller.model import PlcEvent
from plateline.controller.tracking import Window
from plateline.drivers.tagmap import TagMap
from plateline.recipes import Recipe

from .harness import (
    Devices,
    add_order,
    all_acknowledged,
    at_camera,
    enter,
    fast_settings,
    item_rows,
    open_item,
    results_of,
    started_line,
    taken_by_plc,
    to_gate,
    wait_until,
)


@pytest.fixture
async def line(dev: Devices, sessions: sessionmaker[Session], conv_map: TagMap,
               recipes: dict[str, Recipe], tmp_path: Path) -> AsyncIterator[LineController]:
    add_order(sessions, *(f"ORDER-00{n}" for n in range(1, 10)))
    add_order(sessions, "CANCELLED-1", status="cancelled")
    add_order(sessions, "DOC-000001", product="licence-doc", plate_no=None, plate_type=None,
              plate_count=0)
    settings = fast_settings(frames_dir=tmp_path / "frames")
    async with started_line(dev, sessions, conv_map, recipes, settings) as line:
        yield line


async def trip(line: LineController, dev: Devices, tray: int, code: str | None,
               vision: Reason = Reason.NONE) -> None:
    await enter(line, dev, tray, code)
    await at_camera(line, dev, tray, vision)
    await to_gate(line, dev, tray)


async def test_a_good_tray_passes_and_is_recorded(line: LineController, dev: Devices,
                                                  sessions: sessionmaker[Session],
                                                  tmp_path: Path) -> None:
    await trip(line, dev, 7, "ORDER-001")
    (item,) = item_rows(sessions)
    assert (item.tray, item.order_id, item.verdict, item.reason, item.outcome) == (
        7, "ORDER-001", "pass", "NONE", "outfeed")
    assert (item.recipe_id, item.recipe_version) == ("plate-pair", "1.0")
    assert item.verdict_written and item.closed_at is not None
    res = results_of(item)
    assert res["INFEED"].ok and res["INFEED"].data["barcode"] == "ORDER-001"
    assert res["VISION"].ok
    assert [p["text"] for p in res["VISION"].data["plates"]] == ["粤A12345", "粤A12345"]
    frame = tmp_path / "frames" / f"{item.public_id()}.jpg"
    assert frame.read_bytes()[:3] == b"\xff\xd8\xff"
    assert res["VISION"].data["frame"] == str(frame)
    (tray, expectation, min_conf) = dev.verifier.calls[0]
    assert tray == 7 and expectation.plate_count == 2 and min_conf == 0.6
    assert line.counters["passed"] == 1 and line.counters["trays"] == 1


@pytest.mark.parametrize(("code", "reason"), [
    (None, Reason.NOREAD),
    ("NOPE-000001", Reason.UNKNOWN_ORDER),
    ("CANCELLED-1", Reason.ORDER_CANCELLED),
])
async def test_infeed_rejects(line: LineController, dev: Devices, sessions: sessionmaker[Session],
                              code: str | None, reason: Reason) -> None:
    await trip(line, dev, 3, code)
    (item,) = item_rows(sessions)
    assert (item.verdict, item.reason, item.outcome) == ("reject", reason.name, "reject_bin")
    res = results_of(item)
    assert res["INFEED"].reason == reason.name
    assert res["VISION"].reason == "SKIPPED"  # a rejected tray skips later checks
    assert dev.verifier.calls == []
    assert item.order_id == code


async def test_duplicate_order_on_the_line_and_after_packing(
        line: LineController, dev: Devices, sessions: sessionmaker[Session]) -> None:
    await enter(line, dev, 1, "ORDER-001")
    await enter(line, dev, 2, "ORDER-001")  # the same order on another tray
    await at_camera(line, dev, 1)
    await at_camera(line, dev, 2)
    await to_gate(line, dev, 1)
    await to_gate(line, dev, 2)
    await trip(line, dev, 3, "ORDER-001")  # already packed
    rows = item_rows(sessions)
    assert [(r.tray, r.verdict, r.reason) for r in rows] == [
        (1, "pass", "NONE"), (2, "reject", "DUPLICATE_ORDER"), (3, "reject", "DUPLICATE_ORDER")]


async def test_an_order_rejected_by_vision_may_run_again(
        line: LineController, dev: Devices, sessions: sessionmaker[Session]) -> None:
    await trip(line, dev, 1, "ORDER-002", Reason.PLATE_MISMATCH)
    await trip(line, dev, 2, "ORDER-002")
    rows = item_rows(sessions)
    assert [(r.verdict, r.reason) for r in rows] == [("reject", "PLATE_MISMATCH"),
                                                    ("pass", "NONE")]


@pytest.mark.parametrize("reason", [Reason.PLATE_MISMATCH, Reason.PLATE_COUNT,
                                    Reason.PLATE_TYPE, Reason.VISION_FAULT])
async def test_vision_rejects(line: LineController, dev: Devices,
                              sessions: sessionmaker[Session], reason: Reason) -> None:
    await trip(line, dev, 4, "ORDER-003", reason)
    (item,) = item_rows(sessions)
    assert (item.verdict, item.reason, item.outcome) == ("reject", reason.name, "reject_bin")
    assert results_of(item)["VISION"].reason == reason.name


async def test_camera_error_is_vision_fault(line: LineController, dev: Devices,
                                           sessions: sessionmaker[Session]) -> None:
    dev.cam.status = 503
    await trip(line, dev, 4, "ORDER-004")
    (item,) = item_rows(sessions)
    assert (item.verdict, item.reason) == ("reject", "VISION_FAULT")
    assert "503" in results_of(item)["VISION"].data["problem"]


async def test_a_document_is_not_verified_by_the_camera(
        line: LineController, dev: Devices, sessions: sessionmaker[Session]) -> None:
    """Licence documents are verified by barcode and weight (line.md): a camera fault
    does not reject them, and there are no plates to read."""
    dev.cam.status = 503
    await trip(line, dev, 9, "DOC-000001")
    (item,) = item_rows(sessions)
    assert (item.verdict, item.recipe_id) == ("pass", "licence-doc")
    assert dev.verifier.calls == []
    assert results_of(item)["VISION"].data["not_verified"]


async def test_no_verdict_when_the_tray_reaches_the_gate_first(
        line: LineController, dev: Devices, sessions: sessionmaker[Session]) -> None:
    dev.verifier.delay_s = 5.0  # the verification does not finish in time
    await enter(line, dev, 5, "ORDER-005")
    dev.cam.tray = 5
    dev.plc.at(EventType.AT_CAMERA, 5)
    await wait_until(lambda: len(dev.verifier.calls) == 1, what="verification started")
    dev.plc.at(EventType.AT_SCALE, 5)
    dev.plc.at(EventType.AT_LABELER, 5)
    target, _ = dev.plc.gate(5)
    assert target == DivertTarget.REJECT_BIN
    await wait_until(lambda: open_item(line, 5) is None, what="tray 5 closed")
    await all_acknowledged(dev)
    (item,) = item_rows(sessions)
    assert (item.verdict, item.reason, item.outcome) == ("reject", "NO_VERDICT", "reject_bin")
    assert not item.verdict_written


async def test_events_out_of_order_are_tracking_errors(
        line: LineController, dev: Devices, sessions: sessionmaker[Session]) -> None:
    await enter(line, dev, 6, "ORDER-006")
    dev.plc.at(EventType.AT_SCALE, 6)  # skipped AT_CAMERA
    dev.plc.at(EventType.AT_CAMERA, 8)  # a tray that is not on the line
    item = open_item(line, 6)
    await wait_until(lambda: item.verdict is not None, what="tracking error verdict")
    await to_gate(line, dev, 6)
    (row,) = item_rows(sessions)
    assert (row.verdict, row.reason, row.outcome) == ("reject", "TRACKING_ERROR", "reject_bin")
    assert line.alarms.is_active("TRACKING_ERROR")


async def test_a_lost_tray(line: LineController, dev: Devices,
                           sessions: sessionmaker[Session]) -> None:
    await enter(line, dev, 11, None)  # NOREAD found first
    await enter(line, dev, 12, "ORDER-007")
    dev.plc.lost(11)
    dev.plc.lost(12)
    await wait_until(lambda: open_item(line, 12) is None, what="trays lost")
    await all_acknowledged(dev)
    rows = item_rows(sessions)
    assert [(r.outcome, r.verdict, r.reason) for r in rows] == [
        ("lost", "reject", "NOREAD"), ("lost", "reject", "TRACKING_ERROR")]


async def test_a_window_spans_the_reads_around_the_event(
        dev: Devices, sessions: sessionmaker[Session], conv_map: TagMap,
        recipes: dict[str, Recipe]) -> None:
    """A station's window starts at the last ring read without the event (the event
    cannot be older) and knows when the read that held it was answered."""
    add_order(sessions, "ORDER-001")
    windows: dict[EventType, Window] = {}
    async with started_line(dev, sessions, conv_map, recipes) as line:
        assert line.tracker is not None
        apply = line.tracker.apply

        def recording(batch: Sequence[tuple[PlcEvent, Window]]) -> object:
            windows.update((ev.type, w) for ev, w in batch)
            return apply(batch)

        line.tracker.apply = recording  # type: ignore[method-assign,assignment]
        await enter(line, dev, 1, "ORDER-001")
        written = time.monotonic()
        await at_camera(line, dev, 1)
        await to_gate(line, dev, 1)
    w = windows[EventType.AT_CAMERA]
    assert w.base is not None and w.seen is not None and w.speed_mm_s
    assert w.base < written < w.seen
    assert w.closes == w.base + 150.0 / w.speed_mm_s


async def test_a_pass_taken_only_after_the_gate_is_no_verdict(
        dev: Devices, sessions: sessionmaker[Session], conv_map: TagMap,
        recipes: dict[str, Recipe]) -> None:
    """The PLC took the PASS after the tray had passed the gate (VD_READ is read after
    the DIVERTED event): the record says why the tray is in the reject bin."""
    add_order(sessions, "ORDER-001")
    async with started_line(dev, sessions, conv_map, recipes) as line:
        dev.plc.plc.verdicts_stalled = True
        item = await enter(line, dev, 1, "ORDER-001")
        await at_camera(line, dev, 1)
        await wait_until(lambda: dev.plc.register(200) != dev.plc.register(201),
                         what="PASS written")
        dev.plc.at(EventType.AT_SCALE, 1)
        dev.plc.at(EventType.AT_LABELER, 1)
        target, _ = dev.plc.gate(1)
        dev.plc.plc.verdicts_stalled = False
        dev.plc.plc.scan()  # takes the PASS before the controller reads the event
        assert target == DivertTarget.REJECT_BIN
        assert item.verdict_number is not None and taken_by_plc(dev, item.verdict_number)
        await wait_until(lambda: item.closed, what="tray closed")
    (row,) = item_rows(sessions)
    assert (row.outcome, row.verdict, row.reason) == ("reject_bin", "reject", "NO_VERDICT")


async def test_the_window_rule(dev: Devices, sessions: sessionmaker[Session], conv_map: TagMap,
                               recipes: dict[str, Recipe]) -> None:
    """A trigger that cannot be sent while the tray is in view is not sent."""
    add_order(sessions, "ORDER-001")
    settings = fast_settings(field_of_view_mm=0.001)  # a window of a few microseconds
    async with started_line(dev, sessions, conv_map, recipes, settings) as line:
        triggers = dev.scan.sim.counters.triggers
        grabs = len(dev.cam.grabs)
        await enter(line, dev, 1, "ORDER-001")
        dev.plc.at(EventType.AT_CAMERA, 1)
        await to_gate(line, dev, 1)
    assert dev.scan.sim.counters.triggers == triggers  # S1 was never triggered
    assert len(dev.cam.grabs) == grabs
    (row,) = item_rows(sessions)
    assert (row.verdict, row.reason) == ("reject", "NOREAD")
    assert "window closed" in results_of(row)["INFEED"].data["problem"]
