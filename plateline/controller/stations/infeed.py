"""INFEED: trigger S1 on ENTERED, look the order up and bind the tray to it.

Two workers, both in ENTERED order: the scan worker triggers the reader while the
tray is in its field of view (a trigger that cannot be sent before the window
closes is not sent: NOREAD). The reader decodes what it saw at the trigger, so a
read may go on after the tray has left; it is ended (``LOFF``) ``scan_grace_s``
after the tray's window closed (no frame of the tray can come later), or earlier
when the next tray needs the reader, ``HANDOVER_S`` before that tray's window
closes, so that a slow NOREAD does not cost the next tray its window. The bind worker checks
the order and binds the item in one transaction. Serial binding is what keeps two
trays of one order from both passing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from plateline.contract import EventType, Reason
from plateline.controller.journal import Journal
from plateline.controller.model import CheckResult
from plateline.controller.ports import CodeReader
from plateline.controller.stations.queued import Job
from plateline.controller.tracking import TrackedItem, Window
from plateline.errors import DeviceError
from plateline.recipes import Recipe

log = logging.getLogger(__name__)

#: Time to end a read (LOFF, the reader's answer) and trigger the next one.
HANDOVER_S = 0.02


@dataclass(eq=False)
class _Job(Job):
    barcode: str | None = None


class InfeedStation:
    """The INFEED check (``line.md``): NOREAD, UNKNOWN_ORDER, ORDER_CANCELLED, DUPLICATE_ORDER."""

    name = "INFEED"
    event = EventType.ENTERED
    fault_reason = Reason.NOREAD

    def __init__(self, reader: CodeReader, journal: Journal, recipes: Mapping[str, Recipe], *,
                 scan_grace_s: float = 0.1, scan_timeout_s: float = 0.5) -> None:
        self.reader = reader
        self.scan_grace_s = scan_grace_s
        self.scan_timeout_s = scan_timeout_s
        self.journal = journal
        self.recipes = recipes
        self._scans: deque[_Job] = deque()
        self._scan_queued = asyncio.Event()
        self._binds: asyncio.Queue[_Job] = asyncio.Queue()

    def start(self, item: TrackedItem, window: Window) -> asyncio.Future[CheckResult]:
        job = _Job.new(item, window)
        self._scans.append(job)
        self._scan_queued.set()
        return job.future

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._scan_worker(), name="INFEED scan")
            tg.create_task(self._bind_worker(), name="INFEED bind")

    async def _next_scan(self) -> _Job:
        while not self._scans:
            self._scan_queued.clear()
            await self._scan_queued.wait()
        return self._scans.popleft()

    async def _scan_worker(self) -> None:
        while True:
            job = await self._next_scan()
            if job.future.done():
                continue
            try:
                problem = await self._scan(job)
            except Exception as err:  # noqa: BLE001 - handed to the item's check: NOREAD
                if not job.future.done():  # cancelled meanwhile: nobody waits for it
                    job.future.set_exception(err)
                continue
            if job.future.done():
                continue
            if problem is not None:
                job.future.set_result(CheckResult.failed(
                    Reason.NOREAD, {"barcode": None, "problem": problem},
                    started_at=job.started_at))
            else:
                self._binds.put_nowait(job)

    async def _scan(self, job: _Job) -> str | None:
        """Trigger the reader for ``job``; the problem, or None with ``job.barcode`` set."""
        late = time.monotonic() - job.deadline
        if late >= 0:
            return f"window closed {late * 1000:.0f} ms before the trigger"
        stop = asyncio.Event()
        watcher = asyncio.create_task(self._end_read(job, stop))
        try:
            data = await self.reader.scan(timeout=self.scan_timeout_s, stop=stop)
        except DeviceError as err:
            return f"{self.reader.name}: {err}"
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        if data is None or not data.strip():
            return f"{self.reader.name}: no read"
        job.barcode = data.strip()
        return None

    async def _end_read(self, job: _Job, stop: asyncio.Event) -> None:
        """Set ``stop`` ``scan_grace_s`` after ``job``'s window closed, or when the next
        tray must be triggered to stay inside its window, whichever comes first."""
        while True:
            end = job.deadline + self.scan_grace_s
            if self._scans:
                end = min(end, self._scans[0].deadline - HANDOVER_S)
            left = end - time.monotonic()
            if left <= 0:
                break
            self._scan_queued.clear()  # set again by start(): the next tray is known
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._scan_queued.wait()
        stop.set()

    async def _bind_worker(self) -> None:
        while True:
            job = await self._binds.get()
            if job.future.done():
                continue
            assert job.barcode is not None
            await job.item.stored.wait()
            if job.future.done():
                continue
            try:
                result, facts = await self.journal.bind_order(
                    job.item.key, job.barcode, self.recipes, job.started_at)
            except Exception as err:  # noqa: BLE001 - JournalError included: the tracker decides
                if not job.future.done():
                    job.future.set_exception(err)
                continue
            if not job.future.done():
                job.item.order = facts
                job.future.set_result(result)
