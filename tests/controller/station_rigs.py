"""Rigs of the PACK, WEIGH and LABEL tests: real simulators on ptys, items by hand."""

from __future__ import annotations

import asyncio
import time

from plateline.contract import Reason
from plateline.controller.journal import OrderFacts
from plateline.controller.model import CheckResult
from plateline.controller.tracking import TrackedItem, Window
from plateline.drivers.packer_results import PackEvent
from plateline.simulators.printer import PrinterSim
from plateline.simulators.scale import ScaleView
from plateline.simulators.scanner import ScannerSim
from plateline.simulators.views import ScanView


def item(tray: int = 7, *, product: str = "plate-pair", order_id: str = "ORD-000001",
         before: dict[str, CheckResult] | None = None, number: int = 1) -> TrackedItem:
    """An item bound to ``order_id`` whose INFEED (and ``before``) results are in."""
    it = TrackedItem(key=(1, number), tray=tray, db_id=number, public_id=f"L1-{number}")
    it.stored.set()
    it.order = OrderFacts(order_id, product, "粤A12345", "blue", 2, "1.0", 0.6)
    for station, result in {"INFEED": CheckResult.passed(), **(before or {})}.items():
        it.results[station] = result
        it._result_event(station).set()
    return it


def window(seconds: float, *, fov_mm: float = 150.0) -> Window:
    """A window whose field of view closes ``seconds`` from now (the event seen now)."""
    now = time.monotonic()
    return Window(now, fov_mm / seconds, fov_mm, now)


class ScaleLoad:
    """What the scale sim sees: set ``view`` from the test."""

    def __init__(self) -> None:
        self.view = ScaleView(weight_g=None)

    def __call__(self) -> ScaleView:
        return self.view


class LabelRig:
    """A printer sim and an S2 scanner sim that reads the label printed last."""

    def __init__(self) -> None:
        self.printer = PrinterSim("P1")
        self.scanner = ScannerSim("S2", self._view, decode_delay=(0.0, 0.005),
                                  read_window=0.05)

    def _view(self) -> ScanView:
        label = self.printer.last_printed
        return ScanView(label.barcode if label is not None else None)

    async def __aenter__(self) -> LabelRig:
        await self.printer.__aenter__()
        await self.scanner.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.scanner.aclose()
        await self.printer.aclose()


class EventQueue:
    """A pack-result stream fed by the test (what ``PackResultTracker.get`` gives)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[PackEvent] = asyncio.Queue()

    async def get(self) -> PackEvent:
        return await self.queue.get()

    def put(self, *events: PackEvent) -> None:
        for ev in events:
            self.queue.put_nowait(ev)


def failed(reason: Reason) -> CheckResult:
    return CheckResult.failed(reason, {})
