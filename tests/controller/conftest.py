"""Fixtures of the controller tests: a database, the CONV map, recipes, orders."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from plateline.drivers.tagmap import TagMap, load_tag_map
from plateline.recipes import Recipe, load_recipes
from plateline.records.db import make_engine, make_sessionmaker

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


@pytest.fixture(autouse=True)
async def loop_never_blocks() -> AsyncIterator[None]:
    """Fail a test during which the event loop was blocked (a busy loop, a blocking call);
    the failure shows where the loop was stuck."""
    beat = time.monotonic()
    stuck: list[str] = []
    lag = 0.0
    done = threading.Event()
    loop_thread = threading.get_ident()

    def watchdog() -> None:
        while not done.wait(0.02):
            if time.monotonic() - beat > MAX_LOOP_LAG_S / 2 and not stuck:
                frame = sys._current_frames().get(loop_thread)
                if frame is not None:
                    stuck.append("".join(traceback.format_stack(frame)[-25:]))

    async def watch() -> None:
        nonlocal lag, beat
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            beat = time.monotonic()
            await asyncio.sleep(0.01)
            lag = max(lag, loop.time() - before - 0.01)

    thread = threading.Thread(target=watchdog, daemon=True)
    thread.start()
    task = asyncio.create_task(watch())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    done.set()
    thread.join()
    where = stuck[0] if stuck else "(not caught)"
    assert lag < MAX_LOOP_LAG_S, f"the event loop was blocked for {lag:.3f} s at:\n{where}"
