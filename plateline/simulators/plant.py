"""The plant: trays on a belt in simulated time, driven by the conveyor PLC.

Every few milliseconds (real time) the belt advances by elapsed time x the
PLC's actual belt speed (SPEED_SET x speed factor, in Execute only). Trays enter
at their scenario pitch and pass the sensors in belt order; everything that
happens on the belt (events, the gate, positional faults) happens at an exact
belt position, so a scenario runs the same at any speed factor. What is not tied
to the belt (heartbeats, acting states, fault durations, the controller's
answers) stays real time: that jitter is the only non-determinism.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, Self

from plateline.contract import ConveyorAlarm, DivertTarget, EventType, PackMLState
from plateline.errors import ConfigError, PlatelineError
from plateline.simulators._aio import cancel_and_wait
from plateline.simulators.conveyor import ConveyorPlc
from plateline.simulators.layout import (
    GATE_MM,
    LABELER_MM,
    PACKER_MM,
    SCALE_DYNAMIC_MM,
    SCALE_MM,
    SCALE_REST_MM,
    SCALE_SETTLE_S,
    STATION_EVENTS,
    VIEW_STATIONS,
    WINDOW_MM,
    carrier_of,
)
from plateline.simulators.scale import ScaleView
from plateline.simulators.scenario import PRINTER_STRETCHES, FaultSpec, Scenario
from plateline.simulators.truth import LOST, OUTFEED, REJECT_BIN, TruthRecorder
from plateline.simulators.views import CameraView, ScanView

if TYPE_CHECKING:
    from plateline.drivers.zpl import ParsedLabel
    from plateline.simulators.packer_machine import PackerMachine

log = logging.getLogger(__name__)

_ENTER, _STATION, _GATE, _FAULT, _STALL_END, _PACK, _LABEL_END, _PRINTER_END = range(8)
#: Default seal jaw temperature when the packer has none set (deg C).
_SEAL_TEMP_PATH = "Packer.Command.Parameter.SealTempC"


class LinkControl(Protocol):
    """The network side of the PLC (its Modbus server)."""

    def drop_connections(self, duration_s: float) -> None: ...


class PackerControl(Protocol):
    """What the plant needs of the packer ``PACK`` (``PackerSim``)."""

    @property
    def machine(self) -> PackerMachine: ...

    def pack(self, tray: int, seal_ok: bool, temp_deci_c: int) -> object: ...

    def restart(self, down_s: float) -> object: ...

    def drop_sessions(self) -> object: ...


PrinterFault = Literal["paper_out", "paused", "head_open", "ribbon_out", "silent"]


class PrinterControl(Protocol):
    """What the plant needs of the label printer ``P1`` (``PrinterSim``)."""

    def set_fault(self, fault: PrinterFault, active: bool = True) -> None: ...

    def set_misprint(self, enabled: bool = True, *, labels: int | None = 1) -> None: ...


@dataclass(order=True)
class _Point:
    """Something that happens when the belt odometer reaches ``odo``.

    At one odometer value, belt events come before faults and downstream trays
    before upstream ones.
    """

    odo: float
    rank: int
    downstream: float
    order: int
    what: int = field(compare=False)
    serial: int = field(compare=False)
    event: EventType | None = field(default=None, compare=False)
    fault: FaultSpec | None = field(default=None, compare=False)


@dataclass
class _Tray:
    serial: int
    carrier: int
    entry: float
    state: str = "waiting"  # waiting | on_belt | closed


class Plant:
    """Belt, trays and faults of one scenario, driving ``plc``; async context manager."""

    def __init__(self, scenario: Scenario, plc: ConveyorPlc, *, truth: TruthRecorder,
                 seed: int | None = None, link: LinkControl | None = None,
                 tick_s: float = 0.005, max_step_s: float = 0.012,
                 clock: Callable[[], float] = time.monotonic):
        for serial in range(1, len(scenario.trays) + 1):
            scenario.expected(serial)  # every tray must say what it should end in
        self.scenario = scenario
        self.plc = plc
        self.truth = truth
        self.seed = scenario.seed if seed is None else seed
        self.link = link
        self.odometer = 0.0
        self._tick_s = tick_s
        self._max_step_s = max_step_s
        self._clock = clock
        self._trays = {n: _Tray(n, carrier_of(n), scenario.entry_mm(n))
                       for n in range(1, len(scenario.trays) + 1)}
        self._on_belt: dict[int, _Tray] = {}
        self._counter = itertools.count()
        self._points: list[_Point] = []
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._task: asyncio.Task[None] | None = None
        self._last = 0.0
        self._all_done = asyncio.Event()
        self._failure: Exception | None = None
        self.stations = truth.stations
        self.packer: PackerControl | None = None
        self.printer: PrinterControl | None = None
        self._stopped_at: float | None = None
        self._printer_faults: dict[str, int] = {}
        self._misprint_for: int | None = None
        self._labels: dict[int, ParsedLabel | None] = {}
        self.stray_labels = 0
        for tray in self._trays.values():
            self._push(tray.entry, 0, _ENTER, tray.serial, 0.0)
        for fault in scenario.faults:
            if fault.at_mm is not None:
                self._push(scenario.entry_mm(fault.tray) + fault.at_mm, 1, _FAULT, fault.tray,
                           0.0, fault=fault)

    def attach_packer(self, packer: PackerControl) -> None:
        """Trays leaving the packer are packed by ``packer`` from now on."""
        self.packer = packer

    def attach_printer(self, printer: PrinterControl) -> None:
        """Scenario printer faults and misprints go to ``printer`` from now on."""
        self.printer = printer
        for fault, count in self._printer_faults.items():
            printer.set_fault(fault, count > 0)  # type: ignore[arg-type]

    # ---- life cycle -----------------------------------------------------------------------
    async def start(self) -> None:
        if not self.plc.powered:
            self.plc.power_on()
        self._last = self._clock()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="plant")

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the belt loop; safe to call twice."""
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        try:
            while True:
                await asyncio.sleep(self._tick_s)
                self.step()
        except Exception as err:
            log.exception("the plant stopped")
            self._failure = err
            self._all_done.set()
            raise

    async def wait_all_trays_done(self, timeout: float | None) -> None:
        """Wait until every tray of the scenario has left the belt (diverted or lost)."""
        async with asyncio.timeout(timeout):
            await self._all_done.wait()
        if self._failure is not None:
            raise PlatelineError("the simulated plant stopped") from self._failure

    # ---- one tick ----------------------------------------------------------------------------
    def step(self) -> None:
        now = self._clock()
        # A late tick (the simulator's own loop stalled) moves the belt by little more
        # than a tick's travel: trays never jump past a station's window because the
        # simulator lagged; the belt waits for it instead.
        dt = min(now - self._last, self._max_step_s)
        self._last = now
        while self._timers and self._timers[0][0] <= now:
            _, _, action = heapq.heappop(self._timers)
            action()
        self.plc.scan()
        speed = self.plc.belt_speed()
        if speed > 0:
            self._stopped_at = None
        elif self._stopped_at is None:
            self._stopped_at = now
        if speed > 0 and dt > 0:
            self._advance(speed * dt)

    def _advance(self, distance: float) -> None:
        target = self.odometer + distance
        while self._points and self._points[0].odo <= target:
            if not self.plc.belt_running:
                return  # the belt stopped at the last point
            point = heapq.heappop(self._points)
            self.odometer = max(self.odometer, point.odo)
            self._apply(point)
        if self.plc.belt_running:
            self.odometer = target

    def _push(self, odo: float, rank: int, what: int, serial: int, downstream: float,
              event: EventType | None = None, fault: FaultSpec | None = None) -> None:
        heapq.heappush(self._points, _Point(odo, rank, -downstream, next(self._counter), what,
                                            serial, event, fault))

    def _timer(self, delay: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (self._clock() + delay, next(self._counter), action))

    def _apply(self, p: _Point) -> None:
        tray = self._trays[p.serial]
        if p.what == _ENTER:
            self._enter(tray)
        elif p.what == _STATION and tray.state == "on_belt":
            assert p.event is not None
            if p.event is EventType.AT_LABELER:
                self._at_labeler(tray)
            self.plc.tray_at(p.event, tray.carrier)
        elif p.what == _PACK and tray.state == "on_belt":
            self._pack(tray)
        elif p.what == _LABEL_END and self._misprint_for == tray.serial:
            self._misprint_for = None
            if self.printer is not None:
                self.printer.set_misprint(False)
        elif p.what == _PRINTER_END:
            assert p.fault is not None
            self._printer_fault(PRINTER_STRETCHES[p.fault.kind], False)
        elif p.what == _GATE and tray.state == "on_belt":
            target, verdict, _ = self.plc.tray_at_gate(tray.carrier)
            self._close(tray, OUTFEED if target == DivertTarget.OUTFEED else REJECT_BIN, verdict)
        elif p.what == _FAULT:
            assert p.fault is not None
            self._fault(p.fault)
        elif p.what == _STALL_END:
            self.plc.verdicts_stalled = False

    def _enter(self, tray: _Tray) -> None:
        tray.state = "on_belt"
        self._on_belt[tray.serial] = tray
        event = self.plc.tray_entered(tray.carrier)
        self.truth.entered(tray.serial, tray.carrier, self.plc.boot_count, event)
        for mm, etype in STATION_EVENTS[1:]:
            self._push(tray.entry + mm, 0, _STATION, tray.serial, mm, event=etype)
        self._push(tray.entry + GATE_MM, 0, _GATE, tray.serial, GATE_MM)
        if "PACK" in self.stations:
            self._push(tray.entry + PACKER_MM, 0, _PACK, tray.serial, PACKER_MM)
        self._push(tray.entry + LABELER_MM + WINDOW_MM, 0, _LABEL_END, tray.serial,
                   LABELER_MM + WINDOW_MM)

    # ---- the new stations --------------------------------------------------------------------
    def _pack(self, tray: _Tray) -> None:
        """Tray leaves the packer: one pack with its seal result, if the packer runs."""
        from plateline.simulators.packer_machine import PackerNotExecuting

        packer = self.packer
        seal_ok = "bad_seal" not in self.scenario.tray_faults(tray.serial)
        if packer is None:
            log.warning("tray %d passes the packer, but PACK is not running", tray.serial)
            self.truth.sealed(tray.serial, "none")
            return
        machine = packer.machine
        if self.plc.config.standalone and machine.powered and machine.state != PackMLState.EXECUTE:
            machine.force_state(PackMLState.EXECUTE)  # nobody runs the packer: it runs by itself
        temp_c = float(machine.values.get(_SEAL_TEMP_PATH) or 180.0)
        temp = round(temp_c * 10) + (tray.serial * 7) % 21 - 10 - (0 if seal_ok else 300)
        try:
            packer.pack(tray.carrier, seal_ok, temp)
        except PackerNotExecuting as err:
            log.info("tray %d: no pack (%s)", tray.serial, err)
            self.truth.sealed(tray.serial, "none")
            return
        self.truth.sealed(tray.serial, "ok" if seal_ok else "bad")

    def _at_labeler(self, tray: _Tray) -> None:
        if "P1" in self.stations:
            self.truth.printer_checked(tray.serial, any(self._printer_faults.values()))
        if "misprint" in self.scenario.tray_faults(tray.serial):
            self._misprint_for = tray.serial
            if self.printer is not None:
                self.printer.set_misprint(True, labels=1)

    def _printer_fault(self, fault: str, active: bool) -> None:
        count = self._printer_faults.get(fault, 0) + (1 if active else -1)
        self._printer_faults[fault] = max(count, 0)
        if self.printer is not None:
            self.printer.set_fault(fault, count > 0)  # type: ignore[arg-type]

    def on_print(self, label: ParsedLabel | None) -> None:
        """The printer printed ``label``: it is stuck on the tray at the labeler, if any."""
        tray = self._in_view("P1")
        if tray is None:
            self.stray_labels += 1
            log.warning("a label was printed with no tray at the labeler")
            return
        self._labels[tray.serial] = label
        self.truth.labelled(tray.serial, None if label is None else label.barcode)

    def _close(self, tray: _Tray, outcome: str, verdict: tuple[int, int] | None,
               cause: str | None = None) -> None:
        position = self.odometer - tray.entry
        tray.state = "closed"
        del self._on_belt[tray.serial]
        self.truth.closed(tray.serial, outcome, verdict, cause,
                          position if outcome == LOST else None)
        log.debug("tray %d (carrier %d) %s at %.0f mm", tray.serial, tray.carrier, outcome,
                  position)
        if all(t.state == "closed" for t in self._trays.values()):
            self._all_done.set()

    # ---- faults ------------------------------------------------------------------------------
    def _fault(self, fault: FaultSpec) -> None:
        log.info("fault %s (tray %d at %s mm)", fault.kind, fault.tray, fault.at_mm)
        if fault.kind == "estop":
            self.plc.press_estop()
            self._timer(fault.duration, self.plc.release_estop)
        elif fault.kind == "jam":
            self.plc.set_cause(ConveyorAlarm.INFEED_JAM, True)
            self._timer(fault.duration,
                        lambda: self.plc.set_cause(ConveyorAlarm.INFEED_JAM, False))
        elif fault.kind == "plc_restart":
            self.restart_plc(fault.duration)
        elif fault.kind == "drop_connection":
            if self.link is not None:
                self.link.drop_connections(fault.duration)
        elif fault.kind == "remove_tray":
            self.remove_tray(fault.tray)
        elif fault.kind in PRINTER_STRETCHES:
            self._printer_fault(PRINTER_STRETCHES[fault.kind], True)
            if fault.length_mm is not None:
                self._push(self.odometer + fault.length_mm, 1, _PRINTER_END, fault.tray, 0.0,
                           fault=fault)
            else:
                kind = PRINTER_STRETCHES[fault.kind]
                self._timer(fault.duration, lambda: self._printer_fault(kind, False))
        elif fault.kind == "packer_restart":
            if self.packer is not None:
                self.packer.machine.power_off()  # at this belt position, not a loop turn later
                self.packer.restart(fault.duration)
        elif fault.kind == "packer_drop_session":
            if self.packer is not None:
                self.packer.drop_sessions()
        elif fault.kind == "operator_reject":
            log.info("the operator means to reject tray %d (carrier %d) now", fault.tray,
                     carrier_of(fault.tray))
        elif fault.kind == "verdict_stall":
            self.plc.verdicts_stalled = True
            if fault.length_mm is not None:
                self._push(self.odometer + fault.length_mm, 1, _STALL_END, fault.tray, 0.0)
            else:
                self._timer(fault.duration, self._end_stall)
        else:
            raise ConfigError(f"fault {fault.kind} cannot be scheduled")

    def _end_stall(self) -> None:
        self.plc.verdicts_stalled = False

    def remove_tray(self, serial: int) -> bool:
        """Take tray ``serial`` off the belt by hand: the PLC reports it LOST."""
        tray = self._trays[serial]
        if tray.state != "on_belt":
            log.warning("tray %d is not on the belt, nothing removed", serial)
            return False
        self.plc.tray_lost(tray.carrier)
        self._close(tray, LOST, None, "removed")
        return True

    def restart_plc(self, down_s: float) -> None:
        """The PLC goes down for ``down_s`` and starts again (BOOT_COUNT + 1, rings at 0,
        Stopped); the trays on the belt run out to the reject bin, lost to tracking."""
        for tray in list(self._on_belt.values()):
            self._close(tray, LOST, None, "plc_restart")
        self.plc.power_off()
        if self.link is not None:
            self.link.drop_connections(down_s)
        self._timer(down_s, self.plc.power_on)

    # ---- what the readers see ------------------------------------------------------------------
    def position(self, serial: int) -> float | None:
        """Tray ``serial``'s distance from the infeed eye, None when not on the belt."""
        tray = self._on_belt.get(serial)
        return None if tray is None else self.odometer - tray.entry

    def trays_on_belt(self) -> list[tuple[int, int, float]]:
        """(serial, carrier, position mm) of every tray on the belt, downstream first."""
        return [(t.serial, t.carrier, self.odometer - t.entry) for t in self._on_belt.values()]

    def _in_view(self, name: str) -> _Tray | None:
        start = VIEW_STATIONS.get(name)
        if start is None:
            raise ConfigError(f"no field of view called {name!r}")
        for tray in self._on_belt.values():
            if start <= self.odometer - tray.entry < start + WINDOW_MM:
                return tray
        return None

    def scale_view(self, name: str = "W1") -> ScaleView:
        """What is on the weighing platform now: dynamic for the first 100 mm of a tray's
        rest, stable after that or once the belt has stood 0.3 s; empty weighs 0."""
        for tray in self._on_belt.values():
            on = self.odometer - tray.entry - SCALE_MM
            if 0 <= on < SCALE_REST_MM:
                settled = self._stopped_at is not None and (
                    self._clock() - self._stopped_at >= SCALE_SETTLE_S)
                fault = self.scenario.scale_fault(tray.serial)
                return ScaleView(self.scenario.weight_g(tray.serial),
                                 dynamic=on < SCALE_DYNAMIC_MM and not settled,
                                 fault=fault)  # type: ignore[arg-type]
        return ScaleView(None)

    def label_on(self, serial: int) -> ParsedLabel | None:
        """The label stuck on tray ``serial`` (None: none, or an unreadable print)."""
        return self._labels.get(serial)

    def label_view(self, name: str = "S2") -> ScanView:
        """What the verification scanner sees: the barcode of the label on the tray in its
        field of view; None for no tray, no label, or a smudged barcode."""
        tray = self._in_view(name)
        label = None if tray is None else self._labels.get(tray.serial)
        return ScanView(None if label is None else label.barcode)

    def scan_view(self, name: str = "S1") -> ScanView:
        """What code reader ``name`` sees now: the ticket's order barcode, if readable."""
        tray = self._in_view(name)
        if tray is None:
            return ScanView(None)
        spec = self.scenario.tray(tray.serial)
        return ScanView(spec.ticket if spec.readable else None)

    def camera_view(self, name: str = "CAM1") -> CameraView:
        """What camera ``name`` sees now: the tray in its field of view, or an empty belt."""
        tray = self._in_view(name)
        if tray is None:
            return CameraView(key="empty", seed=self.seed & 0x7FFFFFFF)
        spec = self.scenario.tray(tray.serial)
        return CameraView(
            key=f"{self.scenario.name}/{tray.serial}",
            seed=(self.seed * 1_000_003 + tray.serial * 7919) & 0x7FFFFFFF,
            plates=spec.plates,
            ticket_order_id=spec.ticket,
            ticket_readable=spec.readable,
            tray=tray.carrier,
            fault=self.scenario.camera_fault(tray.serial),
            extras={"serial": str(tray.serial)},
        )
