"""Test rigs for the controller: the simulated CONV PLC driven by hand, a scanner on a
pty, an HTTP snapshot camera serving frames we choose, and a table verifier.

Real loopback TCP, a real pseudo-terminal and the real drivers; only the plate
verifier is a table (the vision tests measure the real one).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Self

import cv2
import numpy as np
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from plateline.contract import (
    CmdResult,
    ConveyorAlarm,
    EventType,
    PackMLCommand,
    PackMLState,
    Reason,
)
from plateline.controller.line import LineController
from plateline.controller.settings import ControllerSettings
from plateline.drivers.camera_http import HttpCamera
from plateline.drivers.codereader import SerialCodeReader
from plateline.drivers.modbus import ModbusTagClient
from plateline.drivers.supervisor import LinkSupervisor, entered
from plateline.drivers.tagmap import TagMap
from plateline.recipes import Recipe
from plateline.records.models import Item, Order, StationResult
from plateline.simulators.conveyor import ConveyorPlc, PlcConfig
from plateline.simulators.modbus_server import ModbusTcpServer
from plateline.simulators.scanner import ScannerSim
from plateline.simulators.views import ScanView
from plateline.vision.reading import Decision, FrameReading, PlateReading


class PlcRig:
    """The simulated CONV program behind a real Modbus TCP server, scanned every 5 ms.

    Trays are moved by the test: ``enter(tray)``, ``at(EventType, tray)``, ``gate(tray)``.
    """

    def __init__(self, config: PlcConfig | None = None) -> None:
        self.plc = ConveyorPlc(config or PlcConfig(acting_s=0.05))
        self.server = ModbusTcpServer(self.plc, port=0)
        self.scanning = True
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        return self.server.port

    async def __aenter__(self) -> Self:
        await self.server.start()
        self.plc.power_on()
        self._task = asyncio.create_task(self._scan())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.server.aclose()

    async def _scan(self) -> None:
        while True:
            await asyncio.sleep(0.005)
            if self.scanning:
                self.plc.scan()

    # -- trays ------------------------------------------------------------------------
    def enter(self, tray: int) -> int:
        return _number(self.plc.tray_entered(tray))

    def at(self, event: EventType, tray: int) -> int:
        return _number(self.plc.tray_at(event, tray))

    def gate(self, tray: int) -> tuple[int, Any]:
        target, verdict, _ = self.plc.tray_at_gate(tray)
        return int(target), verdict

    def lost(self, tray: int) -> int:
        return _number(self.plc.tray_lost(tray))

    def restart(self, down_s: float = 0.3) -> None:
        self.plc.power_off()
        self.server.drop_connections(down_s)
        asyncio.get_running_loop().call_later(down_s, self.plc.power_on)

    def register(self, address: int) -> int:
        return self.plc.register(address)

    def run_to(self, state: PackMLState) -> None:
        self.plc.force_state(state)


def _number(ev: Any) -> int:
    return -1 if ev.number is None else int(ev.number)


def make_link(port: int, tag_map: TagMap) -> LinkSupervisor[ModbusTagClient]:
    return LinkSupervisor(
        "CONV", entered(lambda: ModbusTagClient("CONV", "127.0.0.1", port, tag_map, timeout=0.3)),
        backoff_min=0.05, backoff_max=0.3)


class ScanRig:
    """A simulated S1 on a pty whose view the test sets (``code``; None = nothing)."""

    def __init__(self) -> None:
        self.code: str | None = None
        self.codes: dict[int, str | None] = {}
        self.tray: int | None = None
        self.sim = ScannerSim("S1", self._view, decode_delay=(0.0, 0.005), read_window=0.05)

    def _view(self) -> ScanView:
        if self.tray is not None:
            return ScanView(self.codes.get(self.tray))
        return ScanView(self.code)

    @property
    def port(self) -> str:
        return self.sim.port.endpoint


def frame_for(tray: int, variant: int = 0) -> bytes:
    """A small PNG that differs per tray (what the test camera serves; lossless)."""
    img = np.zeros((16, 16, 3), dtype=np.uint8)
    img[:, :, 0] = tray % 256
    img[:, :, 1] = tray // 256
    img[:, :, 2] = variant
    ok, data = cv2.imencode(".png", img)
    assert ok
    return data.tobytes()


class CameraRig:
    """An HTTP snapshot endpoint serving the frame of the tray the test puts under it."""

    def __init__(self) -> None:
        self.tray: int | None = None
        self.delay_s = 0.0
        self.status = 200
        self.grabs: list[int | None] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _snapshot(self, request: web.Request) -> web.StreamResponse:
        self.grabs.append(self.tray)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.status != 200:
            return web.Response(status=self.status)
        body = frame_for(self.tray if self.tray is not None else 0)
        return web.Response(body=body, content_type="image/png")

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get("/snapshot", self._snapshot)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/snapshot"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def plate(text: str, plate_type: str, score: float = 0.95) -> PlateReading:
    return PlateReading(text=text, plate_type=plate_type, score=score,
                        char_scores=np.zeros((0, 0)), quad=((0, 0), (1, 0), (1, 1), (0, 1)))


@dataclass
class TableVerifier:
    """Decides by the tray a frame shows: ``reasons[tray]`` (default: a match)."""

    reasons: dict[int, Reason] = field(default_factory=dict)
    calls: list[tuple[int, Any, float]] = field(default_factory=list)
    delay_s: float = 0.0

    async def check(self, image: bytes, expectation: Any,
                    min_confidence: float) -> tuple[FrameReading, Decision]:
        decoded = cv2.imdecode(np.frombuffer(image, dtype=np.uint8), cv2.IMREAD_COLOR)
        assert decoded is not None, "the camera served something that is not an image"
        tray = round(float(decoded[:, :, 0].mean())) + 256 * round(
            float(decoded[:, :, 1].mean()))
        self.calls.append((tray, expectation, min_confidence))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        reason = self.reasons.get(tray, Reason.NONE)
        plates = [plate(expectation.plate_no or "", expectation.plate_type or "blue")
                  for _ in range(expectation.plate_count)]
        return FrameReading(plates=plates), Decision(reason is Reason.NONE, reason, "table")


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0,
                     what: str = "condition") -> None:
    """Poll ``predicate`` every 10 ms; AssertionError naming ``what`` after ``timeout``."""
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def add_order(sessions: sessionmaker[Session], *order_ids: str, product: str = "plate-pair",
              plate_no: str | None = "粤A12345", plate_type: str | None = "blue",
              plate_count: int = 2, status: str = "open") -> None:
    """Insert orders directly (what an import would store), in one transaction."""
    with sessions() as s, s.begin():
        for order_id in order_ids:
            s.add(Order(order_id=order_id, product=product, plate_no=plate_no,
                        plate_type=plate_type, plate_count=plate_count,
                        waybill_no="SF1234567890", recipient_name="Zhang San",
                        recipient_phone="13800000000", recipient_address="1 Road",
                        status=status))


# -- the whole controller on the rigs -------------------------------------------------

FAST_SETTINGS: dict[str, Any] = {
    "heartbeat_period_s": 0.05, "plc_heartbeat_timeout_s": 0.5, "status_poll_s": 0.01,
    "event_poll_s": 0.005, "verdict_poll_s": 0.01, "command_timeout_s": 1.0,
    "fault_retry_s": 0.2}


def fast_settings(**overrides: Any) -> ControllerSettings:
    values: dict[str, Any] = {"line_id": "L1", **FAST_SETTINGS, **overrides}
    return ControllerSettings(**values)


@dataclass
class Devices:
    """The simulated devices of one test; they outlive controller restarts."""

    plc: PlcRig
    scan: ScanRig
    cam: CameraRig
    verifier: TableVerifier


@contextlib.asynccontextmanager
async def devices(plc_config: PlcConfig | None = None) -> AsyncIterator[Devices]:
    async with contextlib.AsyncExitStack() as stack:
        plc = await stack.enter_async_context(PlcRig(plc_config or PlcConfig(acting_s=0.05)))
        scan = ScanRig()
        await stack.enter_async_context(scan.sim)
        cam = await stack.enter_async_context(CameraRig())
        yield Devices(plc, scan, cam, TableVerifier())


@contextlib.asynccontextmanager
async def controller(dev: Devices, sessions: sessionmaker[Session], tag_map: TagMap,
                     recipes: dict[str, Recipe],
                     settings: ControllerSettings | None = None) -> AsyncIterator[LineController]:
    """A LineController on ``dev`` with real drivers (what the CLI builds from configuration)."""
    async with contextlib.AsyncExitStack() as stack:
        sup = await stack.enter_async_context(make_link(dev.plc.port, tag_map))
        reader = await stack.enter_async_context(SerialCodeReader("S1", dev.scan.port))
        camera = await stack.enter_async_context(HttpCamera("CAM1", dev.cam.url, timeout=1.0))
        line = LineController(settings or fast_settings(), sessions=sessions, conveyor=sup,
                              tag_map=tag_map, recipes=recipes, code_reader=reader,
                              camera=camera, verifier=dev.verifier)
        yield await stack.enter_async_context(line)


@contextlib.asynccontextmanager
async def started_line(dev: Devices, sessions: sessionmaker[Session], tag_map: TagMap,
                       recipes: dict[str, Recipe],
                       settings: ControllerSettings | None = None) -> AsyncIterator[LineController]:
    """:func:`controller` on ``dev``, reset and started (:func:`start_line`)."""
    async with controller(dev, sessions, tag_map, recipes, settings) as line:
        await start_line(line, dev)
        yield line


async def start_line(line: LineController, dev: Devices) -> None:
    """Reset and Start the line from Stopped (waits for the PLC to see our heartbeat)."""
    await line.wait_for_state(PackMLState.STOPPED, timeout=5)
    await wait_until(lambda: line.line_state.core_ready, what="tracking ready")
    await wait_until(lambda: not dev.plc.plc.alarms & ConveyorAlarm.CTRL_HEARTBEAT_LOST,
                     what="controller heartbeat seen")
    assert await line.command(PackMLCommand.RESET, "test") is CmdResult.TAKEN
    await line.wait_for_state(PackMLState.IDLE, timeout=5)
    assert await line.command(PackMLCommand.START, "test") is CmdResult.TAKEN
    await line.wait_for_state(PackMLState.EXECUTE, timeout=5)


def open_item(line: LineController, tray: int) -> Any:
    assert line.tracker is not None
    return line.tracker.by_tray.get(tray)


async def enter(line: LineController, dev: Devices, tray: int, code: str | None) -> Any:
    """Tray ``tray`` enters with job ticket ``code``; returns its item after INFEED."""
    dev.scan.codes[tray] = code
    dev.scan.tray = tray
    dev.plc.enter(tray)
    await wait_until(lambda: (it := open_item(line, tray)) is not None
                     and "INFEED" in it.results, what=f"INFEED of tray {tray}")
    return open_item(line, tray)


async def at_camera(line: LineController, dev: Devices, tray: int,
                    reason: Reason = Reason.NONE) -> Any:
    dev.cam.tray = tray
    dev.verifier.reasons[tray] = reason
    item = open_item(line, tray)
    dev.plc.at(EventType.AT_CAMERA, tray)
    await wait_until(lambda: "VISION" in item.results, what=f"VISION of tray {tray}")
    return item


async def to_gate(line: LineController, dev: Devices, tray: int) -> None:
    """AT_SCALE, AT_LABELER, then the gate, once the item's verdict is in the PLC."""
    item = open_item(line, tray)
    assert item is not None
    await wait_until(lambda: item.verdict_number is not None, what=f"verdict of tray {tray}")
    await wait_until(lambda: taken_by_plc(dev, item.verdict_number),
                     what=f"verdict of tray {tray} taken")
    dev.plc.at(EventType.AT_SCALE, tray)
    dev.plc.at(EventType.AT_LABELER, tray)
    dev.plc.gate(tray)
    await wait_until(lambda: item.closed, what=f"tray {tray} closed")
    await all_acknowledged(dev)


def taken_by_plc(dev: Devices, number: int) -> bool:
    """True when the PLC's VD_READ has passed verdict ``number`` (modulo 65536)."""
    return (dev.plc.register(201) - number - 1) % 65536 < 32768


async def all_acknowledged(dev: Devices) -> None:
    """Every event the PLC wrote is acknowledged, hence stored."""
    await wait_until(lambda: dev.plc.register(101) == dev.plc.register(100),
                     what="events acknowledged")


def item_rows(sessions: sessionmaker[Session]) -> list[Item]:
    with sessions() as s:
        rows = list(s.scalars(select(Item).options(selectinload(Item.results))
                              .order_by(Item.plc_boot, Item.enter_seq)))
        s.expunge_all()
        return rows


def results_of(item: Item) -> dict[str, StationResult]:
    return {r.station: r for r in item.results}
