"""Fixtures for the driver tests: loopback servers and the built-in CONV map."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from plateline.drivers.tagmap import TagMap, load_tag_map
from tests.serial_helpers import no_blocking_of_the_loop  # noqa: F401  (autouse fixture)

from .modbus_server import ModbusTestServer


@pytest.fixture(scope="session")
def conv_map() -> TagMap:
    return load_tag_map("builtin:conv_modbus")


@pytest.fixture
async def plc() -> AsyncIterator[ModbusTestServer]:
    server = ModbusTestServer()
    # what the PLC owns, per the contract: writes there are refused with exception 2
    server.read_only = set(range(16)) | {100} | {201}
    async with server:
        yield server

