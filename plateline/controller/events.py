"""The event ring consumer: PLC events in order, stored before they are acknowledged.

Every ``event_poll_s`` the ring is read (header and slots in one go). The events
not yet handled are checked (slot SEQ = number mod 65536; a torn read is read
again, a lasting mismatch is an alarm and a hold), handed to the tracker in
order, stored with everything they caused in one transaction, and only then
acknowledged by writing EV_READ. Counters are kept absolute; the ring's 16-bit
counters are compared modulo 65536.

Reading does not wait for storing: a batch's stations start as soon as it is
read (a scanner sees its tray only for a short window), its transaction is
queued on the journal (which commits in submission order), and an acknowledger
writes EV_READ behind the commits. So the ring is read every ``event_poll_s``
even while the database is busy, and EV_READ never passes what is stored.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable

from plateline.contract import SEQ_MODULO, EventType
from plateline.controller.alarms import AlarmCode, Alarms
from plateline.controller.conveyor import ConveyorLink
from plateline.controller.faults import PlcRestarted, RingInconsistent
from plateline.controller.journal import Journal, StoredItem
from plateline.controller.model import ItemKey, PlcEvent
from plateline.controller.settings import ControllerSettings
from plateline.controller.tracking import Tracker, Window
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
        self.handled = handled  # events stored (committed), absolute
        self.dispatched = handled  # events handed to the tracker, absolute
        self._pending: deque[tuple[asyncio.Future[dict[ItemKey, StoredItem]], int]] = deque()
        self._pending_added = asyncio.Event()
        self._ack_lock = asyncio.Lock()
        self._on_hold = on_hold
        self._ring = link.ring("event")
        self.slots = self._ring.slots
        self._last_poll: float | None = None  # send time of the last good ring read
        self._seen_until = handled  # events numbered below this were seen by a read
        self._bases: dict[int, float | None] = {}  # event -> last read that did not see it
        self._torn = 0
        self._acked: int | None = None  # the EV_READ this consumer last wrote (absolute)

    async def acknowledge(self, ev_read: int) -> None:
        """After a restart: the database may be ahead of EV_READ (crash between the
        commit and the acknowledgement); acknowledge what is already stored."""
        if ev_read != self.handled % M:
            log.info("events up to %d already stored; writing EV_READ", self.handled)
            await self._write_read()

    async def run(self) -> None:
        """Poll and handle events until cancelled (link trouble is waited out)."""
        acker = asyncio.create_task(self._ack_loop(), name="event ring acknowledger")
        try:
            while True:
                await asyncio.sleep(self.settings.event_poll_s)
                if acker.done():
                    acker.result()  # its failure is the consumer's failure
                if not self.link.usable:
                    # the last good read stays the base: what comes in meanwhile was
                    # written after it, so windows stay conservative
                    await self.link.wait_usable()
                    continue
                try:
                    await self._read_and_dispatch()
                except DeviceError as err:
                    log.debug("event ring poll failed: %s", err)
        finally:
            acker.cancel()
            await asyncio.gather(acker, return_exceptions=True)

    async def poll(self) -> int:
        """One read of the ring, the handling of what it holds, and its storing and
        acknowledgement; returns the events handled."""
        n = await self._read_and_dispatch()
        await self.drain()
        return n

    async def drain(self) -> None:
        """Wait until every dispatched batch is stored, then acknowledge them."""
        async with self._ack_lock:
            while self._pending:
                future, count = self._pending[0]
                created = await future
                self._pending.popleft()
                self.tracker.batch_stored(created)
                self.handled += count
            for number in [n for n in self._bases if n < self.handled]:
                del self._bases[number]
            if self._acked != self.handled:
                try:
                    await self._write_read()
                except DeviceError as err:  # stored: the next poll acknowledges them
                    log.warning("EV_READ not written (%s); will be written again", err)

    async def _ack_loop(self) -> None:
        while True:
            await self._pending_added.wait()
            self._pending_added.clear()
            await self.drain()

    async def _read_and_dispatch(self) -> int:
        self._check_boot()
        sent = time.monotonic()
        snap = await self.link.call(lambda c: c.read_ring("event"))
        sent = max(sent, snap.sent_at)  # a wait for the link is not part of the window
        answered = time.monotonic()
        self._check_boot()
        if not self._pending and not self._ack_lock.locked() and (
                self.dispatched == self.handled and snap.read != self.handled % M):
            # (while an acknowledgement is being written, EV_READ is behind on purpose)
            await self._realign(snap.write, snap.read)
        available = (snap.write - self.dispatched) % M
        if (snap.write - self.handled) % M > self.slots:
            await self._check_boot_now()
            raise RingInconsistent(f"EV_WRITE {snap.write} is {available} events ahead of "
                                   f"{self.dispatched} read")
        start = self.dispatched
        for number in range(max(self._seen_until, start), start + available):
            self._bases[number] = self._last_poll
        self._seen_until = max(self._seen_until, start + available)
        self._last_poll = sent
        events: list[PlcEvent] = []
        for number in range(start, start + available):
            seq, type_, tray, arg = snap.slots[number % self.slots][:4]
            if seq != number % M:
                self._torn_slot(number, seq)
                break
            events.append(PlcEvent(number, EventType(type_), tray, arg))
        else:
            self._torn_ok()
        if events:
            await self._dispatch(events, answered)
        return len(events)

    async def _dispatch(self, events: list[PlcEvent], seen: float) -> None:
        """Start what the events cause and queue their transaction (not awaited here)."""
        if any(ev.type is EventType.DIVERTED for ev in events):
            await self.verdicts.refresh_read()  # so "taken by the PLC" is current
        batch = [(ev, self._window(ev.number, seen)) for ev in events]
        self._warn_if_slow(batch)
        keyed, ops = self.tracker.apply(batch)
        self._pending.append((self.journal.store_event_batch(self.plc_boot, keyed, ops),
                              len(events)))
        self.dispatched += len(events)
        self._pending_added.set()

    def _window(self, number: int, seen: float) -> Window:
        base = self._bases.get(number)
        speed = self.link.window_speed(base) if base is not None else None
        return Window(base, speed, self.settings.field_of_view_mm, seen)

    def _warn_if_slow(self, batch: list[tuple[PlcEvent, Window]]) -> None:
        """Log events read so late that half their field of view was gone on paper."""
        ev, window = batch[0]
        if window.base is None or window.seen is None or not math.isfinite(window.closes):
            return
        late = window.seen - window.base
        fov_s = window.closes - window.base
        if late > fov_s / 2:
            log.warning("events from %d read %.0f ms after the last read without them "
                        "(a field of view lasts %.0f ms)", ev.number, late * 1000, fov_s * 1000)

    async def _write_read(self) -> None:
        tag, value = self._ring.read, self.handled % M
        await self.link.write({tag: value})
        self._acked = self.handled

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
