"""INFEED: trigger S1 on ENTERED, look the order up and bind the tray to it.

Two workers, both in ENTERED order: the scan worker triggers the reader while the
tray is in its field of view (a trigger that cannot be sent before the window
closes is not sent: NOREAD; a read that goes on ``scan_grace_s`` after the window
closed is ended, so that a slow NOREAD does not cost the next tray its window);
the bind worker checks the order and binds the item in one transaction. Serial
binding is what keeps two trays of one order from both passing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from plateline.contract import EventType, Reason
from plateline.controller.journal import Journal
from plateline.controller.model import CheckResult
from plateline.controller.ports import CodeReader
from plateline.controller.tracking import TrackedItem
from plateline.errors import DeviceError
from plateline.recipes import Recipe
from plateline.records.models import utcnow

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Job:
    item: TrackedItem
    deadline: float
    future: asyncio.Future[CheckResult]
    started_at: datetime
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
        self._scans: asyncio.Queue[_Job] = asyncio.Queue()
        self._binds: asyncio.Queue[_Job] = asyncio.Queue()

    def start(self, item: TrackedItem, deadline: float) -> asyncio.Future[CheckResult]:
        future: asyncio.Future[CheckResult] = asyncio.get_running_loop().create_future()
        self._scans.put_nowait(_Job(item, deadline, future, utcnow()))
        return future

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._scan_worker(), name="INFEED scan")
            tg.create_task(self._bind_worker(), name="INFEED bind")

    async def _scan_worker(self) -> None:
        while True:
            job = await self._scans.get()
            if job.future.done():
                continue
            try:
                problem = await self._scan(job)
            except Exception as err:  # noqa: BLE001 - handed to the item's check: NOREAD
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
        # The reader decides what it saw at the trigger; a read still going on a grace
        # after the tray left its view is ended (LOFF), freeing it for the next tray.
        timeout = min(self.scan_timeout_s, -late + self.scan_grace_s)
        try:
            data = await self.reader.scan(timeout=timeout)
        except DeviceError as err:
            return f"{self.reader.name}: {err}"
        if data is None or not data.strip():
            return f"{self.reader.name}: no read"
        job.barcode = data.strip()
        return None

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
