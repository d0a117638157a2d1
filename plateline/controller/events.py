"""The event ring consumer: PLC events in order, stored before they are acknowledged.

Every ``event_poll_s`` the ring is read (header and slots in one go). The events
not yet handled are checked (slot SEQ = number mod 65536; a torn read is read
again, a lasting mismatch is an alarm and a hold), handed to the tracker in
order, stored with everything they caused in one transaction, and only then
acknowledged by writing EV_READ. Counters are kept absolute; the ring's 16-bit
counters are compared modulo 65536.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from plateline.contract import SEQ_MODULO, EventType
from plateline.controller.alarms import AlarmCode, Alarms
from plateline.controller.conveyor import ConveyorLink
from plateline.controller.faults import PlcRestarted, RingInconsistent
from plateline.controller.journal import Journal
from plateline.controller.model import PlcEvent
from plateline.controller.settings import ControllerSettings
from plateline.controller.tracking import Tracker, window_deadline
from plateline.controller.verdicts import VerdictRingWriter
from plateline.errors import DeviceError

log = logging.getLogger(__name__)
M = SEQ_MODULO


class EventRingConsumer:
    """Consumes CONV's event ring for one PLC boot, from ``handled`` on."""

    def __init__(self, link: ConveyorLink, journal: Journal, tracker: Tracker,
                 verdicts: VerdictRingWriter, settings: ControllerSettings, alarms: Alarms,
                 *, plc_boot: int, handled: int,
                 on_hold: Callable[[str, str], None]) -> None:
        self.link = link
        self.journal = journal
        self.tracker = tracker
        self.verdicts = verdicts
        self.settings = settings
        self.alarms = alarms
        self.plc_boot = plc_boot
        self.handled = handled
        self._on_hold = on_hold
        self._ring = link.ring("event")
        self.slots = self._ring.slots
        self._last_poll: float | None = None  # send time of the last good ring read
        self._seen_until = handled  # events numbered below this were seen by a read
        self._bases: dict[int, float | None] = {}  # event -> last read that did not see it
        self._torn = 0

    async def acknowledge(self, ev_read: int) -> None:
        """After a restart: the database may be ahead of EV_READ (crash between the
        commit and the acknowledgement); acknowledge what is already stored."""
        if ev_read != self.handled % M:
            log.info("events up to %d already stored; writing EV_READ", self.handled)
            await self._write_read()

    async def run(self) -> None:
        """Poll and handle events until cancelled (link trouble is waited out)."""
        while True:
            await asyncio.sleep(self.settings.event_poll_s)
            if not self.link.usable:
                # the last good read stays the base: what comes in meanwhile was
                # written after it, so windows stay conservative
                await self.link.wait_usable()
                continue
            try:
                await self.poll()
            except DeviceError as err:
                log.debug("event ring poll failed: %s", err)

    async def poll(self) -> int:
        """One read of the ring and the handling of what it holds; returns events handled."""
        self._check_boot()
        sent = time.monotonic()
        snap = await self.link.call(lambda c: c.read_ring("event"))
        self._check_boot()
        if snap.read != self.handled % M:
            await self._realign(snap.write, snap.read)
        available = (snap.write - self.handled) % M
        if available > self.slots:
            await self._check_boot_now()
            raise RingInconsistent(f"EV_WRITE {snap.write} is {available} events ahead of "
                                   f"{self.handled} handled")
        for number in range(max(self._seen_until, self.handled), self.handled + available):
            self._bases[number] = self._last_poll
        self._seen_until = max(self._seen_until, self.handled + available)
        self._last_poll = sent
        events: list[PlcEvent] = []
        for number in range(self.handled, self.handled + available):
            seq, type_, tray, arg = snap.slots[number % self.slots][:4]
            if seq != number % M:
                self._torn_slot(number, seq)
                break
            events.append(PlcEvent(number, EventType(type_), tray, arg))
        else:
            self._torn_ok()
        if events:
            await self._handle(events)
        return len(events)

    async def _handle(self, events: list[PlcEvent]) -> None:
        if any(ev.type is EventType.DIVERTED for ev in events):
            await self.verdicts.refresh_read()  # so "taken by the PLC" is current
        batch = [(ev, self._deadline(ev.number)) for ev in events]
        keyed, ops = self.tracker.apply(batch)
        created = await self.journal.store_event_batch(self.plc_boot, keyed, ops)
        self.tracker.batch_stored(created)
        self.handled += len(events)
        for number in [n for n in self._bases if n < self.handled]:
            del self._bases[number]
        try:
            await self._write_read()
        except DeviceError as err:  # stored: the next poll acknowledges them
            log.warning("EV_READ not written (%s); will be written again", err)

    def _deadline(self, number: int) -> float:
        base = self._bases.get(number)
        speed = self.link.max_speed_since(base) if base is not None else None
        return window_deadline(base, speed, self.settings.field_of_view_mm)

    async def _write_read(self) -> None:
        tag, value = self._ring.read, self.handled % M
        await self.link.write({tag: value})

    async def _realign(self, ev_write: int, ev_read: int) -> None:
        """EV_READ is not where the records say: acknowledge again, or it is a fault."""
        await self._check_boot_now()  # a restarted PLC's counters must not be acknowledged
        ahead = (self.handled - ev_read) % M
        if 0 < ahead <= self.slots and ahead <= (ev_write - ev_read) % M:
            log.info("EV_READ %d behind %d events stored: writing it again", ev_read,
                     self.handled)
            await self._write_read()
            return
        raise RingInconsistent(f"EV_READ {ev_read} does not match {self.handled} handled")

    def _torn_slot(self, number: int, seq: int) -> None:
        self._torn += 1
        if self._torn <= self.settings.torn_read_retries:
            log.debug("event %d: slot SEQ %d, reading again", number, seq)
            return
        text = (f"event {number}: slot {number % self.slots} holds SEQ {seq} after "
                f"{self._torn} reads")
        self.alarms.raise_(AlarmCode.EVENT_RING, text)
        self._on_hold("EVENT_RING", text)  # again after every Unhold while it lasts

    def _torn_ok(self) -> None:
        if self._torn:
            self._torn = 0
            self.alarms.clear(AlarmCode.EVENT_RING)

    def _check_boot(self) -> None:
        boot = self.link.boot_count
        if boot is not None and boot != self.plc_boot:
            raise PlcRestarted(f"BOOT_COUNT {self.plc_boot} -> {boot}")

    async def _check_boot_now(self) -> None:
        value = (await self.link.read("BOOT_COUNT"))["BOOT_COUNT"]
        if value != self.plc_boot:
            raise PlcRestarted(f"BOOT_COUNT {self.plc_boot} -> {value}")
