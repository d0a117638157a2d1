"""Build and run one line's controller from its configuration."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plateline.config import (
    CodeReaderDevice,
    FilesCameraDevice,
    HttpCameraDevice,
    LineConfig,
    ModbusDevice,
    OpcUaDevice,
    OpenCVCameraDevice,
    PrinterDevice,
    ScaleDevice,
)
from plateline.contract import PackMLCommand, PackMLState
from plateline.controller.journal import Journal
from plateline.controller.line import LineController, StationFactory
from plateline.controller.operations import reset_and_start
from plateline.controller.recipe_changeover import ChangeoverRefused, RecipeChangeover
from plateline.controller.settings import ControllerSettings
from plateline.controller.stations import LabelStation, PackStation, WeighStation
from plateline.controller.tracking import Station
from plateline.drivers.camera import Camera
from plateline.drivers.codereader import SerialCodeReader
from plateline.drivers.modbus import ModbusTagClient
from plateline.drivers.supervised import SupervisedCodeReader
from plateline.drivers.supervisor import LinkSupervisor, entered
from plateline.drivers.tagmap import load_tag_map
from plateline.drivers.zpl import PrinterStatus, WaybillLabel
from plateline.errors import PlatelineError
from plateline.loop_watch import LoopWatch
from plateline.recipes import Recipe, load_recipes
from plateline.records.db import make_engine, make_sessionmaker

log = logging.getLogger(__name__)


def controller_settings(cfg: LineConfig) -> ControllerSettings:
    """The controller's settings from the site configuration."""
    t = cfg.timing
    s1 = cfg.devices["S1"]
    assert isinstance(s1, CodeReaderDevice)
    return ControllerSettings(
        line_id=cfg.line_id,
        heartbeat_period_s=t.heartbeat_period_s,
        plc_heartbeat_timeout_s=t.plc_heartbeat_timeout_s,
        status_poll_s=t.status_poll_s,
        event_poll_s=t.event_poll_s,
        command_timeout_s=t.command_timeout_s,
        field_of_view_mm=t.field_of_view_mm,
        verdict_stall_alarm_s=t.verdict_stall_alarm_s,
        scan_timeout_s=s1.timeout_s,
        frames_dir=cfg.database.frames_dir,
        required_stations=cfg.stations,
    )


# -- devices kept open by a supervisor (as S1 and CONV) ---------------------------------

class SupervisedScale:
    """``W1`` through its supervisor: DeviceConnectionError at once while it is down."""

    def __init__(self, link: LinkSupervisor[Any]) -> None:
        self.link, self.name = link, link.name

    async def weigh_immediate(self, timeout: float | None = None) -> Any:
        return await self.link.use(lambda scale: scale.weigh_immediate(timeout))


class SupervisedPrinter:
    """``P1`` through its supervisor."""

    def __init__(self, link: LinkSupervisor[Any]) -> None:
        self.link, self.name = link, link.name

    async def status(self, timeout: float | None = None) -> PrinterStatus:
        result: PrinterStatus = await self.link.use(lambda p: p.status(timeout))
        return result

    async def print_label(self, label: WaybillLabel, *, check_status: bool = True,
                          timeout: float | None = None) -> None:
        await self.link.use(lambda p: p.print_label(label, check_status=check_status,
                                                    timeout=timeout))


class SupervisedPacker:
    """``PACK`` tags through its supervisor (the seal results go to one shared tracker)."""

    def __init__(self, link: LinkSupervisor[Any]) -> None:
        self.link, self.name = link, link.name

    async def read(self, *tags: str, timeout: float | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await self.link.use(lambda c: c.read(*tags, timeout=timeout))
        return result

    async def write(self, tag: str, value: Any, *, timeout: float | None = None) -> None:
        await self.link.use(lambda c: c.write(tag, value, timeout=timeout))

    async def command(self, cmd: PackMLCommand, *, timeout: float | None = None) -> PackMLState:
        state: PackMLState = await self.link.use(lambda c: c.command(cmd, timeout=timeout))
        return state


def _opcua_security(cfg: LineConfig, dev: OpcUaDevice) -> Any:
    from plateline.drivers.opcua_security import SecuritySettings

    return SecuritySettings(
        mode=dev.security, certificate=dev.certificate, private_key=dev.private_key,
        server_certificate=dev.server_certificate, user=dev.user,
        password=dev.resolved_password(),
        # the config refuses None in production unless allow_insecure is set
        allow_none=dev.allow_insecure or not cfg.production)


@dataclass
class OptionalDevices:
    """The optional stations' devices of one line, opened (None when not configured)."""

    packer: SupervisedPacker | None = None
    pack_results: Any = None
    scale: SupervisedScale | None = None
    printer: SupervisedPrinter | None = None
    verifier: SupervisedCodeReader | None = None


async def _open_optional(cfg: LineConfig, stack: AsyncExitStack) -> OptionalDevices:
    out = OptionalDevices()
    pack = cfg.devices.get("PACK")
    if isinstance(pack, OpcUaDevice):
        from plateline.drivers.opcua import OpcUaClient
        from plateline.drivers.opcua_nodes import load_node_map
        from plateline.drivers.packer_results import PackResultTracker

        node_map = load_node_map(pack.node_map)
        security = _opcua_security(cfg, pack)
        tracker = PackResultTracker()
        link = await stack.enter_async_context(LinkSupervisor(
            "PACK", entered(lambda: OpcUaClient("PACK", pack.url, node_map, security=security,
                                                timeout=pack.timeout_s, results=tracker))))
        out.packer, out.pack_results = SupervisedPacker(link), tracker
    w1 = cfg.devices.get("W1")
    if isinstance(w1, ScaleDevice):
        from plateline.drivers.scale_mtsics import MtSicsScale

        out.scale = SupervisedScale(await stack.enter_async_context(LinkSupervisor(
            "W1", entered(lambda: MtSicsScale("W1", w1.port, baudrate=w1.baudrate,
                                              timeout=w1.timeout_s)))))
    p1, s2 = cfg.devices.get("P1"), cfg.devices.get("S2")
    if isinstance(p1, PrinterDevice) and isinstance(s2, CodeReaderDevice):
        from plateline.drivers.printer_zpl import ZplPrinter

        out.printer = SupervisedPrinter(await stack.enter_async_context(LinkSupervisor(
            "P1", entered(lambda: ZplPrinter("P1", p1.port, baudrate=p1.baudrate,
                                             timeout=p1.timeout_s, cjk_font=p1.cjk_font)))))
        out.verifier = SupervisedCodeReader(await stack.enter_async_context(LinkSupervisor(
            "S2", entered(lambda: SerialCodeReader("S2", s2.port, baudrate=s2.baudrate,
                                                   timeout=s2.timeout_s)))))
    return out


def station_factories(settings: ControllerSettings, devices: OptionalDevices,
                      recipes: dict[str, Recipe]) -> list[StationFactory]:
    """Factories of the optional stations present, in flow order."""
    factories: list[StationFactory] = []
    required = settings.required_stations
    if devices.packer is not None:
        packer, results = devices.packer, devices.pack_results
        factories.append(lambda journal: PackStation(packer, results))
    if devices.scale is not None:
        scale = devices.scale
        factories.append(lambda journal: WeighStation(
            scale, recipes))
    if devices.printer is not None and devices.verifier is not None:
        printer, reader = devices.printer, devices.verifier
        before = required[:required.index("LABEL")] if "LABEL" in required else required

        def label(journal: Journal) -> Station:
            return LabelStation(printer, reader, journal, recipes, before=before,
                                scan_timeout_s=settings.scan_timeout_s,
                                scan_grace_s=settings.scan_grace_s)

        factories.append(label)
    return factories


def wire_line(controller: LineController, devices: OptionalDevices,
              recipes: dict[str, Recipe]) -> None:
    """Start checks, the packer's hold, and the recipe changeover of ``controller``."""
    for station in controller.stations:
        if isinstance(station, PackStation):
            station.attach(controller.line_state.hold, controller.alarms)
            controller.line_state.start_checks.append(station.start_problem)
        elif isinstance(station, LabelStation):
            controller.line_state.start_checks.append(station.start_problem)
    if devices.packer is not None:
        controller.packer = devices.packer
        changeover = RecipeChangeover(devices.packer, controller.link,
                                      lambda: controller.state, controller.alarms,
                                      controller.journal, recipes)
        controller.recipe_changeover = changeover
        controller.line_state.start_checks.append(changeover.start_problem)


def _camera(cfg: LineConfig) -> Camera:
    dev = cfg.devices["CAM1"]
    if isinstance(dev, HttpCameraDevice):
        from plateline.drivers.camera_http import HttpCamera

        return HttpCamera("CAM1", dev.url, timeout=dev.timeout_s)
    if isinstance(dev, OpenCVCameraDevice):
        from plateline.drivers.camera_opencv import OpenCVCamera

        return OpenCVCamera("CAM1", dev.source, timeout=dev.timeout_s)
    assert isinstance(dev, FilesCameraDevice)
    from plateline.drivers.camera_files import FilesCamera

    return FilesCamera("CAM1", dev.folder, loop=dev.loop, timeout=dev.timeout_s)


@asynccontextmanager
async def open_controller(cfg: LineConfig) -> AsyncIterator[LineController]:
    """Open every device of ``cfg`` and the controller; close them all on exit."""
    from plateline.vision.service import PlateVerifier

    conv = cfg.devices["CONV"]
    s1 = cfg.devices["S1"]
    assert isinstance(conv, ModbusDevice) and isinstance(s1, CodeReaderDevice)
    tag_map = load_tag_map(conv.tag_map)
    recipes = load_recipes(cfg.recipes_folder)
    engine = make_engine(cfg.database.url)
    async with AsyncExitStack() as stack:
        stack.callback(engine.dispose)
        plc = await stack.enter_async_context(LinkSupervisor(
            "CONV", entered(lambda: ModbusTagClient(
                "CONV", conv.host, conv.port, tag_map, timeout=conv.timeout_s))))
        reader_link = await stack.enter_async_context(LinkSupervisor(
            "S1", entered(lambda: SerialCodeReader(
                "S1", s1.port, baudrate=s1.baudrate, timeout=s1.timeout_s))))
        camera = await stack.enter_async_context(_camera(cfg))
        verifier = await stack.enter_async_context(PlateVerifier(
            cfg.vision.model, workers=cfg.vision.workers, nice=cfg.vision.nice))
        optional = await _open_optional(cfg, stack)
        # From here on the loop must keep time (start-up imports stall it once).
        await stack.enter_async_context(LoopWatch(cfg.timing.loop_lag_warn_s))
        settings = controller_settings(cfg)
        line = LineController(
            settings, sessions=make_sessionmaker(engine), conveyor=plc,
            tag_map=tag_map, recipes=recipes, code_reader=SupervisedCodeReader(reader_link),
            camera=camera, verifier=verifier,
            stations=station_factories(settings, optional, recipes))
        wire_line(line, optional, recipes)
        controller = await stack.enter_async_context(line)
        if cfg.control.enabled:
            from plateline.control.server import ControlServer

            await stack.enter_async_context(ControlServer(
                controller, cfg.control.socket, mode=cfg.control.socket_mode))
        if cfg.database.frames_dir is not None and cfg.database.frame_retention_days > 0:
            pruner = asyncio.create_task(
                keep_frames_pruned(cfg.database.frames_dir, cfg.database.frame_retention_days),
                name="frame retention")
            stack.push_async_callback(_cancel, pruner)
        yield controller


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def keep_frames_pruned(frames_dir: Path, days: int, *, every_s: float = 3600.0) -> None:
    """Delete the frames older than the retention setting, now and then every hour."""
    from plateline.vision.retention import prune_frames

    while True:
        try:
            removed = await asyncio.to_thread(prune_frames, frames_dir, days)
        except PlatelineError as err:
            log.warning("frame retention: %s", err)
        else:
            if removed:
                log.info("frame retention: %d frames older than %d days deleted", removed, days)
        await asyncio.sleep(every_s)


async def initial_changeover(cfg: LineConfig, controller: LineController,
                             timeout: float = 30.0) -> None:
    """Put ``cfg.recipe`` in force once the line is in a state that allows it and its
    machines answer (tried again while they come up, until ``timeout``)."""
    changeover = controller.recipe_changeover
    if cfg.recipe is None or changeover is None:
        return
    last: Exception | None = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                await controller.wait_for_state(PackMLState.STOPPED, PackMLState.IDLE,
                                                PackMLState.HELD)
                try:
                    await changeover.change(cfg.recipe, "controller")
                    return
                except ChangeoverRefused as err:
                    last = err
                    log.info("recipe %s not yet in force: %s", cfg.recipe, err)
                await asyncio.sleep(0.5)
    except TimeoutError:
        log.error("recipe %s not put in force: %s", cfg.recipe, last or "line not stopped")


async def run_controller(cfg: LineConfig, *, auto_start: bool, hmi_port: int | None,
                         demo_operator: bool = False) -> int:
    """Run the controller until SIGINT/SIGTERM; returns the exit code.

    ``demo_operator`` adds the demo's scripted operator (see ``plateline.demo``),
    for demonstrations and end-to-end tests against the simulated plant only.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with open_controller(cfg) as controller:
        log.info("line %s: controller running, state %s", cfg.line_id, controller.state.name)
        await initial_changeover(cfg, controller)
        if auto_start:
            try:
                await controller.wait_for_state(PackMLState.STOPPED, PackMLState.IDLE,
                                                PackMLState.COMPLETE, timeout=30)
                result = await reset_and_start(controller, user="cli")
                log.info("auto start: %s", result.detail)
            except TimeoutError:
                log.error("auto start: the line did not come to a startable state")
        operator = None
        if demo_operator:
            from plateline.demo import OperatorLog, operate

            operator = asyncio.create_task(operate(controller, OperatorLog()))
        await stop.wait()
        if operator is not None:
            operator.cancel()
            await asyncio.gather(operator, return_exceptions=True)
        log.info("stopping (the line is held, the records are closed)")
    return 0
