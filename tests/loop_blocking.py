"""Catch loop callbacks that run too long, without failing on a stalled machine.

asyncio's debug mode logs every callback that ran longer than
``slow_callback_duration``. On a busy 2-core CI machine the whole process is
sometimes not scheduled for a second; the callback then "took" that second
without blocking anything. A witness thread sleeps in short steps and records
each step that overshot: a slow callback whose time is mostly covered by such
overshoots was the machine's stall, not the code's. A callback that really
blocks (a blocking call releases the GIL, pure-Python work yields it every few
ms) leaves the witness on time and is still reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator

STEP_S = 0.01
OVERSHOOT_S = 0.05
_TOOK = re.compile(r"took (\d+(?:\.\d+)?) seconds")


class StallWitness:
    """A daemon thread recording the wall-clock spans in which it was not scheduled."""

    def __init__(self) -> None:
        self.stalls: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stall-witness", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            start = time.time()
            time.sleep(STEP_S)
            end = time.time()
            if end - start > STEP_S + OVERSHOOT_S:
                self.stalls.append((start + STEP_S, end))

    def stalled_within(self, start: float, end: float) -> float:
        """Seconds of recorded stall overlapping ``[start, end]``."""
        return sum(max(0.0, min(end, b) - max(start, a)) for a, b in list(self.stalls))

    def __enter__(self) -> StallWitness:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def sort_slow_callbacks(records: list[logging.LogRecord], witness: StallWitness,
                        limit_s: float) -> tuple[list[str], list[str]]:
    """The asyncio slow-callback messages: (blocked the loop, explained by a machine stall)."""
    blocked: list[str] = []
    stalled: list[str] = []
    for record in records:
        msg = record.getMessage()
        if record.name != "asyncio" or not msg.startswith("Executing"):
            continue
        took = _TOOK.search(msg)
        if took is not None:
            duration = float(took.group(1))
            end = record.created
            # the stall's edges are sampled STEP_S apart: allow that much slack
            unexplained = duration - witness.stalled_within(end - duration - STEP_S, end + STEP_S)
            if unexplained <= limit_s:
                stalled.append(msg)
                continue
        blocked.append(msg)
    return blocked, stalled


@dataclasses.dataclass
class BlockingReport:
    """Filled when the watch ends: callbacks that blocked the loop, and slow ones the
    machine's stalls explain."""

    blocked: list[str] = dataclasses.field(default_factory=list)
    stalled: list[str] = dataclasses.field(default_factory=list)


@contextlib.contextmanager
def watch_for_blocking(limit_s: float, keep: Callable[[str], bool] = lambda msg: True
                       ) -> Iterator[BlockingReport]:
    """Debug the running loop; on exit the report holds the callbacks (those ``keep``
    selects) that blocked it longer than ``limit_s``, machine stalls discounted."""
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = limit_s
    records: list[logging.LogRecord] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Catch(logging.WARNING)
    log = logging.getLogger("asyncio")
    level = log.level
    log.setLevel(logging.WARNING)
    log.addHandler(handler)
    report = BlockingReport()
    try:
        with StallWitness() as witness:
            yield report
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
    blocked, stalled = sort_slow_callbacks(records, witness, limit_s)
    report.blocked.extend(filter(keep, blocked))
    report.stalled.extend(filter(keep, stalled))
