"""The simulated line: plant + CONV (Modbus TCP) + S1 + CAM1 (HTTP) + PACK (OPC UA)
+ W1 + P1 + S2 (pseudo-terminals).

Each device can run alone (``devices=``). Without ``CONV`` the PLC runs by
itself (standalone: it starts its belt, consumes its own events, ignores the
controller heartbeat), and so does the packer, so that a device alone still
sees trays go by. The truth judges the stations of the devices selected: a tray
is checked at PACK, WEIGH and LABEL only when PACK, W1 and P1 (+ S2) run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any, Self

from plateline.errors import ConfigError
from plateline.simulators.conveyor import ConveyorPlc, PlcConfig
from plateline.simulators.layout import MAX_SPEED_FACTOR, NEW_STATIONS, SLICE1_DEVICES
from plateline.simulators.modbus_server import ModbusTcpServer
from plateline.simulators.plant import Plant
from plateline.simulators.scenario import Scenario
from plateline.simulators.truth import TruthRecorder

log = logging.getLogger(__name__)

DEVICES: tuple[str, ...] = (*SLICE1_DEVICES, *NEW_STATIONS)
#: The controller's application certificate made for the packer's trust list.
CONTROLLER_APP_URI = "urn:plateline:controller"
CLIENT_CERT, CLIENT_KEY = "controller.der", "controller-key.pem"


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
                 order_files: Sequence[Path] = (), tick_s: float = 0.005,
                 pack_port: int = 0, pack_pki: Path | None = None,
                 pack_trust: Sequence[Path] = (), pack_users: Mapping[str, str] | None = None):
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
        self.stations = frozenset(d for d in self.devices if d in NEW_STATIONS)
        self.truth = TruthRecorder(scenario, truth_path, self.stations)
        self.server: ModbusTcpServer | None = None
        if "CONV" in self.devices:
            self.server = ModbusTcpServer(self.plc, host=host, port=conv_port)
        self.plant = Plant(scenario, self.plc, truth=self.truth, seed=seed, link=self.server,
                           tick_s=tick_s)
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.skipped: dict[str, str] = {}
        self.scanner: Any = None
        self.camera: Any = None
        self.scale: Any = None
        self.printer: Any = None
        self.verifier: Any = None
        self.packer: Any = None
        self._pack_port = pack_port
        self._pack_pki = pack_pki
        self._pack_trust = list(pack_trust)
        self._pack_users = pack_users
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
            if "PACK" in self.devices:
                await self._start_packer(stack)  # before the belt runs: it takes the trays
            await stack.enter_async_context(self.plant)
            if "S1" in self.devices:
                await self._start_scanner(stack)
            if "CAM1" in self.devices:
                await self._start_camera(stack)
            if "W1" in self.devices:
                await self._start_scale(stack)
            if "P1" in self.devices:
                await self._start_printer(stack)
            if "S2" in self.devices:
                await self._start_verifier(stack)
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
                      port=self._camera_port, workers=1, processes=True))
        self.endpoints["CAM1"] = {"protocol": "http", "url": self.camera.url}

    def _link(self, name: str) -> Path | None:
        if self._links is None:
            return None
        self._links.mkdir(parents=True, exist_ok=True)
        return self._links / name

    async def _start_scale(self, stack: AsyncExitStack) -> None:
        from plateline.simulators.scale import ScaleSim

        plant = self.plant
        self.scale = await stack.enter_async_context(
            ScaleSim("W1", lambda: plant.scale_view("W1"), link=self._link("W1"),
                     seed=plant.seed))
        self.endpoints["W1"] = {"protocol": "serial", "port": _endpoint_of(self.scale.port),
                                "baudrate": 115200}

    async def _start_printer(self, stack: AsyncExitStack) -> None:
        from plateline.simulators.printer import PrinterSim

        self.printer = await stack.enter_async_context(
            PrinterSim("P1", link=self._link("P1"), on_print=self.plant.on_print,
                       seed=self.plant.seed))
        self.plant.attach_printer(self.printer)
        self.endpoints["P1"] = {"protocol": "serial", "port": _endpoint_of(self.printer.port),
                                "baudrate": 115200}

    async def _start_verifier(self, stack: AsyncExitStack) -> None:
        from plateline.simulators.scanner import ScannerSim

        plant = self.plant
        self.verifier = await stack.enter_async_context(
            ScannerSim("S2", lambda: plant.label_view("S2"), link=self._link("S2"),
                       seed=plant.seed + 2))
        self.endpoints["S2"] = {"protocol": "serial", "port": _endpoint_of(self.verifier.port),
                                "baudrate": 115200}

    async def _start_packer(self, stack: AsyncExitStack) -> None:
        try:
            from plateline.pki import ensure_certificate
            from plateline.simulators.packer import DEFAULT_USERS, PackerSim
        except ImportError as err:
            self._skip("PACK", f"packer simulator not available ({err})")
            return
        pki = self._pack_pki or (self._links / "packer-pki" if self._links else None)
        if pki is None:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="plateline-pack-"))
            pki = Path(tmp)
        client_dir = pki / "client"
        client_cert, client_key = client_dir / CLIENT_CERT, client_dir / CLIENT_KEY
        trust = self._pack_trust
        if not trust:
            await asyncio.to_thread(
                ensure_certificate, client_cert, client_key, application_uri=CONTROLLER_APP_URI,
                common_name="plateline controller (simulated line)", hostnames=[self.host])
            trust = [client_cert]
        users = dict(DEFAULT_USERS if self._pack_users is None else self._pack_users)
        self.packer = await stack.enter_async_context(
            PackerSim(host=self.host, port=self._pack_port, users=users, trust=trust,
                      pki_dir=pki))
        restarts = sum(1 for f in self.scenario.faults if f.kind == "packer_restart")
        await self.packer.prepare_restarts(restarts)
        self.plant.attach_packer(self.packer)
        doc = self.packer.endpoints_document()["PACK"]
        self.endpoints["PACK"] = {
            "protocol": "opcua", "url": self.packer.url, "namespace": doc["namespace"],
            "security_policy": "Basic256Sha256", "security_mode": "SignAndEncrypt",
            "none_endpoint": True,
            "users": {name: {"password": users[name], "rights": rights}
                      for name, rights in doc["users"].items()},
            "server_certificate": doc["server_certificate"],
            "trust": doc["trust"],
            "client_certificate": None if self._pack_trust else str(client_cert),
            "client_key": None if self._pack_trust else str(client_key),
            "client_application_uri": None if self._pack_trust else CONTROLLER_APP_URI,
        }

    def _skip(self, device: str, why: str) -> None:
        log.warning("%s not started: %s", device, why)
        self.skipped[device] = why

    # ---- for tests and tools ---------------------------------------------------------------
    def endpoints_document(self) -> dict[str, Any]:
        return {"scenario": self.scenario.name, "speed": self.speed, "devices": self.endpoints,
                "stations": sorted(self.stations),
                "orders": self._order_files,
                "truth": str(self._truth_path) if self._truth_path else None,
                "operator_rejects": operator_rejects(self.scenario),
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


def operator_rejects(scenario: Scenario) -> list[dict[str, Any]]:
    """The trays the scenario's operator rejects by hand: serial, carrier, order id and
    where (``at_mm``), with the tray's events the press falls between."""
    from plateline.simulators.layout import GATE_MM, STATION_EVENTS, carrier_of

    marks = [*((mm, e.name) for mm, e in STATION_EVENTS), (GATE_MM, "DIVERTED")]
    out = []
    for f in scenario.faults:
        if f.kind == "operator_reject" and f.at_mm is not None:
            at = f.at_mm
            spec = scenario.tray(f.tray)
            out.append({"serial": f.tray, "tray": carrier_of(f.tray),
                        "order_id": spec.ticket if spec.readable else None, "at_mm": at,
                        "after_event": max((m for m in marks if m[0] <= at),
                                           default=marks[0])[1],
                        "before_event": min((m for m in marks if m[0] > at),
                                            default=marks[-1])[1]})
    return out
