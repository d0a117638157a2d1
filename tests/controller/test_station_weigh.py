"""WEIGH against the MT-SICS scale simulator on a pty: SCALE_FAULT, WEIGHT_OUT_OF_RANGE,
dynamic weights."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from plateline.contract import Reason
from plateline.controller.model import CheckResult
from plateline.controller.stations.weigh import WeighStation
from plateline.controller.tracking import TrackedItem, Window
from plateline.drivers.scale_mtsics import MtSicsScale
from plateline.recipes import Recipe
from plateline.simulators.scale import ScaleSim, ScaleView

from .station_rigs import ScaleLoad, failed, item, window


@contextlib.asynccontextmanager
async def weigh_station(recipes: dict[str, Recipe]) -> AsyncIterator[tuple[WeighStation,
                                                                           ScaleLoad, ScaleSim]]:
    load = ScaleLoad()
    async with ScaleSim("W1", load, answer_delay=(0.001, 0.003)) as sim, \
            MtSicsScale("W1", sim.port.endpoint, timeout=0.2) as scale:
        station = WeighStation(scale, recipes, read_timeout_s=0.2)
        task = asyncio.create_task(station.run())
        try:
            yield station, load, sim
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def test_the_rest_window_counts_from_the_earliest_event_time() -> None:
    # written after base 10.0, seen at 10.02, belt at most 300 mm/s
    w = Window(10.0, 300, 150, seen=10.02)
    assert w.closes == pytest.approx(10.5)
    assert w.after(300) == pytest.approx(11.0)  # the tray is on the platform until then
    assert w.reached_by(100) == pytest.approx(10.02 + 1 / 3)  # settled by then, at speed
    assert Window.closed().after(300) == float("-inf")
    assert Window(10.0, 0, 150).closes == float("-inf")
    assert Window(10.0, 300, 150).reached_by(100) == w.after(100)  # seen unknown: the bound


async def test_stable_weight_in_window_passes(recipes: dict[str, Recipe]) -> None:
    async with weigh_station(recipes) as (station, load, _):
        load.view = ScaleView(385.0)
        result = await station.start(item(), window(0.5))
    assert result.ok, result
    assert result.data["weight_g"] == 385.0 and result.data["stable"] is True


@pytest.mark.parametrize("grams", [369.9, 400.5, 0.0])
async def test_weight_outside_the_recipe_window(recipes: dict[str, Recipe],
                                                grams: float) -> None:
    async with weigh_station(recipes) as (station, load, _):
        load.view = ScaleView(grams)
        result = await station.start(item(), window(0.5))
    assert result.reason is Reason.WEIGHT_OUT_OF_RANGE
    assert result.data["weight_g"] == grams


@pytest.mark.parametrize("fault", ["overload", "underload", "ET", "EL", "silent"])
async def test_scale_errors_are_scale_fault(recipes: dict[str, Recipe], fault: str) -> None:
    async with weigh_station(recipes) as (station, load, sim):
        load.view = ScaleView(385.0)
        sim.set_fault(fault)  # type: ignore[arg-type]
        result = await station.start(item(), window(0.5))
    assert result.reason is Reason.SCALE_FAULT
    assert result.data["weight_g"] is None and result.data["problem"]


async def test_dynamic_weight_refused_when_the_recipe_does_not_allow_it(
        recipes: dict[str, Recipe]) -> None:
    assert not recipes["plate-pair"].weight.allow_dynamic
    async with weigh_station(recipes) as (station, load, _):
        load.view = ScaleView(385.0, dynamic=True)
        result = await station.start(item(), window(0.1))
    assert result.reason is Reason.SCALE_FAULT
    assert "stable" in result.data["problem"] and result.data["reads"] > 1


async def test_reads_again_until_stable(recipes: dict[str, Recipe]) -> None:
    async with weigh_station(recipes) as (station, load, _):
        load.view = ScaleView(385.0, dynamic=True)
        future = station.start(item(), window(0.5))  # rests until +1.0 s, settled by +0.33
        await asyncio.sleep(0.5)  # a load that settles late
        load.view = ScaleView(385.0)
        result = await future
    assert result.ok and result.data["stable"] is True and result.data["reads"] > 1


async def test_first_read_when_the_weight_has_settled(recipes: dict[str, Recipe]) -> None:
    """The weight moves for the first 100 mm of the 300 mm rest (line.md): the first SI
    is sent once the tray has covered them, not spent on a weight known to move."""
    async with weigh_station(recipes) as (station, load, _):
        load.view = ScaleView(385.0, dynamic=True)
        future = station.start(item(), window(0.3))  # 100 mm of 150 mm: settled by +0.2 s
        await asyncio.sleep(0.15)
        load.view = ScaleView(385.0)
        result = await future
    assert result.ok and result.data["stable"] is True and result.data["reads"] == 1


async def test_dynamic_weight_taken_when_the_recipe_allows_it(
        recipes: dict[str, Recipe]) -> None:
    assert recipes["ebike-plate"].weight.allow_dynamic
    async with weigh_station(recipes) as (station, load, _):
        load.view = ScaleView(105.0, dynamic=True)
        result = await station.start(item(product="ebike-plate"), window(0.5))
    assert result.ok, result
    assert result.data["stable"] is False and abs(result.data["weight_g"] - 105.0) < 10


async def test_closed_window_is_scale_fault_without_a_read(recipes: dict[str, Recipe]) -> None:
    async with weigh_station(recipes) as (station, load, sim):
        load.view = ScaleView(385.0)
        result = await station.start(item(), Window.closed())
    assert result.reason is Reason.SCALE_FAULT
    assert sim.counters.commands == 0


async def test_rejected_tray_is_skipped(recipes: dict[str, Recipe]) -> None:
    from .station_rigs import failed

    async with weigh_station(recipes) as (station, load, sim):
        load.view = ScaleView(385.0)
        it = item()
        it.results["INFEED"] = failed(Reason.NOREAD)
        result = await station.start(it, window(0.5))
    assert result.skipped


def order_unknown(product: str = "plate-pair") -> TrackedItem:
    """An item whose INFEED result (the order's binding) is not in yet."""
    it = item(product=product)
    del it.results["INFEED"]
    it._result_events.pop("INFEED")
    return it


def infeed_done(it: TrackedItem, result: CheckResult) -> None:
    it.results["INFEED"] = result
    it._result_event("INFEED").set()


@pytest.mark.parametrize(("product", "view", "stable"), [
    ("plate-pair", ScaleView(385.0), True),
    ("ebike-plate", ScaleView(105.0, dynamic=True), False),  # the recipe allows it
])
async def test_the_weight_is_read_in_the_window_before_the_order_is_known(
        recipes: dict[str, Recipe], product: str, view: ScaleView, stable: bool) -> None:
    async with weigh_station(recipes) as (station, load, sim):
        load.view = view
        it = order_unknown(product)
        future = station.start(it, window(0.1))  # on the platform for 0.2 s
        await asyncio.sleep(0.4)
        assert sim.counters.commands >= 1 and not future.done()
        load.view = ScaleView(None)  # the tray is gone: nothing may be read now
        infeed_done(it, CheckResult.passed())
        result = await future
    assert result.ok, result
    assert result.data["stable"] is stable and result.data["order_known_after_weighing"]
    assert abs(result.data["weight_g"] - view.weight_g) < 10


async def test_a_tray_whose_order_fails_after_weighing_is_skipped(
        recipes: dict[str, Recipe]) -> None:
    async with weigh_station(recipes) as (station, load, _):
        load.view = ScaleView(385.0)
        it = order_unknown()
        future = station.start(it, window(0.1))
        await asyncio.sleep(0.3)
        infeed_done(it, failed(Reason.UNKNOWN_ORDER))
        result = await future
    assert result.skipped
