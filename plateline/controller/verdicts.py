"""The verdict ring writer: decided verdicts into the PLC, durably and in order.

A verdict first gets its absolute ring number in the database (``plan``), then
its slot is written (one function-16 write: SEQ, TRAY, VERDICT, REASON) and then
VD_WRITE. Never more than the ring's size outstanding (VD_WRITE - VD_READ); when
the PLC stops taking them the writer waits with an alarm. After a restart the
planned count is reconciled with the PLC's VD_WRITE: nothing twice, nothing lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from plateline.contract import SEQ_MODULO, ConveyorAlarm
from plateline.controller.alarms import AlarmCode, Alarms, Severity
from plateline.controller.conveyor import ConveyorLink
from plateline.controller.faults import PlcRestarted, RingInconsistent
from plateline.controller.journal import Journal, PlannedVerdict
from plateline.controller.settings import ControllerSettings
from plateline.controller.tracking import TrackedItem
from plateline.errors import DeviceError

log = logging.getLogger(__name__)
M = SEQ_MODULO


class VerdictRingWriter:
    """Writes verdicts into CONV's verdict ring for one PLC boot."""

    def __init__(self, link: ConveyorLink, journal: Journal, settings: ControllerSettings,
                 alarms: Alarms, plc_boot: int) -> None:
        self.link = link
        self.journal = journal
        self.settings = settings
        self.alarms = alarms
        self.plc_boot = plc_boot
        self._ring = link.ring("verdict")
        self.slots = self._ring.slots
        self.written = 0  # absolute count the PLC has in VD_WRITE
        self.read = 0  # absolute count the PLC has taken (VD_READ)
        self._outstanding: dict[int, int] = {}  # number -> tray, planned and not yet taken
        self._queue: deque[TrackedItem] = deque()
        self._wake = asyncio.Event()
        self._io = asyncio.Lock()
        self._read_moved_at = time.monotonic()
        self._rewritten_at = 0.0
        self._need_rewrite = False

    # -- for the tracker ------------------------------------------------------------

    def enqueue(self, item: TrackedItem) -> None:
        """Write ``item``'s verdict once it is stored (in the order given)."""
        self._queue.append(item)
        self._wake.set()

    def taken(self, number: int) -> bool:
        """True when the PLC has taken verdict ``number``."""
        return number < self.read

    def tray_outstanding(self, tray: int) -> bool:
        """True when a verdict for ``tray`` is planned but not yet taken by the PLC."""
        return any(t == tray for n, t in self._outstanding.items() if n >= self.read)

    @property
    def outstanding(self) -> int:
        return self.written - self.read

    # -- start-up ---------------------------------------------------------------------

    async def reconcile(self, planned: int, vd_write: int, vd_read: int) -> None:
        """Line up the database's planned count with the PLC's VD_WRITE and VD_READ."""
        if planned % M == vd_write:
            self.written = planned
        elif planned > 0 and (planned - 1) % M == vd_write:
            last = await self.journal.planned_verdict(self.plc_boot, planned - 1)
            if last is None:
                await self._rebase(planned, vd_write)
            else:
                log.info("verdict %d was planned but not confirmed: writing it again",
                         last.number)
                self.written = planned - 1
                await self._write(last)
        else:
            await self._rebase(planned, vd_write)
        behind = (self.written - vd_read) % M
        if behind > self.slots:
            self.alarms.raise_(AlarmCode.VERDICT_RING, f"VD_READ {vd_read} is {behind} behind "
                               f"VD_WRITE {self.written % M}", latched=True)
        self.read = self.written - behind
        for number in range(max(self.read, 0), self.written):
            pv = await self.journal.planned_verdict(self.plc_boot, number)
            if pv is not None:
                self._outstanding[number] = pv.tray
        await self.journal.mark_written(self.plc_boot, self.written)

    async def _rebase(self, planned: int, vd_write: int) -> None:
        rebased = planned + ((vd_write - planned) % M)
        self.alarms.raise_(AlarmCode.VERDICT_RING,
                           f"VD_WRITE {vd_write} does not match {planned} verdicts planned; "
                           f"continuing from {rebased}", latched=True)
        await self.journal.set_verdicts_planned(self.plc_boot, rebased)
        self.written = rebased

    # -- running ----------------------------------------------------------------------

    async def run(self) -> None:
        """Write queued verdicts and watch VD_READ; runs until cancelled."""
        while True:
            item = await self._next()
            if self._outstanding:
                try:
                    await self.refresh_read()
                except DeviceError as err:
                    log.debug("VD_READ not read: %s", err)
            self._watch_stall()
            await self._rewrite_outstanding()
            if item is None or item.closed:
                continue
            await item.verdict_stored.wait()
            await self._wait_room()
            if item.closed or (item.verdict_number is not None
                               and item.planned_verdict == item.verdict):
                continue
            planned = await self.journal.plan_verdict(self.plc_boot, item.key)
            item.verdict_number = planned.number
            item.planned_verdict = planned.verdict
            self._outstanding[planned.number] = planned.tray
            await self._write(planned)
            await self.journal.mark_written(self.plc_boot, self.written)

    async def refresh_read(self) -> None:
        """Read VD_READ now (DeviceError when the link fails)."""
        async with self._io:
            self._check_boot()
            tag = self._ring.read
            value = (await self.link.read(tag))[tag]
        behind = (self.written - value) % M
        if behind > self.slots:
            await self._check_boot_now()
            raise RingInconsistent(f"VD_READ {value} is {behind} behind VD_WRITE "
                                   f"{self.written % M}")
        read = self.written - behind
        if read < self.read:  # VD_READ went back: a restarted PLC, or a broken ring
            await self._check_boot_now()
            raise RingInconsistent(f"VD_READ went back from {self.read % M} to {value}")
        if read != self.read:
            self.read = read
            self._read_moved_at = time.monotonic()
            for number in [n for n in self._outstanding if n < read]:
                del self._outstanding[number]

    async def _next(self) -> TrackedItem | None:
        if not self._queue:
            self._wake.clear()
            try:
                async with asyncio.timeout(self.settings.verdict_poll_s):
                    await self._wake.wait()
            except TimeoutError:
                return None
        return self._queue.popleft() if self._queue else None

    async def _wait_room(self) -> None:
        while self.written - self.read >= self.slots:
            try:
                await self.refresh_read()
            except DeviceError as err:
                log.debug("VD_READ not read: %s", err)
            self._watch_stall()
            await self._rewrite_outstanding()
            if self.written - self.read >= self.slots:
                await asyncio.sleep(self.settings.verdict_poll_s)

    def _watch_stall(self) -> None:
        if self.written == self.read:
            self._read_moved_at = time.monotonic()
            self.alarms.clear(AlarmCode.VERDICT_STALL)
            return
        stalled = time.monotonic() - self._read_moved_at
        if stalled < self.settings.verdict_stall_alarm_s:
            self.alarms.clear(AlarmCode.VERDICT_STALL)
            return
        self.alarms.raise_(AlarmCode.VERDICT_STALL,
                           f"the PLC has taken no verdict for {stalled:.1f} s "
                           f"({self.written - self.read} waiting)", severity=Severity.WARNING)
        status = self.link.status
        if (status is not None and status.alarms & ConveyorAlarm.VERDICT_RING_ERROR
                and time.monotonic() - self._rewritten_at > self.settings.verdict_stall_alarm_s):
            self._rewritten_at = time.monotonic()
            self._need_rewrite = True

    async def _rewrite_outstanding(self) -> None:
        """The PLC reports a bad slot: write every outstanding slot again from the records."""
        if not self._need_rewrite:
            return
        self._need_rewrite = False
        try:
            for number in range(self.read, self.written):
                pv = await self.journal.planned_verdict(self.plc_boot, number)
                if pv is not None:
                    async with self._io:
                        self._check_boot()
                        await self._write_slot(pv)
            log.warning("verdict slots %d..%d written again", self.read, self.written - 1)
        except (DeviceError, PlcRestarted) as err:
            log.error("verdict slots not written again: %s", err)

    async def _write(self, pv: PlannedVerdict) -> None:
        """Write the slot, then VD_WRITE; again across a broken link until done."""
        while True:
            try:
                async with self._io:
                    self._check_boot()
                    await self._write_slot(pv)
                    tag, value = self._ring.write, (pv.number + 1) % M
                    await self.link.write({tag: value})
                    self.written = pv.number + 1
                log.debug("verdict %d written: tray %d %s %s", pv.number, pv.tray,
                          pv.verdict.word, pv.verdict.reason.name)
                return
            except DeviceError as err:
                log.warning("verdict %d not written yet: %s", pv.number, err)
                await asyncio.sleep(self.settings.verdict_poll_s)
                await self.link.wait_usable()

    async def _write_slot(self, pv: PlannedVerdict) -> None:
        values = [pv.number % M, pv.tray, int(pv.verdict.code), int(pv.verdict.reason)]
        index = pv.number % self.slots
        await self.link.call(lambda c: c.write_ring_slot("verdict", index, values))

    async def _check_boot_now(self) -> None:
        value = (await self.link.read("BOOT_COUNT"))["BOOT_COUNT"]
        if value != self.plc_boot:
            raise PlcRestarted(f"BOOT_COUNT {self.plc_boot} -> {value}")

    def _check_boot(self) -> None:
        boot = self.link.boot_count
        if boot is not None and boot != self.plc_boot:
            raise PlcRestarted(f"BOOT_COUNT {self.plc_boot} -> {boot}")
