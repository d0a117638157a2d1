"""Fixtures for the W1 / P1 tests: a scripted device on a pty, a loop-blocking check."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from tests.serial_helpers import (
    PtyClient,
    no_blocking_of_the_loop,  # noqa: F401  (autouse fixture)
    pty_clients,
)

from .helpers import ScriptedDevice


@pytest.fixture
async def device() -> AsyncIterator[ScriptedDevice]:
    dev = ScriptedDevice()
    yield dev
    dev.close()


@pytest.fixture
async def raw_client() -> AsyncIterator[Callable[[str], PtyClient]]:
    with pty_clients() as factory:
        yield factory
