"""Helpers of the OPC UA tests: certificates, simulator settings, client shortcuts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plateline.contract import PackMLCommand, PackMLState
from plateline.drivers.opcua import OpcUaClient
from plateline.drivers.opcua_nodes import NodeMap
from plateline.drivers.opcua_security import SecuritySettings
from plateline.drivers.packer_results import PackEvent, PackResultTracker
from plateline.simulators.packer import PackerSim
from plateline.simulators.packer_machine import PackerConfig

LINE_PW = "line-test-pw"
VIEWER_PW = "viewer-test-pw"
USERS = {"line": LINE_PW, "viewer": VIEWER_PW}


@dataclass(frozen=True)
class Pki:
    folder: Path
    controller: tuple[Path, Path]
    rogue: tuple[Path, Path]
    server_dir: Path


def make_sim(pki: Pki, **kw: Any) -> PackerSim:
    kw.setdefault("config", PackerConfig(acting_s=0.05))
    kw.setdefault("users", USERS)
    return PackerSim(port=0, trust=[pki.controller[0]], pki_dir=pki.server_dir, **kw)


def secure(pki: Pki, sim: PackerSim, *, user: str | None = "line",
           password: str | None = LINE_PW, cert: tuple[Path, Path] | None = None,
           pin: bool = True) -> SecuritySettings:
    certificate, key = cert or pki.controller
    return SecuritySettings(certificate=certificate, private_key=key,
                            server_certificate=sim.server_certificate if pin else None,
                            user=user, password=password if user else None)


def client(sim: PackerSim, node_map: NodeMap, security: SecuritySettings,
           **kw: Any) -> OpcUaClient:
    kw.setdefault("watch_results", False)
    return OpcUaClient("PACK", sim.url, node_map, security=security, **kw)


async def wait_state(c: OpcUaClient, state: PackMLState, timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while (await c.read("STATE"))["STATE"] != state:
            await asyncio.sleep(0.01)


async def to_execute(c: OpcUaClient, sim: PackerSim) -> None:
    """Stopped -> Resetting -> Idle -> Starting -> Execute through the handshake."""
    sim.machine.force_state(PackMLState.STOPPED)
    sim.machine.clear_alarm()
    await sim.flush()
    await c.command(PackMLCommand.RESET)
    await wait_state(c, PackMLState.IDLE)
    await c.command(PackMLCommand.START)
    await wait_state(c, PackMLState.EXECUTE)


async def take(tracker: PackResultTracker, n: int, timeout: float = 5.0) -> list[PackEvent]:
    out: list[PackEvent] = []
    async with asyncio.timeout(timeout):
        while len(out) < n:
            out.append(await tracker.get())
    return out
