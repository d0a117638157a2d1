"""The conveyor PLC ``CONV``: its program, as ``plc-conveyor-modbus.md`` describes it.

It holds the holding registers (it is the ``RegisterBank`` of the Modbus
server), runs the PackML state machine, the heartbeat watch, the event and
verdict rings, the tray tracking and the gate. The plant calls it when a tray
passes a sensor (``tray_entered`` ...); ``scan`` runs the cyclic part. All its
timing is real time; only the belt it drives runs at the speed factor.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from plateline.contract import (
    CmdResult,
    ConveyorAlarm,
    DivertTarget,
    EventType,
    PackMLCommand,
    PackMLState,
    UnitMode,
    VerdictCode,
)
from plateline.packml import ACTING_DONE, is_acting, transition
from plateline.simulators.modbus_server import (
    ILLEGAL_DATA_ADDRESS,
    ILLEGAL_DATA_VALUE,
    BankUnavailableError,
    ModbusExceptionError,
)

log = logging.getLogger(__name__)

S = PackMLState
A = ConveyorAlarm

# Holding registers (plc-conveyor-modbus.md; checked against maps/conv_modbus.toml by the tests).
HEARTBEAT_PLC, STATE, MODE, ALARMS, CMD_ACK, CMD_RESULT, SPEED_ACT = range(7)
COUNT_IN, COUNT_OUT, COUNT_REJ, BOOT_COUNT = 7, 9, 11, 13
HEARTBEAT_CTRL, CMD, CMD_SEQ, SPEED_SET, RECIPE_NO = 20, 21, 22, 23, 24
EV_WRITE, EV_READ, EV_BASE, EV_SLOTS = 100, 101, 104, 16
VD_WRITE, VD_READ, VD_BASE, VD_SLOTS = 200, 201, 204, 8
SLOT_SIZE = 4
MOD = 65536

_READABLE = (range(30), range(100, EV_BASE + EV_SLOTS * SLOT_SIZE),
             range(200, VD_BASE + VD_SLOTS * SLOT_SIZE))
_WRITABLE = frozenset([*range(20, 30), EV_READ, VD_WRITE,
                       *range(VD_BASE, VD_BASE + VD_SLOTS * SLOT_SIZE)])
_REGISTERS = VD_BASE + VD_SLOTS * SLOT_SIZE

#: Alarm bits that hold the line (and refuse Start / Unhold) while their cause lasts.
HOLD_CAUSES = (A.GUARD_DOOR | A.INFEED_JAM | A.GATE_JAM | A.AIR_PRESSURE_LOW
               | A.REJECT_BIN_FULL | A.EVENT_RING_OVERFLOW | A.CTRL_HEARTBEAT_LOST)
_COMMANDS = frozenset(int(c) for c in PackMLCommand)


@dataclass
class PlcConfig:
    """Settings of the simulated PLC. ``first_event_no`` / ``first_verdict_no`` are
    test hooks: where the ring counters start at the PLC's first start."""

    speed_factor: float = 1.0
    speed_set: int = 300
    acting_s: float = 0.2
    heartbeat_timeout_s: float | None = 1.0
    heartbeat_period_s: float = 0.1
    boot_count: int = 0
    first_event_no: int = 0
    first_verdict_no: int = 0
    standalone: bool = False


@dataclass
class PlcEvent:
    """One event; ``number`` is its absolute event number once written to the ring."""

    type: EventType
    tray: int
    arg: int = 0
    number: int | None = None


@dataclass
class _Tracked:
    verdict: tuple[int, int] | None = None  # (VERDICT, REASON) last taken since ENTERED


class ConveyorPlc:
    """The PLC program of ``CONV``. Not thread-safe: everything runs in one event loop."""

    def __init__(self, config: PlcConfig | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.config = config or PlcConfig()
        self._clock = clock
        self._regs = [0] * _REGISTERS
        self._regs[SPEED_SET] = self.config.speed_set
        self._boot = self.config.boot_count
        self._first_start = True
        self.powered = False
        self.state = S.UNDEFINED
        self._acting_since = 0.0
        self._next_hb = 0.0
        self._hb_last = 0
        self._hb_seen = False
        self._hb_at = 0.0
        self._seq_seen = 0
        self._event_no = 0
        self._pending: deque[PlcEvent] = deque()
        self._tracking: dict[int, _Tracked] = {}
        self._estop = False
        self._causes = A(0)
        self._verdict_error = False
        self.verdicts_stalled = False

    # ---- power --------------------------------------------------------------------
    def power_on(self) -> None:
        """Start the PLC program: BOOT_COUNT + 1, rings at 0, state Stopped."""
        keep = (self._regs[SPEED_SET], self._regs[RECIPE_NO])
        self._regs = [0] * _REGISTERS
        self._regs[SPEED_SET], self._regs[RECIPE_NO] = keep
        self._boot += 1
        self._regs[BOOT_COUNT] = self._boot % MOD
        self._regs[MODE] = UnitMode.PRODUCTION
        first_ev = self.config.first_event_no if self._first_start else 0
        first_vd = self.config.first_verdict_no if self._first_start else 0
        self._first_start = False
        self._event_no = first_ev
        self._regs[EV_WRITE] = self._regs[EV_READ] = first_ev % MOD
        self._regs[VD_WRITE] = self._regs[VD_READ] = first_vd % MOD
        self._pending.clear()
        self._tracking.clear()
        self._verdict_error = False
        self.verdicts_stalled = False
        now = self._clock()
        self._seq_seen = 0
        self._hb_last, self._hb_seen, self._hb_at = 0, False, now
        self._next_hb = now + self.config.heartbeat_period_s
        self.powered = True
        self._enter(S.STOPPED, now)
        self._update_alarms()
        log.info("CONV started, BOOT_COUNT %d", self._boot)

    def power_off(self) -> None:
        """The PLC stops (crash, power loss): it forgets its tracking and pending events."""
        self.powered = False
        self._pending.clear()
        self._tracking.clear()

    # ---- register bank ------------------------------------------------------------
    def read_registers(self, address: int, count: int) -> list[int]:
        if not self.powered:
            raise BankUnavailableError("CONV is down")
        end = address + count
        if not any(address in r and end - 1 in r for r in _READABLE):
            raise ModbusExceptionError(ILLEGAL_DATA_ADDRESS, f"HR {address}+{count}")
        return self._regs[address:end]

    def write_registers(self, address: int, values: list[int]) -> None:
        if not self.powered:
            raise BankUnavailableError("CONV is down")
        addresses = range(address, address + len(values))
        if any(a not in _WRITABLE for a in addresses):
            raise ModbusExceptionError(ILLEGAL_DATA_ADDRESS, f"HR {address}+{len(values)}")
        new = dict(zip(addresses, values))
        if EV_READ in new:
            moved = (new[EV_READ] - self._regs[EV_READ]) % MOD
            if moved > (self._regs[EV_WRITE] - self._regs[EV_READ]) % MOD:
                raise ModbusExceptionError(ILLEGAL_DATA_VALUE, "EV_READ backwards or past EV_WRITE")
        if VD_WRITE in new and (new[VD_WRITE] - self._regs[VD_READ]) % MOD > VD_SLOTS:
            raise ModbusExceptionError(ILLEGAL_DATA_VALUE, "more than 8 verdicts outstanding")
        for a, v in new.items():
            self._regs[a] = v
        if EV_READ in new:
            self._flush_events()

    def register(self, address: int) -> int:
        """Current value of one register (for tests and the panel)."""
        return self._regs[address]

    # ---- cyclic part ----------------------------------------------------------------
    def scan(self) -> None:
        """One PLC cycle: heartbeats, E-stop, commands, acting states, holds, verdicts."""
        if not self.powered:
            return
        now = self._clock()
        cfg = self.config
        if now >= self._next_hb:
            self._regs[HEARTBEAT_PLC] = (self._regs[HEARTBEAT_PLC] + 1) % MOD
            self._next_hb = max(self._next_hb + cfg.heartbeat_period_s, now)
        hb = self._regs[HEARTBEAT_CTRL]
        if hb != self._hb_last:
            self._hb_last, self._hb_seen, self._hb_at = hb, True, now
        if self._estop and self.state not in (S.ABORTING, S.ABORTED):
            self._enter(S.ABORTING, now)
        if self._regs[CMD_SEQ] != self._seq_seen:
            self._seq_seen = self._regs[CMD_SEQ]
            self._regs[CMD_RESULT] = self._command(self._regs[CMD], now)
            self._regs[CMD_ACK] = self._seq_seen
        if is_acting(self.state) and now - self._acting_since >= cfg.acting_s:
            self._enter(ACTING_DONE[self.state], now)
        self._update_alarms()
        if self._alarms() & HOLD_CAUSES and self.state in (S.EXECUTE, S.SUSPENDED):
            self._enter(S.HOLDING, now)
        if cfg.standalone:
            self._autorun(now)
        self._take_verdicts()
        self._update_alarms()
        self._regs[SPEED_ACT] = min(MOD - 1, round(self.belt_speed()))

    def _heartbeat_lost(self) -> bool:
        timeout = self.config.heartbeat_timeout_s
        if timeout is None or self.config.standalone:
            return False
        return not self._hb_seen or self._clock() - self._hb_at >= timeout

    def _alarms(self) -> A:
        bits = self._causes
        if self._estop:
            bits |= A.ESTOP
        if self._pending:
            bits |= A.EVENT_RING_OVERFLOW
        if self._heartbeat_lost():
            bits |= A.CTRL_HEARTBEAT_LOST
        if self._verdict_error:
            bits |= A.VERDICT_RING_ERROR
        return bits

    def _update_alarms(self) -> None:
        self._regs[ALARMS] = int(self._alarms())

    def _enter(self, state: S, now: float) -> None:
        if state is not self.state:
            log.debug("CONV %s -> %s", self.state.name, state.name)
        self.state = state
        self._regs[STATE] = int(state)
        self._acting_since = now

    def _command(self, code: int, now: float) -> int:
        if code not in _COMMANDS:
            return CmdResult.UNKNOWN_COMMAND
        command = PackMLCommand(code)
        target = transition(self.state, command)
        if target is None:
            return CmdResult.REFUSED
        if command in (PackMLCommand.START, PackMLCommand.UNHOLD) and self._alarms() & HOLD_CAUSES:
            return CmdResult.REFUSED
        if command is PackMLCommand.CLEAR and self._estop:
            return CmdResult.REFUSED
        if command is PackMLCommand.RESET:
            for reg in (COUNT_IN, COUNT_OUT, COUNT_REJ):
                self._regs[reg] = self._regs[reg + 1] = 0
            self._verdict_error = False
        self._enter(target, now)
        return CmdResult.TAKEN

    def _autorun(self, now: float) -> None:
        step = {S.STOPPED: PackMLCommand.RESET, S.IDLE: PackMLCommand.START,
                S.HELD: PackMLCommand.UNHOLD, S.ABORTED: PackMLCommand.CLEAR}.get(self.state)
        if step is not None:
            self._command(step, now)

    # ---- belt -------------------------------------------------------------------------
    @property
    def belt_running(self) -> bool:
        return self.powered and self.state is S.EXECUTE

    def belt_speed(self) -> float:
        """Actual belt speed in mm/s: SPEED_SET x speed factor in Execute, else 0."""
        if not self.belt_running:
            return 0.0
        return self._regs[SPEED_SET] * self.config.speed_factor

    # ---- sensors (called by the plant) ------------------------------------------------
    def tray_entered(self, tray: int) -> PlcEvent:
        self._tracking[tray] = _Tracked()
        self._bump(COUNT_IN)
        return self._emit(EventType.ENTERED, tray)

    def tray_at(self, event: EventType, tray: int) -> PlcEvent:
        return self._emit(event, tray)

    def tray_at_gate(self, tray: int) -> tuple[DivertTarget, tuple[int, int] | None, PlcEvent]:
        """Divert: outfeed only when the last verdict taken since ENTERED is PASS."""
        tracked = self._tracking.pop(tray, None)
        verdict = tracked.verdict if tracked else None
        passed = verdict is not None and verdict[0] == VerdictCode.PASS
        target = DivertTarget.OUTFEED if passed else DivertTarget.REJECT_BIN
        self._bump(COUNT_OUT if passed else COUNT_REJ)
        return target, verdict, self._emit(EventType.DIVERTED, tray, int(target))

    def tray_lost(self, tray: int) -> PlcEvent:
        self._tracking.pop(tray, None)
        return self._emit(EventType.LOST, tray)

    def _bump(self, reg: int) -> None:
        value = ((self._regs[reg] << 16 | self._regs[reg + 1]) + 1) % (1 << 32)
        self._regs[reg], self._regs[reg + 1] = value >> 16, value & 0xFFFF

    # ---- event ring ---------------------------------------------------------------------
    def _emit(self, etype: EventType, tray: int, arg: int = 0) -> PlcEvent:
        event = PlcEvent(etype, tray, arg)
        self._pending.append(event)
        self._flush_events()
        return event

    def _flush_events(self) -> None:
        regs = self._regs
        while self._pending and (regs[EV_WRITE] - regs[EV_READ]) % MOD < EV_SLOTS:
            event = self._pending.popleft()
            n = self._event_no
            self._event_no += 1
            base = EV_BASE + SLOT_SIZE * (n % EV_SLOTS)
            regs[base:base + SLOT_SIZE] = [n % MOD, int(event.type), event.tray, event.arg]
            regs[EV_WRITE] = (n + 1) % MOD
            event.number = n
            if self.config.standalone:
                regs[EV_READ] = regs[EV_WRITE]
        if self._pending and self.state in (S.EXECUTE, S.SUSPENDED):
            self._enter(S.HOLDING, self._clock())
        self._update_alarms()

    # ---- verdict ring -------------------------------------------------------------------
    def _take_verdicts(self) -> None:
        regs = self._regs
        while not self.verdicts_stalled and regs[VD_READ] != regs[VD_WRITE]:
            n = regs[VD_READ]
            base = VD_BASE + SLOT_SIZE * (n % VD_SLOTS)
            seq, tray, verdict, reason = regs[base:base + SLOT_SIZE]
            if seq != n or verdict not in (VerdictCode.PASS, VerdictCode.REJECT):
                if not self._verdict_error:
                    log.warning("CONV verdict slot %d bad (SEQ %d, VERDICT %d)", n, seq, verdict)
                self._verdict_error = True
                return
            tracked = self._tracking.get(tray)
            if tracked is not None:
                tracked.verdict = (verdict, reason)
            regs[VD_READ] = (n + 1) % MOD

    # ---- panel and faults -----------------------------------------------------------------
    @property
    def boot_count(self) -> int:
        return self._boot

    @property
    def alarms(self) -> ConveyorAlarm:
        return self._alarms()

    @property
    def estop_pressed(self) -> bool:
        return self._estop

    def press_estop(self) -> None:
        self._estop = True
        if self.powered and self.state not in (S.ABORTING, S.ABORTED):
            self._enter(S.ABORTING, self._clock())
        self._update_alarms()

    def release_estop(self) -> None:
        self._estop = False
        self._update_alarms()

    def set_cause(self, alarm: ConveyorAlarm, active: bool) -> None:
        """Raise or clear a field cause of alarm bits 1-5 (jam, guard door, ...)."""
        if alarm & ~(A.GUARD_DOOR | A.INFEED_JAM | A.GATE_JAM | A.AIR_PRESSURE_LOW
                     | A.REJECT_BIN_FULL):
            raise ValueError(f"{alarm!r} is not a field cause")
        self._causes = (self._causes | alarm) if active else (self._causes & ~alarm)
        if active and self.powered and self.state in (S.EXECUTE, S.SUSPENDED):
            self._enter(S.HOLDING, self._clock())
        self._update_alarms()

    def force_state(self, state: PackMLState) -> None:
        """Test hook: put the state machine in ``state`` directly."""
        self._enter(state, self._clock())

    def tracked_trays(self) -> list[int]:
        return sorted(self._tracking)
