"""The job queue of a station: ``start(item, window)`` queues the tray's check (in
event order) and returns the future of its result; the station's worker takes the
jobs and hands each one's result, or the error that broke its check, to its future.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Self

from plateline.controller.model import CheckResult
from plateline.controller.tracking import TrackedItem, Window
from plateline.records.models import utcnow


@dataclass(eq=False)
class Job:
    """One tray's check: its item, its window, the future of its result and when the
    check started."""

    item: TrackedItem
    window: Window
    future: asyncio.Future[CheckResult]
    started_at: datetime

    @classmethod
    def new(cls, item: TrackedItem, window: Window) -> Self:
        """A job started now, its future not yet done."""
        return cls(item, window, asyncio.get_running_loop().create_future(), utcnow())

    @property
    def deadline(self) -> float:
        """The end of the station's field of view (``time.monotonic()``)."""
        return self.window.closes


class QueuedStation(abc.ABC):
    """A station that decides each job with ``_check()``; its ``run()`` takes the jobs
    one at a time (``_next()`` then ``_settle()``) or :meth:`_run_at_once` (each tray in
    its own task). A job whose future is already done (cancelled) is not checked."""

    name: str

    def __init__(self) -> None:
        self._jobs: asyncio.Queue[Job] = asyncio.Queue()

    def start(self, item: TrackedItem, window: Window) -> asyncio.Future[CheckResult]:
        """Queue the check of ``item``; the future of its result."""
        job = Job.new(item, window)
        self._jobs.put_nowait(job)
        return job.future

    @abc.abstractmethod
    async def _check(self, job: Job) -> CheckResult:
        """The result of one tray's check."""

    async def _next(self) -> Job:
        while True:
            job = await self._jobs.get()
            if not job.future.done():
                return job

    async def _settle(self, job: Job) -> None:
        """Check ``job``; its future gets the result or the error (unless already done)."""
        try:
            result = await self._check(job)
        except Exception as err:  # noqa: BLE001 - handed to the item's check: its fault reason
            if not job.future.done():
                job.future.set_exception(err)
            return
        if not job.future.done():
            job.future.set_result(result)

    async def _run_at_once(self) -> None:
        """Start each job's check in its own task as soon as it is queued; a job's
        future cancelled cancels its task."""
        async with asyncio.TaskGroup() as tg:
            while True:
                job = await self._next()
                task = tg.create_task(self._settle(job), name=f"{self.name} {job.item.key}")
                job.future.add_done_callback(_cancel_with(task))


def _cancel_with(task: asyncio.Task[None]) -> Callable[[asyncio.Future[CheckResult]], None]:
    """A done-callback that cancels ``task`` when the check's future is cancelled."""

    def callback(future: asyncio.Future[CheckResult]) -> None:
        if future.cancelled():
            task.cancel()

    return callback


__all__ = ["Job", "QueuedStation"]
