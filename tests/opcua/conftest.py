"""Fixtures of the OPC UA tests: certificates and the packer simulator on a free port.

asyncua servers take more than a second to start, so a module shares one
simulator (``packer`` fixture, module event loop) where tests cannot disturb each
other; tests that restart it make their own.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from plateline.drivers.opcua_nodes import NodeMap, load_node_map
from plateline.pki import ensure_certificate
from plateline.simulators.packer import PackerSim
from tests.loop_blocking import watch_for_blocking

from .helpers import Pki, make_sim

MAX_LOOP_LAG_S = 0.25


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    controller = (folder / "controller.der", folder / "controller-key.pem")
    rogue = (folder / "rogue.pem", folder / "rogue-key.pem")
    ensure_certificate(*controller, application_uri="urn:plateline:test:controller",
                       common_name="plateline test controller")
    ensure_certificate(*rogue, application_uri="urn:somebody:else", common_name="rogue")
    return Pki(folder, controller, rogue, folder / "server")


@pytest.fixture(scope="session")
def node_map() -> NodeMap:
    return load_node_map("builtin:packer_opcua")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def packer(pki: Pki) -> AsyncIterator[PackerSim]:
    async with make_sim(pki) as sim:
        yield sim


@pytest.fixture(autouse=True)
def _quiet_asyncua(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.ERROR, logger="asyncua")
    yield


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def _no_blocking_of_the_loop() -> AsyncIterator[None]:
    """Fail a test during which one loop callback ran longer than MAX_LOOP_LAG_S (asyncio debug)."""
    with watch_for_blocking(MAX_LOOP_LAG_S) as watch:
        yield
    assert not watch.blocked, f"event loop blocked: {watch.blocked}"
