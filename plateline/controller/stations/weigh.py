"""WEIGH: read the check-weigher on AT_SCALE and check the recipe's weight window.

The tray rests on the platform for ``rest_mm`` of travel (300 mm) after AT_SCALE,
its weight dynamic for the first 100 mm. The station reads ``SI`` while the tray
is there: a dynamic weight is taken only when the recipe allows it, else it reads
again until the weight is stable or the tray has left (SCALE_FAULT). A scale
error, overload, garbage or silence is SCALE_FAULT; a weight outside the recipe's
window WEIGHT_OUT_OF_RANGE.

The rest window is the event's window (``tracking.Window``) taken to ``rest_mm``
of travel: a read is never taken after the tray may have left. The first read is
sent when the tray has travelled ``settle_mm`` at the belt's speed, counted from
the latest time the event can have been written. The read never waits for the
order's recipe: when INFEED's binding (a database transaction) is not in yet, the
tray is weighed for a stable weight and judged against its recipe once it is.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from plateline.contract import EventType, Reason
from plateline.controller.model import CheckResult
from plateline.controller.ports import Scale
from plateline.controller.stations.queued import Job, QueuedStation
from plateline.controller.tracking import TrackedItem
from plateline.drivers.scale_mtsics import ScaleBusy, Weight
from plateline.errors import DeviceError, DeviceTimeoutError
from plateline.recipes import Recipe

log = logging.getLogger(__name__)


@dataclass
class _Reading:
    weight: Weight | None = None  # the weight taken
    reads: int = 0
    last_dynamic: Weight | None = None
    problem: str = ""


class WeighStation(QueuedStation):
    """The WEIGH check: SCALE_FAULT, WEIGHT_OUT_OF_RANGE."""

    name = "WEIGH"
    event = EventType.AT_SCALE
    fault_reason = Reason.SCALE_FAULT
    #: The least time an ``SI`` round trip needs (the first read is sent that early).
    read_budget_s = 0.02

    def __init__(self, scale: Scale, recipes: Mapping[str, Recipe], *,
                 rest_mm: float = 300.0,
                 settle_mm: float = 100.0,
                 read_timeout_s: float = 0.3, retry_s: float = 0.01,
                 order_station: str = "INFEED") -> None:
        if rest_mm <= 0:
            raise ValueError("rest_mm must be positive")
        if not 0 <= settle_mm < rest_mm:
            raise ValueError("settle_mm must be within [0, rest_mm)")
        super().__init__()
        self.scale = scale
        self.recipes = recipes
        self.rest_mm = rest_mm
        self.settle_mm = settle_mm
        self.read_timeout_s = read_timeout_s
        self.retry_s = retry_s
        self.order_station = order_station

    async def run(self) -> None:
        await self._run_at_once()

    async def _check(self, job: Job) -> CheckResult:
        end = job.window.after(self.rest_mm)
        item = job.item
        known = item.results.get(self.order_station) is not None
        recipe = self._recipe(item) if known else None
        if known and recipe is None:
            return self._skipped(job)
        # Not known yet (the order's binding waits for the database): the tray is
        # weighed as a recipe that wants a stable weight, and judged once it is known.
        allow_dynamic = recipe.weight.allow_dynamic if recipe is not None else False
        if not allow_dynamic:
            # the weight moves for the first settle_mm (line.md): a read before that is a
            # round trip lost from a window of 100 ms at x10
            settled = job.window.reached_by(self.settle_mm)
            first = min(settled, end - self.read_budget_s)  # one read must still fit
            await asyncio.sleep(max(0.0, first - time.monotonic()))
        reading = await self._weigh(end, allow_dynamic)
        if recipe is None:
            await item.wait_result(self.order_station)
            recipe = self._recipe(item)
            if recipe is None:
                return self._skipped(job)
            if recipe.weight.allow_dynamic and reading.weight is None:
                reading.weight = reading.last_dynamic
        w = recipe.weight
        data: dict[str, Any] = {"weight_g": None, "stable": None, "min_g": w.min_g,
                                "max_g": w.max_g, "allow_dynamic": w.allow_dynamic,
                                "reads": reading.reads, "recipe": recipe.id}
        if not known:
            data["order_known_after_weighing"] = True
        if reading.weight is None:
            data["problem"] = reading.problem
            return CheckResult.failed(Reason.SCALE_FAULT, data, started_at=job.started_at)
        data.update(weight_g=reading.weight.value_g, stable=reading.weight.stable)
        if not w.min_g <= reading.weight.value_g <= w.max_g:
            return CheckResult.failed(Reason.WEIGHT_OUT_OF_RANGE, data,
                                      started_at=job.started_at)
        return CheckResult.passed(data, started_at=job.started_at)

    @staticmethod
    def _skipped(job: Job) -> CheckResult:
        item = job.item
        return CheckResult.skip(item.verdict.reason if item.verdict else None,
                                started_at=job.started_at)

    def _recipe(self, item: TrackedItem) -> Recipe | None:
        """The recipe of the tray's order, its INFEED result in (None when the tray has
        no order or already failed: skipped)."""
        before = item.results[self.order_station]
        if item.rejected or not before.ok or item.order is None:
            return None
        recipe = self.recipes.get(item.order.product)
        if recipe is None:
            raise LookupError(f"no recipe {item.order.product!r} on this line")
        return recipe

    async def _weigh(self, end: float, allow_dynamic: bool) -> _Reading:
        """Read ``SI`` until a weight may be taken or the window ends."""
        reading = _Reading()
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            reading.reads += 1
            try:
                weight = await self.scale.weigh_immediate(
                    timeout=min(self.read_timeout_s, left))
            except ScaleBusy as err:
                reading.problem = str(err)
            except DeviceTimeoutError as err:
                if left < self.read_timeout_s and reading.last_dynamic is not None:
                    break  # the window ran out while the weight was still moving
                reading.problem = str(err)
                return reading
            except DeviceError as err:
                reading.problem = str(err)
                return reading
            else:
                if weight.stable or allow_dynamic:
                    reading.weight = weight
                    return reading
                reading.last_dynamic = weight
                reading.problem = f"{self.scale.name}: weight not stable"
            await asyncio.sleep(min(self.retry_s, max(0.0, end - time.monotonic())))
        if not reading.reads:
            reading.problem = "window closed before the first read"
        elif reading.last_dynamic is not None:
            reading.problem = (f"{self.scale.name}: no stable weight while the tray was on "
                               f"the scale (last {reading.last_dynamic.value_g:g} g dynamic)")
        return reading
