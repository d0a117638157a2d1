"""LABEL against the ZPL printer and S2 scanner simulators on ptys: PRINTER_FAULT,
LABEL_VERIFY_FAIL, no label for a tray that already failed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from plateline.contract import Reason
from plateline.controller.journal import Journal
from plateline.controller.model import CheckResult
from plateline.controller.stations.label import LabelStation
from plateline.controller.tracking import TrackedItem, Window
from plateline.drivers.codereader import SerialCodeReader
from plateline.drivers.printer_zpl import ZplPrinter
from plateline.recipes import Recipe

from .harness import add_order
from .station_rigs import LabelRig, failed, item, window

BEFORE = ("INFEED", "VISION", "PACK", "WEIGH")
PASSED = {s: CheckResult.passed() for s in BEFORE[1:]}


@contextlib.asynccontextmanager
async def label_station(sessions: sessionmaker[Session], recipes: dict[str, Recipe]
                        ) -> AsyncIterator[tuple[LabelStation, LabelRig]]:
    add_order(sessions, "ORD-000001")
    async with LabelRig() as rig, Journal(sessions, "L1") as journal, \
            ZplPrinter("P1", rig.printer.port.endpoint, timeout=0.3) as printer, \
            SerialCodeReader("S2", rig.scanner.port.endpoint) as reader:
        station = LabelStation(printer, reader, journal, recipes, before=BEFORE)
        task = asyncio.create_task(station.run())
        try:
            yield station, rig
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_label_printed_and_verified(sessions: sessionmaker[Session],
                                          recipes: dict[str, Recipe]) -> None:
    async with label_station(sessions, recipes) as (station, rig):
        result = await station.start(item(before=PASSED), window(0.5))
    assert result.ok, result
    assert result.data["label_read"] == result.data["waybill_no"] == "SF1234567890"
    printed = rig.printer.last_printed
    assert printed is not None and printed.barcode == "SF1234567890"
    assert "ORD-000001" in printed.texts and "13800000000" not in printed.texts


@pytest.mark.parametrize("fault", ["paper_out", "head_open", "ribbon_out", "paused"])
async def test_printer_not_ready_is_printer_fault_and_prints_nothing(
        sessions: sessionmaker[Session], recipes: dict[str, Recipe], fault: str) -> None:
    async with label_station(sessions, recipes) as (station, rig):
        rig.printer.set_fault(fault)  # type: ignore[arg-type]
        result = await station.start(item(before=PASSED), window(0.5))
        problem = await station.start_problem()
    assert result.reason is Reason.PRINTER_FAULT
    assert result.data["printer_faults"] == [fault] and result.data["printed"] is False
    assert rig.printer.counters.printed == 0 and rig.printer.counters.not_printed == 0
    assert problem is not None and fault in problem


async def test_misprint_is_label_verify_fail(sessions: sessionmaker[Session],
                                             recipes: dict[str, Recipe]) -> None:
    async with label_station(sessions, recipes) as (station, rig):
        rig.printer.set_misprint(labels=1)
        result = await station.start(item(before=PASSED), window(0.5))
    assert result.reason is Reason.LABEL_VERIFY_FAIL
    assert result.data["label_read"] is None and result.data["printed"] is True


async def test_wrong_label_read_is_label_verify_fail(sessions: sessionmaker[Session],
                                                     recipes: dict[str, Recipe]) -> None:
    async with label_station(sessions, recipes) as (station, rig):
        rig.scanner._view = lambda: __import__(  # the label of another tray under S2
            "plateline.simulators.views", fromlist=["ScanView"]).ScanView("SF0000000001")
        result = await station.start(item(before=PASSED), window(0.5))
    assert result.reason is Reason.LABEL_VERIFY_FAIL
    assert result.data["label_read"] == "SF0000000001"


async def test_closed_window_is_label_verify_fail(sessions: sessionmaker[Session],
                                                  recipes: dict[str, Recipe]) -> None:
    async with label_station(sessions, recipes) as (station, rig):
        result = await station.start(item(before=PASSED), Window.closed())
    assert result.reason is Reason.LABEL_VERIFY_FAIL
    assert rig.scanner.counters.reads == 0


@pytest.mark.parametrize("station_failed", ["VISION", "PACK", "WEIGH"])
async def test_no_label_for_a_tray_that_already_failed(
        sessions: sessionmaker[Session], recipes: dict[str, Recipe],
        station_failed: str) -> None:
    reason = {"VISION": Reason.PLATE_MISMATCH, "PACK": Reason.SEAL_FAIL,
              "WEIGH": Reason.WEIGHT_OUT_OF_RANGE}[station_failed]
    async with label_station(sessions, recipes) as (station, rig):
        result = await station.start(item(before={**PASSED, station_failed: failed(reason)}),
                                     window(0.5))
    assert result.skipped and result.data["because"] == reason.name
    assert result.data["label_read"] is None
    assert rig.printer.counters.printed == 0


async def test_undecided_earlier_check_prints_nothing(sessions: sessionmaker[Session],
                                                      recipes: dict[str, Recipe]) -> None:
    before = {s: r for s, r in PASSED.items() if s != "WEIGH"}
    async with label_station(sessions, recipes) as (station, rig):
        result = await station.start(item(before=before), window(0.05))
    assert result.skipped and result.data["because"] == "TRACKING_ERROR"
    assert rig.printer.counters.printed == 0


async def test_start_check_passes_with_a_ready_printer(sessions: sessionmaker[Session],
                                                       recipes: dict[str, Recipe]) -> None:
    async with label_station(sessions, recipes) as (station, _):
        assert await station.start_problem() is None


async def test_label_facts_bound_with_the_order_need_no_database_at_the_labeler(
        sessions: sessionmaker[Session], recipes: dict[str, Recipe]) -> None:
    """The labeler's window is 50 ms at x10: a database read behind a slow commit there
    lost labels. The label facts come with the order bound at INFEED."""
    from dataclasses import replace

    from plateline.drivers.zpl import WaybillLabel

    async with label_station(sessions, recipes) as (station, rig):
        it = item(before=PASSED, order_id="ORD-NOT-IN-DB")
        assert it.order is not None
        it.order = replace(it.order, label=WaybillLabel("ORD-NOT-IN-DB", "SF0000000042",
                                                      "Li Lei", "13900000000", "Xi'an"))
        result = await station.start(it, window(0.5))
    assert result.ok, result
    assert result.data["label_read"] == "SF0000000042"
    printed = rig.printer.last_printed
    assert printed is not None and "ORD-NOT-IN-DB" in printed.texts



def _with_waybill(it: TrackedItem, waybill: str) -> TrackedItem:
    """``it`` with its own waybill (the rig's S2 reads the label printed last)."""
    from dataclasses import replace

    from plateline.drivers.zpl import WaybillLabel

    assert it.order is not None
    it.order = replace(it.order, label=WaybillLabel(it.order.order_id, waybill, "Li Lei",
                                                  "13900000000", "Xi'an"))
    return it


async def test_at_speed_the_status_asked_after_a_label_stands_for_the_next(
        sessions: sessionmaker[Session], recipes: dict[str, Recipe]) -> None:
    """One ~HS per label: asked after each label, it is the check before the next one
    when it is recent (the labeler's window is 50 ms at x10)."""
    async with label_station(sessions, recipes) as (station, rig):
        first = await station.start(item(before=PASSED, number=1), window(0.5))
        asked = rig.printer.counters.status_requests
        await asyncio.sleep(0.05)  # the ~HS after the first label is answered
        second = await station.start(item(before=PASSED, number=2), window(0.5))
        assert first.ok and second.ok, (first, second)
        assert "printer_status_age_ms" not in first.data  # nothing recent: asked before
        assert 0 <= second.data["printer_status_age_ms"] <= 300
        assert rig.printer.counters.status_requests == asked + 1  # the one after label 1
        assert len(rig.printer.printed) == 2


async def test_an_old_status_is_asked_again(sessions: sessionmaker[Session],
                                            recipes: dict[str, Recipe]) -> None:
    async with label_station(sessions, recipes) as (station, rig):
        station.status_max_age_s = 0.01
        await station.start(item(before=PASSED, number=1), window(0.5))
        await asyncio.sleep(0.05)
        asked = rig.printer.counters.status_requests
        second = await station.start(item(before=PASSED, number=2), window(0.5))
    assert second.ok and "printer_status_age_ms" not in second.data
    assert rig.printer.counters.status_requests >= asked + 1


async def test_a_fault_after_the_last_status_is_printer_fault_not_a_misprint(
        sessions: sessionmaker[Session], recipes: dict[str, Recipe]) -> None:
    """Paper runs out between the status and the label: the printer takes the format
    and prints nothing; S2 reads nothing; the status after says why: PRINTER_FAULT."""
    async with label_station(sessions, recipes) as (station, rig):
        await station.start(item(before=PASSED, number=1), window(0.5))
        await asyncio.sleep(0.05)
        rig.printer.set_fault("paper_out")
        printed = len(rig.printer.printed)
        second = _with_waybill(item(before=PASSED, number=2), "SF0000000002")
        result = await station.start(second, window(0.3))
    assert not result.ok and result.reason is Reason.PRINTER_FAULT, result
    assert result.data["printer_faults"] == ["paper_out"] and not result.data["printed"]
    assert len(rig.printer.printed) == printed


async def test_a_fault_in_the_last_status_is_asked_again_before_the_label(
        sessions: sessionmaker[Session], recipes: dict[str, Recipe]) -> None:
    async with label_station(sessions, recipes) as (station, rig):
        rig.printer.set_fault("paused")
        first = await station.start(item(before=PASSED, number=1), window(0.5))
        assert first.reason is Reason.PRINTER_FAULT
        await asyncio.sleep(0.05)  # the status after it still says paused ...
        rig.printer.clear_faults()  # ... and the operator has pressed resume since
        second = await station.start(item(before=PASSED, number=2), window(0.5))
    assert second.ok, second
