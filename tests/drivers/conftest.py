"""Fixtures for the driver tests: loopback servers and the built-in CONV map."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from plateline.drivers.tagmap import TagMap, load_tag_map

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


@pytest.fixture(autouse=True)
async def _no_blocking_of_the_loop(caplog: pytest.LogCaptureFixture) -> AsyncIterator[None]:
    """Fail a test during which one loop callback ran longer than 0.25 s (asyncio debug)."""
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = 0.25
    caplog.set_level(logging.WARNING, logger="asyncio")
    yield
    slow = [r.getMessage() for r in caplog.get_records("call")
            if r.name == "asyncio" and r.getMessage().startswith("Executing")]
    assert not slow, f"event loop blocked: {slow}"
