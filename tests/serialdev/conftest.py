"""Fixtures for the W1 / P1 tests: a scripted device on a pty, a loop-blocking check."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import pytest

from .helpers import RawClient, ScriptedDevice


@pytest.fixture
async def device() -> AsyncIterator[ScriptedDevice]:
    dev = ScriptedDevice()
    yield dev
    dev.close()


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


@pytest.fixture
async def raw_client() -> AsyncIterator[Callable[[str], RawClient]]:
    clients: list[RawClient] = []

    def factory(path: str) -> RawClient:
        client = RawClient(path)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()
