"""A watch on the controller's event loop: how late it runs, and where it was stuck.

Every station window of the line is a few hundred milliseconds of belt travel at
speed, so a loop that stalls for 100 ms loses trays to timeouts. ``LoopWatch``
ticks on the loop; a watchdog thread notices a tick that is late and takes the
stack of the loop's thread at that moment, so the log says *what* held the loop,
not only that it was held.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

log = logging.getLogger(__name__)


@dataclass
class LoopLag:
    """What the watch has seen so far (for diagnostics)."""

    max_lag_s: float = 0.0
    stalls: int = 0
    last_stack: str | None = None
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=100))


class LoopWatch:
    """Measure the running loop's lag; log a WARNING with a stack above ``warn_s``.

    Use as ``async with LoopWatch(0.05) as watch:``; ``watch.lag`` holds the figures.
    """

    def __init__(self, warn_s: float = 0.05, *, tick_s: float = 0.01,
                 stack_depth: int = 25) -> None:
        if warn_s <= 0 or tick_s <= 0:
            raise ValueError("warn_s and tick_s must be positive")
        self.warn_s = warn_s
        self.tick_s = tick_s
        self.stack_depth = stack_depth
        self.lag = LoopLag()
        self._beat = time.monotonic()
        self._caught: str | None = None
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop_thread = 0

    async def __aenter__(self) -> Self:
        self._loop_thread = threading.get_ident()
        self._beat = time.monotonic()
        self._thread = threading.Thread(target=self._watchdog, name="loop watch", daemon=True)
        self._thread.start()
        self._task = asyncio.create_task(self._tick(), name="loop watch")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        assert self._task is not None and self._thread is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._done.set()
        await asyncio.to_thread(self._thread.join)

    def _watchdog(self) -> None:
        half = self.warn_s / 2
        while not self._done.wait(min(self.tick_s, half)):
            if self._caught is None and time.monotonic() - self._beat > half:
                frame = sys._current_frames().get(self._loop_thread)
                if frame is not None:
                    stack = traceback.format_stack(frame)[-self.stack_depth:]
                    self._caught = "".join(stack)

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._caught = None
            before = loop.time()
            self._beat = time.monotonic()
            await asyncio.sleep(self.tick_s)
            lag = loop.time() - before - self.tick_s
            self._note(lag)

    def _note(self, lag: float) -> None:
        self.lag.max_lag_s = max(self.lag.max_lag_s, lag)
        self.lag.recent.append(lag)
        if lag < self.warn_s:
            return
        self.lag.stalls += 1
        stack = self._caught
        self.lag.last_stack = stack
        if stack is None:
            log.warning("event loop stalled %.0f ms (stack not caught: the loop's thread "
                        "did not run; another thread held the GIL, or the machine was "
                        "busy)", lag * 1000)
        else:
            log.warning("event loop stalled %.0f ms; the loop was at:\n%s", lag * 1000, stack)
