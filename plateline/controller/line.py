"""The line controller: everything composed in one task group.

``LineController`` owns the journal (database writer thread), the conveyor link's
heartbeat and status tasks, the line state, and the *tracking core*: event
consumer, verdict writer, station workers and per-item check tasks. The core is
built from the database and the PLC's counters; when it stops (PLC restart, ring
counters that disagree, a database or internal fault) the line is held and the
core is rebuilt the same way a restarted controller would build it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, Protocol, Self

from sqlalchemy.orm import Session, sessionmaker

from plateline.contract import SEQ_MODULO, CmdResult, PackMLCommand, PackMLState
from plateline.controller.alarms import AlarmCode, Alarms, Severity
from plateline.controller.conveyor import ConveyorLink, ConveyorStatus
from plateline.controller.events import EventRingConsumer
from plateline.controller.faults import CoreRestart, PlcRestarted
from plateline.controller.journal import Cursor, Journal, JournalError, Op
from plateline.controller.line_state import RUNNING, LineState
from plateline.controller.operator import reject_by_hand
from plateline.controller.ports import Camera, CodeReader, PlateVerifier
from plateline.controller.recipe_changeover import RecipeChangeover
from plateline.controller.settings import ControllerSettings
from plateline.controller.stations import InfeedStation, PackStation, VisionStation
from plateline.controller.tracking import Counters, Station, Tracker
from plateline.controller.verdicts import VerdictRingWriter
from plateline.drivers.supervisor import LinkSupervisor
from plateline.drivers.tagmap import TagMap
from plateline.errors import DeviceError
from plateline.recipes import Recipe

log = logging.getLogger(__name__)
M = SEQ_MODULO

StationFactory = Callable[[Journal], Station]


class PackerControl(Protocol):
    """The packer's PackML commands (``PACK``), as the line's builder provides them."""

    name: str

    async def read(self, *tags: str, timeout: float | None = None) -> dict[str, Any]: ...

    async def command(self, cmd: PackMLCommand, *,
                      timeout: float | None = None) -> PackMLState: ...


class LineController:
    """One line's controller (async context manager).

    The caller makes and enters the devices (the CONV link supervisor, S1, CAM1,
    the plate verifier) and closes them after the controller; the controller owns
    its tasks and the journal. ``stations`` lets a site add stations (a factory
    per station, given the journal) after INFEED and VISION.
    """

    def __init__(self, settings: ControllerSettings, *, sessions: sessionmaker[Session],
                 conveyor: LinkSupervisor[Any], tag_map: TagMap,
                 recipes: Mapping[str, Recipe], code_reader: CodeReader, camera: Camera,
                 verifier: PlateVerifier, stations: Sequence[StationFactory] = ()) -> None:
        self.settings = settings
        self.alarms = Alarms()
        self.journal = Journal(sessions, settings.line_id)
        self.link = ConveyorLink(conveyor, tag_map, settings, self.alarms)
        self.line_state = LineState(self.link, self.journal, self.alarms)
        self._counters = Counters()
        self.stations: list[Station] = [
            InfeedStation(code_reader, self.journal, recipes,
                          scan_grace_s=settings.scan_grace_s,
                          scan_timeout_s=settings.scan_timeout_s),
            VisionStation(camera, verifier, frames_dir=settings.frames_dir,
                          verify_timeout_s=settings.vision_timeout_s),
            *(factory(self.journal) for factory in stations),
        ]
        known = {s.name for s in self.stations}
        missing = [s for s in settings.required_stations if s not in known]
        if missing:
            raise ValueError(f"required stations without a module: {', '.join(missing)}")
        self.tracker: Tracker | None = None
        #: the line's recipe changeover, when the line has machines to set (PACK)
        self.recipe_changeover: RecipeChangeover | None = None
        #: the packer's commands, when the line has a packer (set by the line's builder)
        self.packer: PackerControl | None = None
        self._stack: AsyncExitStack | None = None
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._core_running = False

    # -- public ------------------------------------------------------------------------

    @property
    def state(self) -> PackMLState:
        """The controller's PackML state (the one the HMI shows)."""
        return self.line_state.state

    @property
    def status(self) -> ConveyorStatus | None:
        """The last status read from CONV."""
        return self.link.status

    @property
    def counters(self) -> dict[str, Any]:
        """Trays entered, passed, rejected by reason, outcomes, and trays on the line."""
        snap = self._counters.snapshot()
        snap["on_line"] = len(self.tracker.items) if self.tracker else 0
        return snap

    @property
    def link_states(self) -> dict[str, str]:
        return {
            self.link.name: self.link.link_state.value,
            "PLC_HEARTBEAT": "alive" if self.link.plc_alive else "lost",
            "TRACKING": "running" if self._core_running else "stopped",
        }

    def items_on_line(self) -> list[dict[str, Any]]:
        """The open items, oldest first (for the HMI)."""
        if self.tracker is None:
            return []
        route = self.settings.event_route
        return [{"item_id": it.public_id, "tray": it.tray, "at": route[it.stage].name,
                 "verdict": it.verdict.word if it.verdict else None,
                 "reason": it.verdict.reason.name if it.verdict else None,
                 "order_id": it.order.order_id if it.order else None}
                for it in self.tracker.items.values()]

    async def command(self, cmd: PackMLCommand, user: str) -> CmdResult:
        """An operator's PackML command (recorded as an OperatorAction)."""
        return await self.line_state.command(cmd, user)

    async def wait_for_state(self, *states: PackMLState,
                             timeout: float | None = None) -> PackMLState:
        """Wait until the controller's state is one of ``states``."""
        return await self.line_state.wait_for(*states, timeout=timeout)

    async def operator_reject(self, tray: int | None = None, *, item_id: str | None = None,
                              user: str) -> str:
        """Reject the open item on ``tray`` (or ``item_id``) by hand; returns its item id.

        The reason is OPERATOR_REJECT unless a check had already failed the item (the
        first failure stands). The REJECT goes to the PLC even after a PASS. Refused
        (``OperatorRefused``, recorded) for a tray past the gate or not on the line.
        """
        return await reject_by_hand(self.tracker if self._core_running else None,
                                    self.journal, tray=tray, item_id=item_id, user=user)

    @property
    def packer_state(self) -> PackMLState | None:
        """The packer's PackML state as last read (None: no packer, or unknown)."""
        for station in self.stations:
            if isinstance(station, PackStation):
                return station.packer_state
        return None

    async def packer_command(self, cmd: PackMLCommand, user: str) -> PackMLState:
        """An operator's PackML command to the packer (recorded); its state after.

        DeviceError when the packer refuses it or cannot be reached."""
        if self.packer is None:
            raise DeviceError("this line has no packer", device="PACK")
        try:
            after = await self.packer.command(cmd)
        except DeviceError as err:
            await self.journal.record_action(user, f"packer {cmd.name} REFUSED",
                                             {"error": str(err)})
            raise
        await self.journal.record_action(user, f"packer {cmd.name}", {"state": after.name})
        return after

    def add_state_observer(self, callback: Callable[[PackMLState], None]) -> Callable[[], None]:
        return self.line_state.add_observer(callback)

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        stack = AsyncExitStack()
        await stack.enter_async_context(self.journal)
        tg = asyncio.TaskGroup()
        await tg.__aenter__()
        self._stack, self._tg = stack, tg
        for coro, name in ((self.link.run(), "CONV link"), (self.line_state.run(), "line state"),
                           (self._core_loop(), "tracking core")):
            self._tasks.append(tg.create_task(coro, name=f"{self.settings.line_id} {name}"))
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        tg, stack, self._tg, self._stack = self._tg, self._stack, None, None
        if tg is None or stack is None:
            return
        try:
            if exc_type is None:
                await self._hold_on_exit()
            for task in self._tasks:
                task.cancel()
            await tg.__aexit__(exc_type, exc, tb)
        finally:
            self._tasks.clear()
            await stack.aclose()

    async def _hold_on_exit(self) -> None:
        status = self.link.status
        if not (self.link.usable and status is not None and status.state in RUNNING):
            return
        try:
            await self.link.send_command(PackMLCommand.HOLD)
            await self.journal.record_action("controller", "command HOLD",
                                             {"because": "controller stopping"})
        except (DeviceError, JournalError) as err:
            log.warning("hold at exit failed: %s", err)

    # -- tracking core -------------------------------------------------------------------

    async def _core_loop(self) -> None:
        while True:
            delay = self.settings.fault_retry_s
            try:
                await self._run_core()
            except Exception as err:  # every fault holds the line, then rebuild
                restart = _matching(err, CoreRestart)
                if restart is not None and _only(err, PlcRestarted):
                    log.warning("tracking restarts: %s", restart)
                    delay = 0.05
                elif restart is not None and _only(err, CoreRestart):
                    text = f"ring counters disagree with the records: {restart}"
                    self.alarms.raise_(AlarmCode.TRACKING_ERROR, text,
                                       severity=Severity.CRITICAL, latched=True)
                    self.line_state.hold(AlarmCode.TRACKING_ERROR.value, text)
                else:
                    db = _matching(err, JournalError)
                    code = AlarmCode.DATABASE_ERROR if db is not None else AlarmCode.INTERNAL_FAULT
                    text = str(db) if db is not None else f"{type(err).__name__}: {err}"
                    log.error("tracking stopped by a fault: %s", text, exc_info=err)
                    self.alarms.raise_(code, text, latched=True)
                    self.line_state.hold(code.value, text)
            finally:
                self._core_running = False
                self.line_state.core_ready = False
            await asyncio.sleep(delay)

    async def _run_core(self) -> None:
        await self.link.wait_usable()
        journal, link = self.journal, self.link
        state = await journal.load()
        ev, vd = link.ring("event"), link.ring("verdict")
        hdr = await link.read("BOOT_COUNT", ev.write, ev.read, vd.write, vd.read)
        boot = hdr["BOOT_COUNT"]
        cursor, lose_all, why = self._resume_point(state.cursor, boot, hdr[ev.write],
                                                   hdr[ev.read], hdr[vd.write], ev.slots)
        async with asyncio.TaskGroup() as tg:
            writer = VerdictRingWriter(link, journal, self.settings, self.alarms, boot)
            tracker = Tracker(self.settings, boot, journal, self.alarms, self.stations,
                              self._counters, spawn=tg.create_task, on_verdict=writer.enqueue,
                              verdict_taken=writer.taken,
                              tray_has_outstanding_verdict=writer.tray_outstanding)
            ops: list[Op] = tracker.restore(state.open_items)
            if lose_all:
                log.warning("every open item is lost: %s", why)
                ops += tracker.close_all_lost()
            if cursor != state.cursor:
                await journal.set_cursor(cursor, ops)
            elif ops:
                await journal.apply(ops)
            tracker.mark_restored()
            await writer.reconcile(cursor.verdicts_planned, hdr[vd.write], hdr[vd.read])
            for key in await journal.pending_verdicts():
                item = tracker.items.get(key)
                if item is not None:
                    writer.enqueue(item)
            consumer = EventRingConsumer(link, journal, tracker, writer, self.settings,
                                         self.alarms, plc_boot=boot,
                                         handled=cursor.events_handled,
                                         on_hold=self.line_state.hold)
            await consumer.acknowledge(hdr[ev.read])
            self.tracker = tracker
            self._core_running = True
            self.line_state.core_ready = True
            self.alarms.clear(AlarmCode.INTERNAL_FAULT)
            log.info("tracking running: PLC boot %d, %d events handled, %d verdicts, "
                     "%d items on the line", boot, cursor.events_handled, writer.written,
                     len(tracker.items))
            tg.create_task(consumer.run(), name="event ring")
            tg.create_task(writer.run(), name="verdict ring")
            for station in self.stations:
                tg.create_task(station.run(), name=f"station {station.name}")

    def _resume_point(self, cursor: Cursor | None, boot: int, ev_write: int, ev_read: int,
                      vd_write: int, slots: int) -> tuple[Cursor, bool, str]:
        """Where to resume in the PLC's rings, and whether every open item is lost."""
        if cursor is None:
            log.info("first start of line %s: PLC boot %d, EV_READ %d, VD_WRITE %d",
                     self.settings.line_id, boot, ev_read, vd_write)
            return Cursor(boot, ev_read, vd_write), False, ""
        if cursor.plc_boot != boot:
            why = f"the PLC restarted (BOOT_COUNT {cursor.plc_boot} -> {boot})"
            self.alarms.raise_(AlarmCode.PLC_RESTARTED, why, latched=True)
            self.line_state.hold(AlarmCode.PLC_RESTARTED.value, why)
            return Cursor(boot, ev_read, vd_write), True, why
        ahead = (cursor.events_handled - ev_read) % M
        if ahead == 0 or (ahead <= slots and ahead <= (ev_write - ev_read) % M):
            return cursor, False, ""
        why = (f"EV_READ {ev_read} does not match {cursor.events_handled} events stored")
        self.alarms.raise_(AlarmCode.EVENT_RING, why, severity=Severity.CRITICAL, latched=True)
        self.line_state.hold(AlarmCode.EVENT_RING.value, why)
        handled = cursor.events_handled + ((ev_read - cursor.events_handled) % M)
        return Cursor(boot, handled, cursor.verdicts_planned), True, why


def _matching(err: BaseException, kind: type[BaseException]) -> BaseException | None:
    if isinstance(err, kind):
        return err
    if isinstance(err, BaseExceptionGroup):
        for sub in err.exceptions:
            found = _matching(sub, kind)
            if found is not None:
                return found
    return None


def _only(err: BaseException, kind: type[BaseException]) -> bool:
    if isinstance(err, BaseExceptionGroup):
        return all(_only(sub, kind) for sub in err.exceptions)
    return isinstance(err, kind)


__all__ = ["LineController", "StationFactory"]
