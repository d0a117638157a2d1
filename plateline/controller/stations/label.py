"""LABEL: print the order's waybill on AT_LABELER and verify it with ``S2``.

Only a tray on which nothing has failed gets a label: the station first waits for
the results of the stations before it (they are long done by the labeler; one
still missing when the tray's window closes is doubt, and nothing is printed).
The printer is asked ``~HS`` before each label: not ready is PRINTER_FAULT and
nothing is printed. At speed the labeler's window is short (50 ms of belt travel at
x10), so the printer is also asked right after each label, and that answer stands
for the next label when it is at most ``status_max_age_s`` old (a fault seen in it
is asked again). Then ``S2`` is triggered while the tray is in its view and its read
compared with the waybill number: a different read, or none, is LABEL_VERIFY_FAIL
(a trigger that read nothing is repeated while the tray is in view: the printer
does not confirm a print), unless the printer reports a fault right after the
label: then it printed nothing and the reason is PRINTER_FAULT. One tray at a
time, in AT_LABELER order (one printer, one reader).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from plateline.contract import EventType, Reason, first_reason
from plateline.controller.journal import Journal
from plateline.controller.model import CheckResult
from plateline.controller.ports import CodeReader, LabelPrinter
from plateline.controller.stations.queued import Job, QueuedStation
from plateline.drivers.printer_zpl import PrinterFault
from plateline.drivers.zpl import PrinterStatus
from plateline.errors import DeviceError
from plateline.recipes import Recipe

log = logging.getLogger(__name__)


class LabelStation(QueuedStation):
    """The LABEL check: PRINTER_FAULT, LABEL_VERIFY_FAIL.

    ``before`` names the stations whose results must all be in, and passed, for a
    label to be printed (the required stations ahead of LABEL, in flow order).
    """

    name = "LABEL"
    event = EventType.AT_LABELER
    fault_reason = Reason.LABEL_VERIFY_FAIL

    def __init__(self, printer: LabelPrinter, reader: CodeReader, journal: Journal,
                 recipes: Mapping[str, Recipe], *, before: Sequence[str],
                 printer_timeout_s: float = 1.0, scan_timeout_s: float = 0.5,
                 scan_grace_s: float = 0.1, verify_delay_s: float = 0.0,
                 status_max_age_s: float = 0.3) -> None:
        super().__init__()
        self.printer = printer
        self.reader = reader
        self.journal = journal
        self.recipes = recipes
        self.before = tuple(before)
        self.printer_timeout_s = printer_timeout_s
        self.scan_timeout_s = scan_timeout_s
        self.scan_grace_s = scan_grace_s
        self.verify_delay_s = verify_delay_s
        self.status_max_age_s = status_max_age_s
        self._status: tuple[PrinterStatus, float] | None = None  # last ~HS answer, when

    async def run(self) -> None:
        while True:
            await self._settle(await self._next())

    async def _status_after_label(self) -> PrinterStatus | None:
        """``~HS`` right after a format: what the printer was when it took it (None:
        no answer; the next label then asks before it prints)."""
        try:
            status = await self.printer.status(timeout=self.printer_timeout_s)
        except DeviceError as err:
            log.info("%s: no status after the label: %s", self.printer.name, err)
            return None
        self._status = (status, time.monotonic())
        return status

    def _recent_ready_status(self) -> float | None:
        """Age of the last ``~HS`` answer when it said ready and is recent enough."""
        if self._status is None:
            return None
        status, at = self._status
        age = time.monotonic() - at
        return age if status.ready and age <= self.status_max_age_s else None

    async def start_problem(self) -> str | None:
        """Why the line must not start because of the printer (a start check), or None."""
        try:
            status = await self.printer.status(timeout=self.printer_timeout_s)
        except DeviceError as err:
            return f"{self.printer.name}: no status: {err}"
        if not status.ready:
            return f"{self.printer.name} not ready: {', '.join(status.faults)}"
        return None

    # -- one tray --------------------------------------------------------------------

    async def _check(self, job: Job) -> CheckResult:
        item = job.item
        log.debug("%s: label job starts %.0f ms before the window closes", item.label(),
                  (job.deadline - time.monotonic()) * 1000)
        data: dict[str, Any] = {"label_read": None, "waybill_no": None}
        failed = await self._earlier_failure(job)
        if failed is not None:
            skip = CheckResult.skip(failed, started_at=job.started_at)
            log.info("%s: no label: %s", item.label(), failed.name)
            return CheckResult(False, Reason.NONE, {**data, **skip.data,
                                                    "printed": False}, skipped=True,
                               started_at=job.started_at)
        if item.order is None:  # INFEED passed, so it bound an order
            raise LookupError("no order bound to the tray")
        recipe = self.recipes.get(item.order.product)
        if recipe is None:
            raise LookupError(f"no recipe {item.order.product!r} on this line")
        facts = item.order.label or await self.journal.order_label(item.order.order_id)
        data["waybill_no"] = facts.waybill_no
        label = replace(facts, template=recipe.label.template)
        age = self._recent_ready_status()
        if age is not None:
            data["printer_status_age_ms"] = round(age * 1000)
        self._status = None  # a label changes the printer's state (paper, ribbon)
        try:
            await self.printer.print_label(label, check_status=age is None,
                                           timeout=self.printer_timeout_s)
        except PrinterFault as err:
            data.update(printed=False, printer_faults=list(err.status.faults),
                        problem=str(err))
            return CheckResult.failed(Reason.PRINTER_FAULT, data, started_at=job.started_at)
        except DeviceError as err:
            data.update(printed=False, problem=str(err))
            return CheckResult.failed(Reason.PRINTER_FAULT, data, started_at=job.started_at)
        data["printed"] = True
        log.debug("%s: label printed %.0f ms before the window closes", item.label(),
                  (job.deadline - time.monotonic()) * 1000)
        # asked while S2 reads (another device): a printer that shows a fault took the
        # format but printed nothing, and PRINTER_FAULT comes before LABEL_VERIFY_FAIL
        after = asyncio.ensure_future(self._status_after_label())
        try:
            if self.verify_delay_s:
                await asyncio.sleep(self.verify_delay_s)
            read, problem = await self._verify(job)
        except BaseException:
            after.cancel()
            await asyncio.gather(after, return_exceptions=True)
            raise
        status = await after
        data["label_read"] = read
        if problem is None and read != facts.waybill_no:
            problem = "read differs from the waybill"
        if problem is not None:
            data["problem"] = problem
            if status is not None and not status.ready:
                data.update(printed=False, printer_faults=list(status.faults))
                return CheckResult.failed(Reason.PRINTER_FAULT, data,
                                          started_at=job.started_at)
            return CheckResult.failed(Reason.LABEL_VERIFY_FAIL, data, started_at=job.started_at)
        return CheckResult.passed(data, started_at=job.started_at)

    async def _earlier_failure(self, job: Job) -> Reason | None:
        """The first failure of the stations before LABEL, waiting for them within the
        tray's window; TRACKING_ERROR stands for one that is still undecided."""
        item = job.item
        await item.stored.wait()
        reasons: list[Reason] = []
        for station in self.before:
            result = item.results.get(station)
            if result is None:
                try:
                    async with asyncio.timeout(max(0.0, job.deadline - time.monotonic())):
                        result = await item.wait_result(station)
                except TimeoutError:
                    log.warning("%s: %s undecided at the labeler", item.label(), station)
                    reasons.append(Reason.TRACKING_ERROR)
                    continue
            if result.skipped:
                reasons.append(item.verdict.reason if item.verdict else Reason.TRACKING_ERROR)
            elif not result.ok:
                reasons.append(result.reason)
        if item.rejected and item.verdict is not None:
            reasons.append(item.verdict.reason)
        return first_reason(reasons) if reasons else None

    async def _verify(self, job: Job) -> tuple[str | None, str | None]:
        """Trigger S2 while the tray is in view: (data read, problem).

        The printer does not say when the label is on the tray: a trigger that read
        nothing is repeated while the tray is still in view.
        """
        problem = "no trigger"
        while True:
            late = time.monotonic() - job.deadline
            if late >= 0:
                if problem == "no trigger":
                    problem = f"window closed {late * 1000:.0f} ms before the S2 trigger"
                return None, problem
            timeout = min(self.scan_timeout_s, -late + self.scan_grace_s)
            try:
                data = await self.reader.scan(timeout=timeout)
            except DeviceError as err:
                return None, f"{self.reader.name}: {err}"
            if data is not None and data.strip():
                return data.strip(), None
            problem = f"{self.reader.name}: no read"
