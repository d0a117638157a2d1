"""Fixtures for the device simulator tests: a non-blocking client on a pty."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.serial_helpers import PtyClient, pty_clients


@pytest.fixture
async def open_client() -> AsyncIterator[Callable[[str | Path], PtyClient]]:
    with pty_clients() as factory:
        yield factory
