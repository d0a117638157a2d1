"""Recipe changeover: the line's recipe downloaded to PACK and CONV and read back.

A changeover is taken only while the line is Stopped, Idle or Held. When PACK and
CONV already hold the recipe (read back), it is in force with nothing written (a
controller restarted on a running line does not disturb the packer). Otherwise a
packer still running is first stopped (PackML Stop, recorded): the packer takes
parameters only in Stopped, Idle or Held. Then the changeover writes the
recipe's packer parameters (bag length, seal temperature, machine speed, recipe
number) to ``PACK`` and ``RECIPE_NO`` / ``SPEED_SET`` to ``CONV``, reads every
value back and compares. The recipe is *in force* only when all of them match;
otherwise an alarm names the mismatch. The start check (:meth:`start_problem`)
reads the values again before every Start and refuses the Start when they no
longer match the recipe in force, or when no recipe is in force.

The line's recipe sets the machines; it does not restrict which orders run: each
tray is checked against the recipe of its own order's product (see
``docs/decisions.md``, "Recipes").
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from plateline.contract import PackMLCommand, PackMLState
from plateline.controller.alarms import Alarms
from plateline.controller.journal import Journal, JournalError
from plateline.controller.ports import PackerMachine
from plateline.errors import DeviceError, PlatelineError
from plateline.recipes import Recipe

log = logging.getLogger(__name__)

#: Controller states in which a changeover is allowed.
CHANGEOVER_STATES = frozenset({PackMLState.STOPPED, PackMLState.IDLE, PackMLState.HELD})
ALARM = "RECIPE_MISMATCH"
#: Float parameters are sent as 32-bit floats: equal within this tolerance.
_FLOAT_TOLERANCE = 1e-3


class ChangeoverRefused(PlatelineError):
    """A changeover was refused or failed; the message says why."""


class ConveyorTags(Protocol):
    """What the changeover needs of CONV (``controller.conveyor.ConveyorLink``)."""

    async def read(self, *names: str) -> dict[str, int]: ...

    async def write(self, values: Mapping[str, int]) -> None: ...


def packer_values(recipe: Recipe) -> dict[str, float | int]:
    """The PACK tags and values of ``recipe`` (node map tag names)."""
    return {"BAG_LENGTH_MM": float(recipe.packer.bag_length_mm),
            "SEAL_TEMP_C": float(recipe.packer.seal_temp_c),
            "MACH_SPEED": float(recipe.packer.speed_ppm),
            "RECIPE_NO": recipe.number}


def conveyor_values(recipe: Recipe) -> dict[str, int]:
    """The CONV tags and values of ``recipe``."""
    return {"RECIPE_NO": recipe.number, "SPEED_SET": recipe.conveyor.speed_mm_s}


#: PACK tags read back, and the tag of the recipe value each must equal.
_PACK_READBACK = {"BAG_LENGTH_MM": "BAG_LENGTH_MM", "SEAL_TEMP_C": "SEAL_TEMP_C",
                  "MACH_SPEED": "MACH_SPEED", "RECIPE_NO": "RECIPE_NO",
                  "RECIPE_NO_ACT": "RECIPE_NO"}


@dataclass(frozen=True)
class InForce:
    """The recipe in force on the line (id, version, number)."""

    recipe_id: str
    version: str
    number: int


class RecipeChangeover:
    """Changeovers of one line; ``state`` gives the controller's PackML state."""

    def __init__(self, packer: PackerMachine | None, conveyor: ConveyorTags,
                 state: Callable[[], PackMLState], alarms: Alarms, journal: Journal,
                 recipes: Mapping[str, Recipe], *, packer_stop_timeout_s: float = 15.0) -> None:
        self.packer = packer
        self.conveyor = conveyor
        self._state = state
        self.alarms = alarms
        self.journal = journal
        self.recipes = recipes
        self.packer_stop_timeout_s = packer_stop_timeout_s
        self._recipe: Recipe | None = None

    @property
    def in_force(self) -> InForce | None:
        r = self._recipe
        return None if r is None else InForce(r.id, r.version, r.number)

    async def change(self, recipe_id: str, user: str) -> InForce:
        """Download ``recipe_id`` and verify it; ChangeoverRefused says why not."""
        recipe = self.recipes.get(recipe_id)
        try:
            if recipe is None:
                raise ChangeoverRefused(f"no recipe {recipe_id!r} on this line")
            state = self._state()
            if state not in CHANGEOVER_STATES:
                raise ChangeoverRefused(f"changeover not allowed in {state.name} "
                                        f"(only Stopped, Idle or Held)")
            if await self.mismatch(recipe) is None:
                return await self._in_force(recipe, user, "VERIFIED")
            self._recipe = None  # whatever was in force is no longer known to be
            await self._stop_packer(user)
            try:
                if self.packer is not None:
                    for tag, value in packer_values(recipe).items():
                        await self.packer.write(tag, value)
                await self.conveyor.write(conveyor_values(recipe))
            except DeviceError as err:
                raise ChangeoverRefused(f"download of {recipe_id} failed: {err}") from err
            mismatch = await self.mismatch(recipe)
            if mismatch is not None:
                self.alarms.raise_(ALARM, f"recipe {recipe_id}: {mismatch}")
                raise ChangeoverRefused(f"recipe {recipe_id} read back wrong: {mismatch}")
        except ChangeoverRefused as err:
            await self._record(user, f"recipe changeover {recipe_id}",
                               {"result": "REFUSED", "why": str(err)})
            log.warning("changeover to %s by %s refused: %s", recipe_id, user, err)
            raise
        assert recipe is not None
        return await self._in_force(recipe, user, "TAKEN")

    async def _in_force(self, recipe: Recipe, user: str, how: str) -> InForce:
        self._recipe = recipe
        self.alarms.clear(ALARM)
        await self._record(user, f"recipe changeover {recipe.id}",
                           {"result": how, "version": recipe.version, "number": recipe.number})
        log.info("recipe %s %s in force (number %d, %s)", recipe.id, recipe.version,
                 recipe.number, how.lower())
        return InForce(recipe.id, recipe.version, recipe.number)

    async def _stop_packer(self, user: str) -> None:
        """Bring a packer that is not in Stopped, Idle or Held to Stopped."""
        if self.packer is None:
            return
        try:
            state = await self._packer_state()
            if state in CHANGEOVER_STATES:
                return
            log.info("changeover: stopping %s (%s)", self.packer.name, state.name)
            await self._record(user, f"packer STOP for changeover from {state.name}", {})
            async with asyncio.timeout(self.packer_stop_timeout_s):
                if state not in (PackMLState.STOPPING, PackMLState.CLEARING):
                    await self.packer.command(PackMLCommand.STOP)
                while (state := await self._packer_state()) not in CHANGEOVER_STATES:
                    await asyncio.sleep(0.1)
        except TimeoutError as err:
            raise ChangeoverRefused(f"{self.packer.name} did not stop within "
                                    f"{self.packer_stop_timeout_s:g} s") from err
        except DeviceError as err:
            raise ChangeoverRefused(f"{self.packer.name} could not be stopped for the "
                                    f"changeover: {err}") from err

    async def _packer_state(self) -> PackMLState:
        assert self.packer is not None
        return PackMLState(int((await self.packer.read("STATE"))["STATE"]))

    async def mismatch(self, recipe: Recipe) -> str | None:
        """What PACK and CONV hold that differs from ``recipe`` (read now), or None."""
        problems: list[str] = []
        try:
            if self.packer is not None:
                want = packer_values(recipe)
                got = await self.packer.read(*_PACK_READBACK)
                for tag, source in _PACK_READBACK.items():
                    if not _same(got[tag], want[source]):
                        problems.append(f"{self.packer.name}.{tag} is {got[tag]!r}, "
                                        f"not {want[source]!r}")
            want_conv = conveyor_values(recipe)
            got_conv = await self.conveyor.read(*want_conv)
            for tag, value in want_conv.items():
                if got_conv[tag] != value:
                    problems.append(f"CONV.{tag} is {got_conv[tag]!r}, not {value!r}")
        except DeviceError as err:
            return f"read-back failed: {err}"
        return "; ".join(problems) or None

    async def start_problem(self) -> str | None:
        """The start check: no recipe in force, or the machines no longer hold it."""
        if self._recipe is None:
            return "no recipe in force: do a recipe changeover first"
        mismatch = await self.mismatch(self._recipe)
        if mismatch is not None:
            text = f"recipe {self._recipe.id}: {mismatch}"
            self.alarms.raise_(ALARM, text)
            return text
        return None

    async def _record(self, user: str, action: str, detail: dict[str, Any]) -> None:
        try:
            await self.journal.record_action(user, action, detail)
        except JournalError as err:
            log.error("%s not recorded: %s", action, err)


def _same(got: Any, want: float) -> bool:
    if isinstance(got, bool) or not isinstance(got, int | float):
        return False
    if isinstance(want, int):
        return got == want
    return math.isclose(float(got), want, abs_tol=_FLOAT_TOLERANCE)
