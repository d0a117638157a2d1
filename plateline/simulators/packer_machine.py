"""The packaging machine ``PACK``: its PLC program, as ``plc-packer-opcua.md`` describes it.

It owns the values of every node (by path), runs the PackML state machine with
the CntrlCmd / CmdChangeRequest handshake, checks parameter writes, counts packs,
and makes one seal result per ``pack()``. It knows nothing of OPC UA: every value
it changes goes to ``publish(path, value)`` in order, and the server layer mirrors
that into the address space. Timing is real time (``scan`` does the cyclic part).
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from plateline.contract import PackMLCommand, PackMLState, UnitMode
from plateline.errors import PlatelineError
from plateline.packml import ACTING_DONE, is_acting, transition

log = logging.getLogger(__name__)

S = PackMLState
C = PackMLCommand

NAMESPACE = "urn:plateline:packer"
NodeType = Literal["Int32", "UInt32", "Float", "Boolean", "String"]
PACK_FIELDS = 4
RECENT_PACKS = 32


@dataclass(frozen=True, slots=True)
class NodeDef:
    """One node of the contract: path (= string NodeId), type, whether clients may write it."""

    path: str
    type: NodeType
    writable: bool = False
    length: int | None = None


# plc-packer-opcua.md, in its order.
NODES: tuple[NodeDef, ...] = (
    NodeDef("Packer.Status.StateCurrent", "Int32"),
    NodeDef("Packer.Status.UnitModeCurrent", "Int32"),
    NodeDef("Packer.Status.CurMachSpeed", "Float"),
    NodeDef("Packer.Status.Heartbeat", "UInt32"),
    NodeDef("Packer.Command.CntrlCmd", "Int32", writable=True),
    NodeDef("Packer.Command.CmdChangeRequest", "Boolean", writable=True),
    NodeDef("Packer.Command.MachSpeed", "Float", writable=True),
    NodeDef("Packer.Command.Parameter.BagLengthMm", "Float", writable=True),
    NodeDef("Packer.Command.Parameter.SealTempC", "Float", writable=True),
    NodeDef("Packer.Command.Parameter.RecipeNo", "Int32", writable=True),
    NodeDef("Packer.Status.RecipeNo", "Int32"),
    NodeDef("Packer.Admin.ProdProcessedCount", "Int32"),
    NodeDef("Packer.Admin.ProdDefectiveCount", "Int32"),
    NodeDef("Packer.Admin.StopReason", "Int32"),
    NodeDef("Packer.Admin.AlarmMessage", "String"),
    NodeDef("Packer.Result.LastPack", "Int32", length=PACK_FIELDS),
    NodeDef("Packer.Result.Recent", "Int32", length=PACK_FIELDS * RECENT_PACKS),
)
NODE_BY_PATH: dict[str, NodeDef] = {n.path: n for n in NODES}

STATE = "Packer.Status.StateCurrent"
MODE = "Packer.Status.UnitModeCurrent"
CUR_SPEED = "Packer.Status.CurMachSpeed"
HEARTBEAT = "Packer.Status.Heartbeat"
CNTRL_CMD = "Packer.Command.CntrlCmd"
CHANGE_REQUEST = "Packer.Command.CmdChangeRequest"
MACH_SPEED = "Packer.Command.MachSpeed"
BAG_LENGTH = "Packer.Command.Parameter.BagLengthMm"
SEAL_TEMP = "Packer.Command.Parameter.SealTempC"
RECIPE_NO = "Packer.Command.Parameter.RecipeNo"
RECIPE_NO_ACT = "Packer.Status.RecipeNo"
PROCESSED = "Packer.Admin.ProdProcessedCount"
DEFECTIVE = "Packer.Admin.ProdDefectiveCount"
STOP_REASON = "Packer.Admin.StopReason"
ALARM_MESSAGE = "Packer.Admin.AlarmMessage"
LAST_PACK = "Packer.Result.LastPack"
RECENT = "Packer.Result.Recent"

#: Parameter limits (inclusive); MachSpeed may change in any state, the others only in
#: Stopped, Idle or Held.
LIMITS: dict[str, tuple[float, float]] = {
    MACH_SPEED: (0.0, 1000.0),
    BAG_LENGTH: (80.0, 400.0),
    SEAL_TEMP: (120.0, 220.0),
    RECIPE_NO: (0, 2**31 - 1),
}
PARAMETERS = frozenset({BAG_LENGTH, SEAL_TEMP, RECIPE_NO})
PARAMETER_STATES = frozenset({S.STOPPED, S.IDLE, S.HELD})
_UINT32 = 2**32
_INT32_MAX = 2**31 - 1


class WriteRefused(PlatelineError):
    """A client write the machine does not take; ``status`` is the OPC UA status name."""

    def __init__(self, status: str, detail: str):
        self.status = status
        super().__init__(f"{status}: {detail}")


class PackerNotExecuting(PlatelineError):
    """``pack()`` while the machine is not in Execute (or is switched off): no pack made."""


@dataclass
class PackerConfig:
    """Settings of the simulated packer (acting states take ``acting_s``)."""

    acting_s: float = 0.2
    heartbeat_period_s: float = 0.1
    mach_speed: float = 45.0
    bag_length_mm: float = 220.0
    seal_temp_c: float = 180.0
    recipe_no: int = 0


@dataclass(frozen=True, slots=True)
class PackRecord:
    """One pack as the machine reports it: ``[SEQUENCE, TRAY, SEAL_OK, SEAL_TEMP_DECI_C]``."""

    sequence: int
    tray: int
    seal_ok: bool
    seal_temp_deci_c: int

    def values(self) -> list[int]:
        return [self.sequence, self.tray, int(self.seal_ok), self.seal_temp_deci_c]


Publish = Callable[[str, Any], None]


class PackerMachine:
    """The PLC program of ``PACK``. Not thread-safe: everything runs in one event loop."""

    def __init__(self, config: PackerConfig | None = None, *,
                 clock: Callable[[], float] = time.monotonic, publish: Publish | None = None):
        self.config = config or PackerConfig()
        self._clock = clock
        self._publish: Publish = publish or (lambda path, value: None)
        self.values: dict[str, Any] = {n.path: _zero(n) for n in NODES}
        self.values[MACH_SPEED] = self.config.mach_speed
        self.values[BAG_LENGTH] = self.config.bag_length_mm
        self.values[SEAL_TEMP] = self.config.seal_temp_c
        self.values[RECIPE_NO] = self.config.recipe_no
        self.powered = False
        self._recent: deque[PackRecord] = deque(maxlen=RECENT_PACKS)
        self._sequence = 0
        self._acting_since = 0.0
        self._next_heartbeat = 0.0
        self._alarm_abort = False

    def set_publisher(self, publish: Publish) -> None:
        self._publish = publish

    # ---- power ----------------------------------------------------------------------
    def power_on(self) -> None:
        """Start the program: Stopped, results and counters zeroed, parameters kept."""
        for path in (STATE, CUR_SPEED, HEARTBEAT, CNTRL_CMD, CHANGE_REQUEST, PROCESSED,
                     DEFECTIVE, STOP_REASON, ALARM_MESSAGE):
            self.values[path] = _zero(NODE_BY_PATH[path])
        self.values[MODE] = int(UnitMode.PRODUCTION)
        self.values[RECIPE_NO_ACT] = self.values[RECIPE_NO]
        self._zero_results(publish=False)
        self._alarm_abort = False
        now = self._clock()
        self._next_heartbeat = now + self.config.heartbeat_period_s
        self.powered = True
        self._enter(S.STOPPED, now)
        log.info("PACK started")

    def power_off(self) -> None:
        """The machine's controller stops (crash, restart): it stops answering."""
        self.powered = False

    @property
    def state(self) -> PackMLState:
        return PackMLState(self.values[STATE])

    @property
    def sequence(self) -> int:
        """SEQUENCE of the newest pack (0 after Reset)."""
        return self._sequence

    def recent(self) -> list[PackRecord]:
        return list(self._recent)

    # ---- client writes -------------------------------------------------------------
    def check_write(self, path: str, value: Any) -> None:
        """Refuse a client write (WriteRefused with BadOutOfRange / BadInvalidState ...)."""
        node = NODE_BY_PATH.get(path)
        if node is None or not node.writable:
            raise WriteRefused("BadNotWritable", path)
        if not self.powered:
            raise WriteRefused("BadInvalidState", "machine is not running")
        limits = LIMITS.get(path)
        if limits is not None:
            lo, hi = limits
            if (isinstance(value, float) and not math.isfinite(value)) or not lo <= value <= hi:
                raise WriteRefused("BadOutOfRange", f"{path} = {value!r} outside {lo:g}..{hi:g}")
        if path in PARAMETERS and self.state not in PARAMETER_STATES:
            raise WriteRefused("BadInvalidState",
                               f"{path} can change only in Stopped, Idle or Held, "
                               f"not in {self.state.name}")

    def write(self, path: str, value: Any) -> None:
        """Apply a client write that ``check_write`` accepted."""
        self._set(path, value)
        if path == RECIPE_NO:
            self._set(RECIPE_NO_ACT, value)
        if path == MACH_SPEED:
            self._update_speed()

    # ---- cyclic part ----------------------------------------------------------------
    def scan(self) -> None:
        """One PLC cycle: heartbeat, the command handshake, acting states, actual speed."""
        if not self.powered:
            return
        now = self._clock()
        if now >= self._next_heartbeat:
            self._set(HEARTBEAT, (self.values[HEARTBEAT] + 1) % _UINT32)
            self._next_heartbeat = max(self._next_heartbeat + self.config.heartbeat_period_s, now)
        if self.values[CHANGE_REQUEST]:
            self._take_command(self.values[CNTRL_CMD], now)
            self._set(CHANGE_REQUEST, False)
        if is_acting(self.state) and now - self._acting_since >= self.config.acting_s:
            self._enter(ACTING_DONE[self.state], now)
        self._update_speed()

    def _take_command(self, code: int, now: float) -> None:
        try:
            command = PackMLCommand(code)
        except ValueError:
            log.warning("PACK: CntrlCmd %r is not a command", code)
            return
        target = transition(self.state, command)
        alarm = self.values[STOP_REASON] != 0
        if target is None or (alarm and command in (C.START, C.UNHOLD)) or (
                self._alarm_abort and alarm and command is C.CLEAR):
            log.info("PACK: %s refused in %s", command.name, self.state.name)
            return
        if command is C.RESET:
            self._zero_results(publish=True)
        self._enter(target, now)

    # ---- the plant ----------------------------------------------------------------------
    def pack(self, tray: int, seal_ok: bool, temp_deci_c: int) -> PackRecord:
        """Make one pack (only in Execute): LastPack and Recent updated, SEQUENCE + 1."""
        if isinstance(tray, bool) or not isinstance(tray, int) or not 0 <= tray <= _INT32_MAX:
            raise ValueError(f"tray {tray!r} is not a tray id")
        if isinstance(temp_deci_c, bool) or not isinstance(temp_deci_c, int) or \
                abs(temp_deci_c) > _INT32_MAX:
            raise ValueError(f"temperature {temp_deci_c!r} is not an Int32 (deci-degrees C)")
        if not self.powered or self.state is not S.EXECUTE:
            state = self.state.name if self.powered else "switched off"
            raise PackerNotExecuting(f"PACK is {state}: tray {tray} passes unpacked")
        if self._sequence >= _INT32_MAX:
            raise PackerNotExecuting("SEQUENCE exhausted: Reset the packer")
        self._sequence += 1
        record = PackRecord(self._sequence, tray, bool(seal_ok), temp_deci_c)
        self._recent.append(record)
        self._set(RECENT, self._recent_values(), force=True)
        self._set(LAST_PACK, record.values(), force=True)
        self._set(PROCESSED, min(self.values[PROCESSED] + 1, _INT32_MAX))
        if not record.seal_ok:
            self._set(DEFECTIVE, min(self.values[DEFECTIVE] + 1, _INT32_MAX))
        return record

    def alarm(self, number: int, message: str, *, abort: bool = False) -> None:
        """Raise an alarm: StopReason / AlarmMessage set, the machine holds (or aborts)."""
        if number <= 0:
            raise ValueError("alarm numbers start at 1")
        self._set(STOP_REASON, number)
        self._set(ALARM_MESSAGE, message)
        self._alarm_abort = abort
        if not self.powered:
            return
        target = transition(self.state, C.ABORT if abort else C.HOLD)
        if target is not None:
            self._enter(target, self._clock())

    def clear_alarm(self) -> None:
        """The cause is gone: StopReason 0, AlarmMessage empty (the state stays)."""
        self._set(STOP_REASON, 0)
        self._set(ALARM_MESSAGE, "")
        self._alarm_abort = False

    def force_state(self, state: PackMLState) -> None:
        """Test hook: put the state machine in ``state`` directly."""
        self._enter(state, self._clock())

    # ---- internals ------------------------------------------------------------------
    def _zero_results(self, *, publish: bool) -> None:
        self._sequence = 0
        self._recent.clear()
        for path in (LAST_PACK, RECENT, PROCESSED, DEFECTIVE):
            if publish:
                self._set(path, _zero(NODE_BY_PATH[path]))
            else:
                self.values[path] = _zero(NODE_BY_PATH[path])

    def _recent_values(self) -> list[int]:
        values = [0] * (PACK_FIELDS * (RECENT_PACKS - len(self._recent)))
        for record in self._recent:
            values.extend(record.values())
        return values

    def _update_speed(self) -> None:
        speed = float(self.values[MACH_SPEED]) if self.state is S.EXECUTE else 0.0
        self._set(CUR_SPEED, speed)

    def _enter(self, state: PackMLState, now: float) -> None:
        if state is not self.state:
            log.debug("PACK %s -> %s", self.state.name, state.name)
        self._set(STATE, int(state))
        self._acting_since = now
        self._update_speed()

    def _set(self, path: str, value: Any, *, force: bool = False) -> None:
        if not force and self.values[path] == value:
            return
        self.values[path] = value
        self._publish(path, value)


def _zero(node: NodeDef) -> Any:
    if node.length is not None:
        return [0] * node.length
    return {"Int32": 0, "UInt32": 0, "Float": 0.0, "Boolean": False, "String": ""}[node.type]
