"""Build and run one line's controller from its configuration."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from plateline.config import (
    CodeReaderDevice,
    FilesCameraDevice,
    HttpCameraDevice,
    LineConfig,
    ModbusDevice,
    OpenCVCameraDevice,
)
from plateline.contract import CmdResult, PackMLCommand, PackMLState
from plateline.controller.line import LineController
from plateline.controller.settings import ControllerSettings
from plateline.drivers.camera import Camera
from plateline.drivers.codereader import SerialCodeReader
from plateline.drivers.modbus import ModbusTagClient
from plateline.drivers.supervised import SupervisedCodeReader
from plateline.drivers.supervisor import LinkSupervisor, entered
from plateline.drivers.tagmap import load_tag_map
from plateline.recipes import load_recipes
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
    )


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
            cfg.vision.model, workers=cfg.vision.workers))
        controller = await stack.enter_async_context(LineController(
            controller_settings(cfg), sessions=make_sessionmaker(engine), conveyor=plc,
            tag_map=tag_map, recipes=recipes, code_reader=SupervisedCodeReader(reader_link),
            camera=camera, verifier=verifier))
        yield controller


@dataclass
class StartResult:
    ok: bool
    detail: str


async def reset_and_start(controller: LineController, *, user: str,
                          timeout: float = 20.0) -> StartResult:
    """Bring the line from Stopped/Complete/Idle to Execute, as an operator would."""
    async with asyncio.timeout(timeout):
        if controller.state in (PackMLState.STOPPED, PackMLState.COMPLETE):
            res = await controller.command(PackMLCommand.RESET, user)
            if res is not CmdResult.TAKEN:
                return StartResult(False, f"Reset refused ({res.name})")
            await controller.wait_for_state(PackMLState.IDLE)
        if controller.state is PackMLState.IDLE:
            res = await controller.command(PackMLCommand.START, user)
            if res is not CmdResult.TAKEN:
                return StartResult(False, f"Start refused ({res.name})")
            await controller.wait_for_state(PackMLState.EXECUTE)
    return StartResult(True, "running")


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
