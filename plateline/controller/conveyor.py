"""The conveyor PLC ``CONV`` as the controller sees it, by tag name only.

``ConveyorLink`` runs the controller heartbeat, polls the status block, watches
the PLC heartbeat (unchanged for ``plc_heartbeat_timeout_s``: the PLC is lost) and
sends PackML commands with the CMD_SEQ handshake. Register numbers and ring
geometry come from the tag map.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from plateline.contract import (
    SEQ_MODULO,
    CmdResult,
    ConveyorAlarm,
    PackMLCommand,
    PackMLState,
    UnitMode,
)
from plateline.controller.alarms import AlarmCode, Alarms, Severity, plc_alarm_code
from plateline.controller.ports import TagClient
from plateline.controller.settings import ControllerSettings
from plateline.drivers.supervisor import LinkState, LinkSupervisor
from plateline.drivers.tagmap import Ring, TagMap
from plateline.errors import DeviceError, DeviceTimeoutError

log = logging.getLogger(__name__)
T = TypeVar("T")

STATUS_TAGS = ("HEARTBEAT_PLC", "STATE", "MODE", "ALARMS", "CMD_ACK", "CMD_RESULT",
               "SPEED_ACT", "COUNT_IN", "COUNT_OUT", "COUNT_REJ", "BOOT_COUNT")
COMMAND_TAGS = ("HEARTBEAT_CTRL", "CMD", "CMD_SEQ")
RINGS = ("event", "verdict")
_SPEED_HISTORY_S = 5.0


@dataclass(frozen=True)
class ConveyorStatus:
    """One reading of the PLC's status block; ``at`` is ``time.monotonic()`` of the read."""

    heartbeat: int
    state: PackMLState
    mode: UnitMode
    alarms: ConveyorAlarm
    cmd_ack: int
    cmd_result: CmdResult
    speed_mm_s: int
    count_in: int
    count_out: int
    count_rej: int
    boot_count: int
    at: float

    @classmethod
    def from_tags(cls, v: dict[str, int], at: float) -> ConveyorStatus:
        return cls(v["HEARTBEAT_PLC"], PackMLState(v["STATE"]), UnitMode(v["MODE"]),
                   ConveyorAlarm(v["ALARMS"]), v["CMD_ACK"], CmdResult(v["CMD_RESULT"]),
                   v["SPEED_ACT"], v["COUNT_IN"], v["COUNT_OUT"], v["COUNT_REJ"],
                   v["BOOT_COUNT"], at)


Observer = Callable[[], None]


class ConveyorLink:
    """Heartbeat, status, PLC watch and commands of ``CONV`` over a supervised link."""

    def __init__(self, supervisor: LinkSupervisor[Any], tag_map: TagMap,
                 settings: ControllerSettings, alarms: Alarms, *, name: str = "CONV") -> None:
        tag_map.require(tags=STATUS_TAGS, rings=RINGS, writable=COMMAND_TAGS)
        tag_map.require(writable=(tag_map.ring("event").read, tag_map.ring("verdict").write))
        self.name = name
        self.supervisor = supervisor
        self.tag_map = tag_map
        self.settings = settings
        self.alarms = alarms
        self.status: ConveyorStatus | None = None
        self._hb_changed_at: float | None = None
        self._plc_alive = False
        self._speeds: deque[tuple[float, int]] = deque()
        self._last_running_speed: int | None = None
        self._cmd_lock = asyncio.Lock()
        self._observers: list[Observer] = []
        self._heartbeat = 0
        self._last_alarm_bits = ConveyorAlarm(0)
        supervisor.add_observer(self._on_link)

    # -- public --------------------------------------------------------------------

    def ring(self, name: str) -> Ring:
        """Geometry and header tag names of a ring, from the map."""
        return self.tag_map.ring(name)

    @property
    def link_state(self) -> LinkState:
        return self.supervisor.state

    @property
    def plc_alive(self) -> bool:
        """Link up and the PLC heartbeat moving."""
        return self._plc_alive

    @property
    def plc_lost(self) -> bool:
        """Link up, a status read since, and HEARTBEAT_PLC standing still too long."""
        return (self.supervisor.state is LinkState.UP and self._hb_changed_at is not None
                and not self._plc_alive)

    @property
    def usable(self) -> bool:
        return self.supervisor.state is LinkState.UP and self._plc_alive

    @property
    def boot_count(self) -> int | None:
        return self.status.boot_count if self.status else None

    def add_observer(self, callback: Observer) -> Callable[[], None]:
        """Call ``callback()`` when the link, the PLC watch or the status changes."""
        self._observers.append(callback)
        return lambda: self._observers.remove(callback) if callback in self._observers else None

    async def call(self, op: Callable[[TagClient], Awaitable[T]]) -> T:
        """Run ``op(client)`` on the current client; a broken link is reported."""
        return await self.supervisor.use(op)

    async def read(self, *names: str) -> dict[str, int]:
        """Read tags by name."""
        return await self.call(lambda c: c.read_tags(*names))

    async def write(self, values: Mapping[str, int]) -> None:
        """Write tags by name (contiguous ones in one request)."""
        await self.call(lambda c: c.write_tags(values))

    async def wait_usable(self) -> None:
        """Wait until the link is up and the PLC heartbeat moves."""
        while not self.usable:
            changed = asyncio.Event()
            remove = self.add_observer(changed.set)
            try:
                await changed.wait()
            finally:
                remove()

    def max_speed_since(self, since: float) -> int | None:
        """Highest SPEED_ACT read from the poll before ``since`` on; None if unknown."""
        best: int | None = None
        before: int | None = None
        for at, speed in self._speeds:
            if at < since:
                before = speed
                continue
            best = speed if best is None else max(best, speed)
        if before is not None:
            best = before if best is None else max(best, before)
        return best

    def window_speed(self, since: float) -> int | None:
        """The belt speed a station window opened at ``since`` is taken at: the highest
        SPEED_ACT read since, or, when every read said stopped, the last speed the belt
        ran at (an event proves the belt moves: it started between two status reads
        after a stop); None when the belt was never seen running."""
        speed = self.max_speed_since(since)
        return speed if speed else self._last_running_speed

    async def send_command(self, cmd: PackMLCommand) -> CmdResult:
        """Send a PackML command: CMD and CMD_SEQ in one write, wait for CMD_ACK.

        CMD_SEQ continues from the PLC's CMD_ACK, so a new connection or a
        restarted controller never repeats a sequence number the PLC has taken.
        DeviceTimeoutError when the PLC does not take it within ``command_timeout_s``.
        """
        async with self._cmd_lock:
            ack = (await self.read("CMD_ACK"))["CMD_ACK"]
            seq = (ack + 1) % SEQ_MODULO
            await self.write({"CMD": int(cmd), "CMD_SEQ": seq})
            log.info("%s: command %s sent (CMD_SEQ %d)", self.name, cmd.name, seq)
            try:
                async with asyncio.timeout(self.settings.command_timeout_s):
                    while True:
                        v = await self.read("CMD_ACK", "CMD_RESULT")
                        if v["CMD_ACK"] == seq:
                            result = CmdResult(v["CMD_RESULT"])
                            log.info("%s: command %s: %s", self.name, cmd.name, result.name)
                            return result
                        await asyncio.sleep(min(0.01, self.settings.status_poll_s))
            except TimeoutError as err:
                raise DeviceTimeoutError(f"command {cmd.name} not taken", device=self.name,
                                         detail=f"CMD_SEQ {seq}") from err

    # -- background ------------------------------------------------------------------

    async def run(self) -> None:
        """Heartbeat writer and status poller; runs until cancelled."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._heartbeat_loop(), name=f"{self.name} heartbeat")
            tg.create_task(self._status_loop(), name=f"{self.name} status")

    async def _heartbeat_loop(self) -> None:
        while True:
            if self.supervisor.state is LinkState.UP:
                value = (self._heartbeat + 1) % SEQ_MODULO
                try:
                    await self.write({"HEARTBEAT_CTRL": value})
                    self._heartbeat = value
                except DeviceError as err:
                    log.debug("%s: heartbeat write failed: %s", self.name, err)
            await asyncio.sleep(self.settings.heartbeat_period_s)

    async def _status_loop(self) -> None:
        while True:
            if self.supervisor.state is LinkState.UP:
                try:
                    at = time.monotonic()
                    values = await self.read(*STATUS_TAGS)
                    self._on_status(ConveyorStatus.from_tags(values, at))
                except DeviceError as err:
                    log.debug("%s: status read failed: %s", self.name, err)
            self._watch()
            await asyncio.sleep(self.settings.status_poll_s)

    def _on_status(self, status: ConveyorStatus) -> None:
        prev = self.status
        if prev is None or prev.heartbeat != status.heartbeat or self._hb_changed_at is None:
            self._hb_changed_at = status.at
        if prev is not None and prev.boot_count != status.boot_count:
            log.warning("%s: BOOT_COUNT %d -> %d: the PLC restarted", self.name,
                        prev.boot_count, status.boot_count)
        self.status = status
        self._speeds.append((status.at, status.speed_mm_s))
        if status.speed_mm_s > 0:
            self._last_running_speed = status.speed_mm_s
        while self._speeds and self._speeds[0][0] < status.at - _SPEED_HISTORY_S:
            self._speeds.popleft()
        self._mirror_alarms(status.alarms)
        if prev is None or (prev.state, prev.alarms, prev.mode, prev.boot_count) != (
                status.state, status.alarms, status.mode, status.boot_count):
            self._notify()

    def _watch(self) -> None:
        """Evaluate the PLC heartbeat watch (also when reads fail)."""
        up = self.supervisor.state is LinkState.UP
        fresh = (self._hb_changed_at is not None and
                 time.monotonic() - self._hb_changed_at < self.settings.plc_heartbeat_timeout_s)
        alive = up and fresh
        if alive == self._plc_alive:
            return
        self._plc_alive = alive
        if alive:
            self.alarms.clear(AlarmCode.PLC_HEARTBEAT_LOST)
            log.info("%s: PLC heartbeat moving", self.name)
        elif up and self._hb_changed_at is not None:
            self.alarms.raise_(AlarmCode.PLC_HEARTBEAT_LOST,
                               f"{self.name}: HEARTBEAT_PLC unchanged for "
                               f"{self.settings.plc_heartbeat_timeout_s:g} s")
        self._notify()

    def _mirror_alarms(self, bits: ConveyorAlarm) -> None:
        if bits == self._last_alarm_bits:
            return
        for bit in ConveyorAlarm:
            if bits & bit and not self._last_alarm_bits & bit:
                severity = Severity.WARNING if bit in (ConveyorAlarm.REJECT_BIN_FULL,
                                                       ConveyorAlarm.AIR_PRESSURE_LOW) \
                    else Severity.FAULT
                self.alarms.raise_(plc_alarm_code(bit), f"{self.name}: {bit.name}",
                                   severity=severity)
            elif not bits & bit and self._last_alarm_bits & bit:
                self.alarms.clear(plc_alarm_code(bit))
        self._last_alarm_bits = bits

    def _on_link(self, state: LinkState, err: BaseException | None) -> None:
        if state is LinkState.UP:
            self._hb_changed_at = None
            self.alarms.clear(AlarmCode.LINK_DOWN)
        elif state in (LinkState.DOWN, LinkState.CONNECTING) and self.status is not None:
            self.alarms.raise_(AlarmCode.LINK_DOWN, f"{self.name}: link {state.value}"
                               + (f" ({err})" if err else ""))
        self._watch()
        self._notify()

    def _notify(self) -> None:
        for callback in list(self._observers):
            try:
                callback()
            except Exception:  # an observer's bug must not stop the PLC watch
                log.exception("%s: observer failed", self.name)

