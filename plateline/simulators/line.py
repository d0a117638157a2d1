"""The simulated line: plant + CONV Modbus server + scanner S1 + camera CAM1.

Each device can run alone (``devices=``). Without ``CONV`` the PLC runs by
itself (standalone: it starts its belt, consumes its own events, ignores the
controller heartbeat), so that a reader alone still sees trays go by.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any, Self

from plateline.errors import ConfigError
from plateline.simulators.conveyor import ConveyorPlc, PlcConfig
from plateline.simulators.layout import MAX_SPEED_FACTOR
from plateline.simulators.modbus_server import ModbusTcpServer
from plateline.simulators.plant import Plant
from plateline.simulators.scenario import Scenario
from plateline.simulators.truth import TruthRecorder

log = logging.getLogger(__name__)

DEVICES: tuple[str, ...] = ("CONV", "S1", "CAM1")


def _endpoint_of(port: object) -> str:
    """A scanner's ``.port``: a path, or a pty object with ``endpoint``."""
    if isinstance(port, (str, Path)):
        return str(port)
    from plateline.simulators.pty import PtyPort

    if isinstance(port, PtyPort):
        return port.endpoint
    raise TypeError(f"unexpected scanner port {port!r}")


class SimulatedLine:
    """The whole simulated line as one async context manager.

    ``speed`` is the belt's speed factor (0 < speed <= 20). ``endpoints`` lists
    where each started device answers; ``skipped`` the devices that could not
    be started and why.
    """

    def __init__(self, scenario: Scenario, *, speed: float = 1.0, seed: int | None = None,
                 devices: Iterable[str] = DEVICES, host: str = "127.0.0.1", conv_port: int = 0,
                 camera_port: int = 0, links: Path | None = None, truth_path: Path | None = None,
                 endpoints_path: Path | None = None, plc_config: PlcConfig | None = None,
                 order_files: Sequence[Path] = (), tick_s: float = 0.005):
        self.devices = tuple(dict.fromkeys(d.strip().upper() for d in devices if d.strip()))
        if unknown := [d for d in self.devices if d not in DEVICES]:
            raise ConfigError(f"unknown simulated devices {unknown}; known: {list(DEVICES)}")
        if not 0 < speed <= MAX_SPEED_FACTOR:
            raise ConfigError(f"speed factor must be within (0, {MAX_SPEED_FACTOR:g}]")
        self.scenario = scenario
        self.speed = speed
        self.host = host
        config = plc_config or PlcConfig()
        self.plc = ConveyorPlc(replace(config, speed_factor=speed,
                                       standalone=config.standalone or "CONV" not in self.devices))
        self.truth = TruthRecorder(scenario, truth_path)
        self.server: ModbusTcpServer | None = None
        if "CONV" in self.devices:
            self.server = ModbusTcpServer(self.plc, host=host, port=conv_port)
        self.plant = Plant(scenario, self.plc, truth=self.truth, seed=seed, link=self.server,
                           tick_s=tick_s)
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.skipped: dict[str, str] = {}
        self.scanner: Any = None
        self.camera: Any = None
        self._camera_port = camera_port
        self._links = links
        self._endpoints_path = endpoints_path
        self._truth_path = truth_path
        self._order_files = [str(p) for p in order_files]
        self._stack: AsyncExitStack | None = None

    async def __aenter__(self) -> Self:
        async with AsyncExitStack() as stack:
            if not self.plc.powered:
                self.plc.power_on()  # before the server answers anything
            self.truth.open()
            stack.callback(self.truth.close)
            if self.server is not None:
                await stack.enter_async_context(self.server)
                self.endpoints["CONV"] = {"protocol": "modbus_tcp", "host": self.host,
                                          "port": self.server.port, "unit_id": 1}
            await stack.enter_async_context(self.plant)
            if "S1" in self.devices:
                await self._start_scanner(stack)
            if "CAM1" in self.devices:
                await self._start_camera(stack)
            if self._endpoints_path is not None:
                self.write_endpoints(self._endpoints_path)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop every device; safe to call twice."""
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    async def _start_scanner(self, stack: AsyncExitStack) -> None:
        try:
            from plateline.simulators.scanner import ScannerSim
        except ImportError as err:
            self._skip("S1", f"scanner simulator not available ({err})")
            return
        link = self._links / "S1" if self._links else None
        if link is not None:
            link.parent.mkdir(parents=True, exist_ok=True)
        plant = self.plant
        self.scanner = await stack.enter_async_context(
            ScannerSim("S1", lambda: plant.scan_view("S1"), link=link))
        self.endpoints["S1"] = {"protocol": "serial", "port": _endpoint_of(self.scanner.port),
                                "baudrate": 115200}

    async def _start_camera(self, stack: AsyncExitStack) -> None:
        try:
            from plateline.simulators.camera import CameraSim
        except ImportError as err:
            self._skip("CAM1", f"camera simulator not available ({err})")
            return
        plant = self.plant
        self.camera = await stack.enter_async_context(
            CameraSim("CAM1", lambda: plant.camera_view("CAM1"), host=self.host,
                      port=self._camera_port))
        self.endpoints["CAM1"] = {"protocol": "http", "url": self.camera.url}

    def _skip(self, device: str, why: str) -> None:
        log.warning("%s not started: %s", device, why)
        self.skipped[device] = why

    # ---- for tests and tools ---------------------------------------------------------------
    def endpoints_document(self) -> dict[str, Any]:
        return {"scenario": self.scenario.name, "speed": self.speed, "devices": self.endpoints,
                "orders": self._order_files,
                "truth": str(self._truth_path) if self._truth_path else None,
                "skipped": self.skipped}

    def write_endpoints(self, path: Path) -> None:
        """Write the endpoints (and order files, truth file) as JSON for config generation."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.endpoints_document(), indent=2, ensure_ascii=False) + "\n",
                        encoding="utf-8")

    def truth_rows(self) -> list[dict[str, Any]]:
        """Truth of the trays whose trip has ended, in entry order."""
        return self.truth.rows()

    async def wait_all_trays_done(self, timeout: float | None) -> None:
        """Wait until every tray has left the belt; TimeoutError after ``timeout`` s."""
        await self.plant.wait_all_trays_done(timeout)
