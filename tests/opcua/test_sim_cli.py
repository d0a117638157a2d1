"""``python -m plateline.simulators.packer`` runs alone and says where it answers."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from plateline.drivers.opcua import OpcUaClient
from plateline.drivers.opcua_nodes import NodeMap
from plateline.drivers.opcua_security import SecuritySettings
from plateline.pki import certificate_info


async def test_runs_alone_prints_endpoints_and_stops_on_sigterm(tmp_path: Path,
                                                                node_map: NodeMap) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "plateline.simulators.packer", "--port", "0",
        "--pki-dir", str(tmp_path / "pki"), "--pack-every", "0.05",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        text = ""
        async with asyncio.timeout(20):
            while not text.endswith("}\n") or text.count("{") != text.count("}"):
                line = await proc.stdout.readline()
                assert line, "simulator ended early"
                text += line.decode()
        doc = json.loads(text)["PACK"]
        assert doc["url"].startswith("opc.tcp://127.0.0.1:") and doc["url"].endswith(
            "/plateline/packer")
        assert doc["namespace"] == "urn:plateline:packer"
        assert doc["users"] == {"line": "write", "viewer": "read"}
        assert (tmp_path / "pki" / "trusted").is_dir()
        info = certificate_info(Path(doc["server_certificate"]))
        assert info.application_uri == "urn:plateline:sim:packer"
        dev = SecuritySettings(mode="None", allow_none=True)
        async with OpcUaClient("PACK", doc["url"], node_map, security=dev,
                               watch_results=False) as c:
            assert (await c.read("STATE"))["STATE"] == 2
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            await proc.wait()
    assert proc.returncode == 0
