"""PACK: the packer's seal result of each tray (``plc-packer-opcua.md``).

The packer reports one result per tray, SEQUENCE increasing, as the tray leaves
it; the contract puts every result before the tray's AT_SCALE event. The station
opens an expectation when a tray passes the camera (the last event before the
packer), matches each result to the expectation of its tray id (trays pass the
packer in the order they passed the camera, so expectations older than the tray
reported have lost their result), and decides the check at AT_SCALE: a good seal
passes; a bad seal, a missing result (``MissingPack``) or no result at all is
SEAL_FAIL.

It also follows the packer's PackML state: a packer in Held or Aborted (or on its
way there) holds the line, through the same latch as the controller's other holds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from plateline.contract import EventType, PackMLState, Reason
from plateline.controller.alarms import Alarms, Severity
from plateline.controller.model import CheckResult, ItemKey
from plateline.controller.ports import PackerTags, PackResults
from plateline.controller.tracking import TrackedItem, Window
from plateline.drivers.packer_results import MissingPack, PackerReset, PackerRestarted, PackResult
from plateline.errors import DeviceError
from plateline.records.models import utcnow

log = logging.getLogger(__name__)

#: Packer states that hold the line.
HOLDING_STATES = frozenset({PackMLState.HOLDING, PackMLState.HELD, PackMLState.ABORTING,
                            PackMLState.ABORTED})
HOLD_CAUSE = "PACK_HELD"
ALARM_STATE = "PACK_STATE"
ALARM_LINK = "PACK_LINK"
ALARM_RESULTS = "PACK_RESULTS"

Hold = Callable[[str, str], None]


@dataclass(eq=False)
class _Expect:
    key: ItemKey
    opened_at: datetime
    pack: PackResult | None = None
    missing: str | None = None  # why its result is known to be lost

    @property
    def settled(self) -> bool:
        return self.pack is not None or self.missing is not None


class PackStation:
    """The PACK check: SEAL_FAIL for a bad seal or no seal result by AT_SCALE.

    ``packer`` gives tag access (the PackML state is read every ``state_poll_s``);
    ``results`` the seal results in SEQUENCE order. ``attach(hold, alarms)`` connects
    the station to the line's hold latch and alarms (done by whoever builds the line).
    """

    name = "PACK"
    event = EventType.AT_SCALE  # the contract's deadline for the seal result
    fault_reason = Reason.SEAL_FAIL
    opens_at = EventType.AT_CAMERA  # the last event before the packer

    def __init__(self, packer: PackerTags, results: PackResults, *,
                 state_poll_s: float = 0.25, read_timeout_s: float = 1.0) -> None:
        self.packer = packer
        self.results = results
        self.state_poll_s = state_poll_s
        self.read_timeout_s = read_timeout_s
        self.packer_state: PackMLState | None = None
        self._expect: dict[int, _Expect] = {}  # tray -> expectation, in passage order
        self._hold: Hold | None = None
        self._alarms: Alarms | None = None
        self.unmatched = 0  # results for trays not expected (diagnostics)

    def attach(self, hold: Hold, alarms: Alarms) -> None:
        """Where packer holds and alarms go (the line's latch and alarm list)."""
        self._hold, self._alarms = hold, alarms

    # -- the check -----------------------------------------------------------------------

    def start(self, item: TrackedItem, window: Window) -> asyncio.Future[CheckResult]:
        future: asyncio.Future[CheckResult] = asyncio.get_running_loop().create_future()
        exp = self._expect.get(item.tray)
        if exp is None or exp.key != item.key:
            future.set_result(CheckResult.failed(Reason.SEAL_FAIL, {
                "seal_ok": None, "problem": "tray not followed through the packer"},
                started_at=utcnow()))
            return future
        del self._expect[item.tray]
        future.set_result(_decide(exp))
        return future

    def tray_at(self, item: TrackedItem, event: EventType) -> None:
        """Open the tray's expectation at the camera; drop it once past the scale."""
        if event is self.opens_at:
            self._expect.pop(item.tray, None)  # a stale one of the tray's previous trip
            self._expect[item.tray] = _Expect(item.key, utcnow())
        elif event is EventType.ENTERED or event is self.event:
            # past the scale (checked, or skipped as already rejected), or the tray id
            # came round again: whatever is left for the tray is stale
            self._expect.pop(item.tray, None)

    # -- workers -------------------------------------------------------------------------

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._consume(), name="PACK results")
            tg.create_task(self._watch_state(), name="PACK state")

    async def _consume(self) -> None:
        while True:
            event = await self.results.get()
            if isinstance(event, PackResult):
                self._on_result(event)
            elif isinstance(event, MissingPack):
                self._on_missing(event.sequence)
            elif isinstance(event, PackerRestarted):
                self._alarm(ALARM_RESULTS, "packer restarted: seal results of trays in it "
                            "are lost (those trays get SEAL_FAIL)", Severity.WARNING)
            elif isinstance(event, PackerReset):
                log.info("packer results reset after SEQUENCE %d", event.last_sequence)

    def _on_result(self, pack: PackResult) -> None:
        exp = self._expect.get(pack.tray)
        if exp is None or exp.settled:
            self.unmatched += 1
            log.warning("PACK: SEQUENCE %d for tray %d matches no tray expected at the "
                        "packer; ignored", pack.sequence, pack.tray)
            return
        for tray, earlier in self._expect.items():
            if earlier is exp:
                break
            if not earlier.settled:
                # results come in passage order: this tray's result will not come
                earlier.missing = (f"packer reported tray {pack.tray} (SEQUENCE "
                                   f"{pack.sequence}) before this tray")
                log.warning("PACK: tray %d: no seal result, %s", tray, earlier.missing)
        exp.pack = pack

    def _on_missing(self, sequence: int) -> None:
        for tray, exp in self._expect.items():
            if not exp.settled:
                exp.missing = f"seal result SEQUENCE {sequence} lost"
                log.warning("PACK: tray %d: %s", tray, exp.missing)
                return
        log.warning("PACK: SEQUENCE %d lost, no tray waiting for it", sequence)

    async def _watch_state(self) -> None:
        while True:
            try:
                values = await self.packer.read("STATE", timeout=self.read_timeout_s)
                state = PackMLState(int(values["STATE"]))
            except (DeviceError, ValueError) as err:
                self.packer_state = None
                self._alarm(ALARM_LINK, f"{self.packer.name}: state unknown: {err}",
                            Severity.WARNING)
            else:
                self._clear(ALARM_LINK)
                self._follow(state)
            await asyncio.sleep(self.state_poll_s)

    def _follow(self, state: PackMLState) -> None:
        if state is not self.packer_state:
            log.info("%s state %s", self.packer.name, state.name)
        self.packer_state = state
        if state in HOLDING_STATES:
            text = f"{self.packer.name} is {state.name}"
            self._alarm(ALARM_STATE, text, Severity.FAULT)
            if self._hold is not None:
                self._hold(HOLD_CAUSE, text)
        else:
            self._clear(ALARM_STATE)

    async def start_problem(self) -> str | None:
        """Why the line must not start because of the packer (a start check), or None."""
        try:
            values = await self.packer.read("STATE", timeout=self.read_timeout_s)
            state = PackMLState(int(values["STATE"]))
        except (DeviceError, ValueError) as err:
            return f"{self.packer.name}: state unknown: {err}"
        if state in HOLDING_STATES:
            return f"{self.packer.name} is {state.name}"
        return None

    def _alarm(self, code: str, text: str, severity: Severity) -> None:
        if self._alarms is not None:
            self._alarms.raise_(code, text, severity=severity)
        else:
            log.warning("%s: %s", code, text)

    def _clear(self, code: str) -> None:
        if self._alarms is not None:
            self._alarms.clear(code)


def _decide(exp: _Expect) -> CheckResult:
    data: dict[str, Any] = {"seal_ok": None, "seal_temp_c": None, "sequence": None}
    if exp.pack is not None:
        pack = exp.pack
        data.update(seal_ok=pack.seal_ok, seal_temp_c=pack.seal_temp_deci_c / 10,
                    sequence=pack.sequence, backfilled=pack.backfilled)
        if pack.seal_ok:
            return CheckResult.passed(data, started_at=exp.opened_at)
        data["problem"] = "bad seal"
        return CheckResult.failed(Reason.SEAL_FAIL, data, started_at=exp.opened_at)
    data["problem"] = exp.missing or "no seal result before AT_SCALE"
    return CheckResult.failed(Reason.SEAL_FAIL, data, started_at=exp.opened_at)
