"""The line's PackML state as the controller keeps it (the state the HMI shows).

The controller's state follows CONV's, except that a lost link or PLC heartbeat
shows HELD (ABORTED after an abort or E-stop), and that a *hold latch* (link
lost, PLC restarted, internal fault) makes the controller hold CONV whenever it
runs, until an operator command (Unhold, Clear, Reset, Start) is taken. Nothing
restarts by itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from plateline.contract import CmdResult, ConveyorAlarm, PackMLCommand, PackMLState
from plateline.controller.alarms import AlarmCode, Alarms
from plateline.controller.conveyor import ConveyorLink
from plateline.controller.journal import Journal, JournalError
from plateline.drivers.supervisor import LinkState
from plateline.errors import DeviceError
from plateline.packml import transition

log = logging.getLogger(__name__)
S = PackMLState
C = PackMLCommand

#: CONV states in which the belt may move: a latched hold sends Hold there.
RUNNING = frozenset({S.STARTING, S.EXECUTE, S.UNHOLDING, S.SUSPENDING, S.SUSPENDED,
                     S.UNSUSPENDING})
#: Operator commands that end a hold latch once CONV has taken them.
LATCH_CLEARING = frozenset({C.UNHOLD, C.CLEAR, C.RESET, C.START})
#: Commands that need the tracking core running (they let trays move).
NEED_CORE = frozenset({C.START, C.UNHOLD, C.UNSUSPEND})
_HOLD_RETRY_S = 1.0
#: Alarm raised when a start check (printer, recipe read-back, packer) refuses Start.
START_REFUSED = "START_REFUSED"

#: A check run before Start is sent: the problem that refuses it, or None.
StartCheck = Callable[[], Awaitable[str | None]]


def controller_state(link_up: bool, conv: PackMLState | None, alarms: ConveyorAlarm,
                     latched: bool) -> PackMLState:
    """The state the controller shows, from what it knows of CONV (pure)."""
    if conv is None:
        return S.UNDEFINED
    if not link_up:
        if conv in (S.ABORTING, S.ABORTED) or alarms & ConveyorAlarm.ESTOP:
            return S.ABORTED
        return S.HELD
    if latched and conv in RUNNING:
        return S.HOLDING
    return conv


def refusal(state: PackMLState, cmd: PackMLCommand, *, link_up: bool, alarms: ConveyorAlarm,
            core_ready: bool) -> str | None:
    """Why the controller refuses ``cmd`` in ``state``, or None (pure)."""
    if not link_up:
        return "no link to CONV or PLC heartbeat lost"
    if transition(state, cmd) is None:
        return f"{cmd.name} is not allowed in {state.name}"
    if cmd is C.CLEAR and alarms & ConveyorAlarm.ESTOP:
        return "E-stop still pressed"
    if cmd in NEED_CORE and not core_ready:
        return "tracking is not running (see alarms)"
    return None


class LineState:
    """The controller's PackML state, operator commands and the hold latch."""

    def __init__(self, link: ConveyorLink, journal: Journal, alarms: Alarms) -> None:
        self.link = link
        self.journal = journal
        self.alarms = alarms
        self.latch: dict[str, str] = {}  # cause -> text
        self.core_ready = False
        self._state = S.UNDEFINED
        self._observers: list[Callable[[PackMLState], None]] = []
        self._changed = asyncio.Event()
        self._wake = asyncio.Event()
        self._cmd_lock = asyncio.Lock()
        self._last_hold = 0.0
        self._seen_up = False
        #: checks run before a Start is sent (devices not ready, recipe not in force)
        self.start_checks: list[StartCheck] = []
        link.add_observer(self._update)

    @property
    def state(self) -> PackMLState:
        return self._state

    def add_observer(self, callback: Callable[[PackMLState], None]) -> Callable[[], None]:
        """Call ``callback(state)`` on every change of the controller's state."""
        self._observers.append(callback)
        return lambda: self._observers.remove(callback) if callback in self._observers else None

    async def wait_for(self, *states: PackMLState, timeout: float | None = None) -> PackMLState:
        """Wait until the state is one of ``states``; TimeoutError after ``timeout``."""
        async with asyncio.timeout(timeout):
            while self._state not in states:
                changed = self._changed
                await changed.wait()
        return self._state

    def hold(self, cause: str, text: str) -> None:
        """Latch a hold: CONV is held whenever it runs, until an operator command."""
        self._latch(cause, text)
        self._update()

    async def command(self, cmd: PackMLCommand, user: str) -> CmdResult:
        """An operator command: checked, sent to CONV, recorded as an OperatorAction.

        REFUSED when the controller or the PLC refuses it; DeviceError when CONV
        could not be reached or did not take it in time.
        """
        async with self._cmd_lock:
            before = self._state
            status = self.link.status
            alarms = status.alarms if status else ConveyorAlarm(0)
            why = refusal(before, cmd, link_up=self.link.usable, alarms=alarms,
                          core_ready=self.core_ready)
            if why is None and cmd is C.START:
                why = await self._start_problem()
            if why is not None:
                log.info("command %s by %s refused: %s", cmd.name, user, why)
                await self._record(user, cmd, {"result": "REFUSED", "by": "controller",
                                               "why": why, "state": before.name})
                return CmdResult.REFUSED
            try:
                result = await self.link.send_command(cmd)
            except DeviceError as err:
                self.alarms.raise_(AlarmCode.COMMAND_FAILED, f"{cmd.name}: {err}")
                await self._record(user, cmd, {"result": "FAILED", "error": str(err),
                                               "state": before.name})
                raise
            self.alarms.clear(AlarmCode.COMMAND_FAILED)
            if result is CmdResult.TAKEN:
                if cmd in LATCH_CLEARING and self.latch:
                    log.info("hold latch cleared by %s (%s)", cmd.name, ", ".join(self.latch))
                    self.latch.clear()
                if cmd in (C.RESET, C.CLEAR):
                    self.alarms.reset_latched()
            await self._record(user, cmd, {"result": result.name, "state": before.name})
            self._update()
            return result

    async def _start_problem(self) -> str | None:
        """Run the start checks; the first problem (an alarm is raised), or None."""
        for check in self.start_checks:
            try:
                problem = await check()
            except Exception as err:  # noqa: BLE001 - a check that broke is doubt: refuse
                problem = f"start check failed: {type(err).__name__}: {err}"
            if problem is not None:
                self.alarms.raise_(START_REFUSED, problem)
                return problem
        self.alarms.clear(START_REFUSED)
        return None

    async def run(self) -> None:
        """Send Hold while the latch is set and CONV runs; runs until cancelled."""
        while True:
            try:
                async with asyncio.timeout(_HOLD_RETRY_S):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            if not self._must_hold():
                continue
            wait = _HOLD_RETRY_S - (time.monotonic() - self._last_hold)
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            async with self._cmd_lock:
                if not self._must_hold():  # an operator command may have just ended it
                    continue
                self._last_hold = time.monotonic()
                causes = ", ".join(self.latch)
                try:
                    result = await self.link.send_command(C.HOLD)
                except DeviceError as err:
                    log.error("hold for %s failed: %s", causes, err)
                    continue
            await self._record("controller", C.HOLD, {"result": result.name, "because": causes})

    def _must_hold(self) -> bool:
        status = self.link.status
        return bool(self.latch and self.link.usable and status is not None
                    and status.state in RUNNING)

    def _update(self) -> None:
        link_up = self.link.usable
        status = self.link.status
        if link_up and status is not None:
            if not self._seen_up and status.state in RUNNING:
                self._latch("CONTROLLER_START", "the controller started while CONV was running")
            self._seen_up = True
        elif self._seen_up:
            if self.link.plc_lost:
                self._latch("PLC_HEARTBEAT_LOST", f"{self.link.name}: PLC heartbeat lost")
            elif self.link.link_state is not LinkState.UP:
                self._latch("LINK_DOWN", f"{self.link.name}: link lost")
        state = controller_state(link_up, status.state if status else None,
                                 status.alarms if status else ConveyorAlarm(0),
                                 bool(self.latch))
        if self._must_hold():
            self._wake.set()
        if state is self._state:
            return
        log.info("line state %s -> %s", self._state.name, state.name)
        self._state = state
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        for callback in list(self._observers):
            try:
                callback(state)
            except Exception:  # an HMI observer's bug must not stop the line logic
                log.exception("state observer failed")

    def _latch(self, cause: str, text: str) -> None:
        if cause not in self.latch:
            log.warning("hold latched: %s: %s", cause, text)
            self.latch[cause] = text

    async def _record(self, user: str, cmd: PackMLCommand, detail: dict[str, Any]) -> None:
        try:
            await self.journal.record_action(user, f"command {cmd.name}", detail)
        except JournalError as err:
            self.alarms.raise_(AlarmCode.DATABASE_ERROR, f"operator action not recorded: {err}")
