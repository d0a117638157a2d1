"""Fixtures of the plant / CONV tests: a simulated line on an ephemeral port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from plateline.contract import Reason
from plateline.simulators.conveyor import PlcConfig
from plateline.simulators.line import SimulatedLine
from plateline.simulators.scenario import FaultSpec, Scenario, TraySpec
from plateline.simulators.views import PlateOnTray

from .helpers import RawModbus

LineFactory = Callable[..., Awaitable[tuple[SimulatedLine, RawModbus]]]


def simple_scenario(n: int = 3, *, gap_first: int = 0, gaps: int = 0,
                    faults: tuple[FaultSpec, ...] = (), readable: bool = True,
                    expect: Reason = Reason.NONE) -> Scenario:
    """``n`` trays of one blue plate pair each (orders T000001 ...), all expecting ``expect``."""
    trays = tuple(
        TraySpec(f"T{i:06d}", readable, (PlateOnTray(f"粤A{i:05d}", "blue"),) * 2,
                 gap_before=gap_first if i == 1 else gaps, expect=expect)
        for i in range(1, n + 1))
    return Scenario(trays=trays, faults=faults, name="test", seed=3)


@pytest.fixture
async def make_line() -> AsyncIterator[LineFactory]:
    """Start a CONV-only line (x20 unless told) and a raw client on it."""
    opened: list[tuple[SimulatedLine, RawModbus]] = []

    async def factory(scenario: Scenario | None = None, *, speed: float = 20.0,
                      config: PlcConfig | None = None, **kw: Any) -> tuple[SimulatedLine, RawModbus]:
        line = SimulatedLine(scenario or simple_scenario(1, gap_first=10_000), speed=speed,
                             devices=kw.pop("devices", ["CONV"]), plc_config=config, **kw)
        await line.__aenter__()
        client = await RawModbus.connect(line.endpoints["CONV"]["port"])
        opened.append((line, client))
        return line, client

    yield factory
    for line, client in opened:
        await client.close()
        await line.aclose()
