"""Fixtures of the controller tests: a database, the CONV map, recipes, orders."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from plateline.drivers.tagmap import TagMap, load_tag_map
from plateline.loop_watch import LoopWatch
from plateline.recipes import Recipe, load_recipes
from plateline.records.db import make_engine, make_sessionmaker

from .harness import Devices, devices

#: Longer than any callback of ours may take, short of a blocked loop. The tests read
#: the database from the loop's thread (SQLite waits for the journal's commit), which on
#: 2 busy cores has taken 0.5 s: those reads are the tests', not the controller's.
MAX_LOOP_LAG_S = 0.75


@pytest.fixture(scope="session")
def conv_map() -> TagMap:
    return load_tag_map("builtin:conv_modbus")


@pytest.fixture(scope="session")
def recipes() -> dict[str, Recipe]:
    return load_recipes()


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'line.db'}")
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
async def dev() -> AsyncIterator[Devices]:
    """The simulated conveyor PLC and S1 reader (``harness.devices``)."""
    async with devices() as d:
        yield d


@pytest.fixture(autouse=True)
async def loop_never_blocks() -> AsyncIterator[None]:
    """Fail a test during which the event loop was blocked (a busy loop, a blocking call);
    the failure shows where the loop was stuck."""
    async with LoopWatch(MAX_LOOP_LAG_S) as watch:
        yield
    lag = watch.lag
    where = lag.last_stack or "(not caught)"
    assert lag.stalls == 0, f"the event loop was blocked for {lag.max_lag_s:.3f} s at:\n{where}"
