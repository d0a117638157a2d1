"""All six devices on real endpoints: W1, P1 and S2 on pseudo-terminals, PACK over OPC UA."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import serial

from plateline.contract import PackMLState
from plateline.drivers.opcua import OpcUaClient
from plateline.drivers.opcua_nodes import load_node_map
from plateline.drivers.opcua_security import SecuritySettings
from plateline.drivers.zpl import WaybillLabel, build_label_zpl
from plateline.simulators.conveyor import PlcConfig
from plateline.simulators.line import DEVICES, SimulatedLine
from plateline.simulators.scenario import FaultSpec, Scenario

from .helpers import wait_until
from .test_stations import pair

S = PackMLState


def _ask(port: str, command: bytes, end: bytes) -> bytes:
    with serial.Serial(port, 115200, timeout=1.0) as link:
        link.write(command)
        return link.read_until(end)


async def ask(port: str, command: bytes, end: bytes = b"\r\n") -> bytes:
    return await asyncio.to_thread(_ask, port, command, end)


async def hold_at(line: SimulatedLine, serial_no: int, mm: float) -> float:
    line.plc.force_state(S.EXECUTE)
    await wait_until(lambda: (line.plant.position(serial_no) or 0) >= mm, timeout=10,
                     step=0.001)
    line.plc.force_state(S.HELD)
    return line.plant.position(serial_no) or 0.0


async def test_every_device_answers_from_the_plant(tmp_path: Path, caplog):
    caplog.set_level(logging.ERROR, logger="asyncua")
    scenario = Scenario(trays=(pair(386.5),), faults=(FaultSpec("misprint", 1),), seed=1)
    endpoints = tmp_path / "endpoints.json"
    async with SimulatedLine(scenario, speed=10, links=tmp_path / "links",
                             endpoints_path=endpoints,
                             plc_config=PlcConfig(heartbeat_timeout_s=None)) as line:
        doc = json.loads(endpoints.read_text(encoding="utf-8"))
        assert set(doc["devices"]) == set(DEVICES) and doc["stations"] == ["P1", "PACK", "S2",
                                                                          "W1"]
        for name in ("W1", "P1", "S2"):
            assert Path(doc["devices"][name]["port"]) == tmp_path / "links" / name
            assert str(Path(doc["devices"][name]["port"]).resolve()).startswith("/dev/")
        pack = doc["devices"]["PACK"]
        assert Path(pack["client_certificate"]).exists()
        assert Path(pack["server_certificate"]).exists()
        line.packer.machine.force_state(S.EXECUTE)

        # W1: dynamic on the first 100 mm, stable 0.3 s after the belt stopped.
        at = await hold_at(line, 1, 2402)
        assert at < 2500
        w1 = doc["devices"]["W1"]["port"]
        assert (await ask(w1, b"SI\r\n")).startswith(b"S D")
        await asyncio.sleep(0.35)
        assert await ask(w1, b"SI\r\n") == b"S S     386.50 g\r\n"

        # PACK: the tray's seal result, read over the secure endpoint with the made certificate.
        security = SecuritySettings(certificate=Path(pack["client_certificate"]),
                                    private_key=Path(pack["client_key"]),
                                    server_certificate=Path(pack["server_certificate"]),
                                    user="line", password=pack["users"]["line"]["password"])
        async with OpcUaClient("PACK", pack["url"], load_node_map("builtin:packer_opcua"),
                               security=security, watch_results=False) as client:
            last = (await client.read("LAST_PACK"))["LAST_PACK"]
        assert last[:3] == [1, 1, 1]

        # P1 + S2: the label lands on the tray at the labeler; a misprint reads ERROR.
        await hold_at(line, 1, 3010)
        zpl = build_label_zpl(WaybillLabel("ORD-2026-000001", "SF1234567890", "王伟",
                                           "13800138000", "北京市朝阳区"))
        await asyncio.to_thread(_ask, doc["devices"]["P1"]["port"], zpl.encode("ascii"), b"")
        await wait_until(lambda: 1 in line.plant._labels, timeout=3)
        assert line.plant.label_on(1) is not None and line.plant.label_on(1).barcode is None
        assert await ask(doc["devices"]["S2"]["port"], b"LON\r", b"\r") == b"ERROR\r"
        line.plant.on_print(line.printer.last_printed.__class__("SF1234567890", ()))
        assert await ask(doc["devices"]["S2"]["port"], b"LON\r", b"\r") == b"SF1234567890\r"
        line.plc.force_state(S.EXECUTE)
        await line.wait_all_trays_done(10)
        row = line.truth_rows()[0]
        assert (row["seal"], row["weight_g"], row["printer_fault"]) == ("ok", 386.5, False)
        assert row["scenario_reason"] == "LABEL_VERIFY_FAIL"
