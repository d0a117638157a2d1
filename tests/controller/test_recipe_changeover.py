"""Recipe changeover against the CONV PLC simulator (Modbus TCP) and the PACK simulator
(OPC UA), and the start checks: a Start is refused while the printer is not ready or
PACK/CONV do not hold the recipe in force."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from plateline.contract import CmdResult, PackMLCommand, PackMLState
from plateline.controller.line_state import START_REFUSED
from plateline.controller.recipe_changeover import ChangeoverRefused, RecipeChangeover
from plateline.controller.stations.label import LabelStation
from plateline.drivers.codereader import SerialCodeReader
from plateline.drivers.opcua import OpcUaClient
from plateline.drivers.opcua_nodes import load_node_map
from plateline.drivers.opcua_security import SecuritySettings
from plateline.drivers.printer_zpl import ZplPrinter
from plateline.drivers.tagmap import TagMap
from plateline.recipes import Recipe
from plateline.records.models import OperatorAction
from plateline.simulators.packer import PackerSim
from plateline.simulators.packer_machine import PackerConfig
from tests.loop_blocking import watch_for_blocking

from .harness import controller, devices, wait_until
from .station_rigs import LabelRig


@pytest.fixture(autouse=True)
async def loop_never_blocks() -> AsyncIterator[None]:
    """The asyncua server of the PACK simulator shares the test's loop and stalls it for a
    few hundred ms at times (asyncio debug mode on 2 busy cores): this module times the
    callbacks of the code under test only (changeover, start checks, stations)."""
    watched = ("recipe_changeover", "stations/", "line_state")
    with watch_for_blocking(0.25, lambda msg: any(f"plateline/controller/{part}" in msg
                                                  for part in watched)) as watch:
        yield
    assert not watch.blocked, f"event loop blocked by the controller: {watch.blocked}"


@contextlib.asynccontextmanager
async def packer(tmp_path: Path) -> AsyncIterator[OpcUaClient]:
    async with PackerSim(port=0, pki_dir=tmp_path / "pki", users={"line": "pw"},
                         config=PackerConfig(acting_s=0.05)) as sim:
        client = OpcUaClient("PACK", sim.url, load_node_map("builtin:packer_opcua"),
                             security=SecuritySettings(mode="None", allow_none=True,
                                                       user="line", password="pw"),
                             watch_results=False)
        async with client:
            client.sim = sim  # type: ignore[attr-defined]
            yield client


async def test_changeover_rules_and_start_checks(
        tmp_path: Path, sessions: sessionmaker[Session], conv_map: TagMap,
        recipes: dict[str, Recipe]) -> None:
    # the packer first: building its server loads OPC UA's address space in a thread
    # that takes the GIL for a second, which must not fall on the controller's callbacks
    async with packer(tmp_path) as pack, devices() as dev, \
            controller(dev, sessions, conv_map, recipes) as line, LabelRig() as label_rig, \
            ZplPrinter("P1", label_rig.printer.port.endpoint, timeout=0.3) as printer, \
            SerialCodeReader("S2", label_rig.scanner.port.endpoint) as reader:
        changeover = RecipeChangeover(pack, line.link, lambda: line.state, line.alarms,
                                      line.journal, recipes)
        label = LabelStation(printer, reader, line.journal, recipes, before=())
        line.line_state.start_checks += [label.start_problem, changeover.start_problem]
        await line.wait_for_state(PackMLState.STOPPED, timeout=5)

        # no recipe in force: Start refused
        await wait_until(lambda: line.line_state.core_ready, what="tracking ready")
        assert await line.command(PackMLCommand.RESET, "test") is CmdResult.TAKEN
        await line.wait_for_state(PackMLState.IDLE, timeout=5)
        assert await line.command(PackMLCommand.START, "test") is CmdResult.REFUSED
        assert "no recipe in force" in line.alarms._active[START_REFUSED].text

        with pytest.raises(ChangeoverRefused, match="no recipe 'nope'"):
            await changeover.change("nope", "test")
        in_force = await changeover.change("plate-single", "test")
        assert (in_force.recipe_id, in_force.number) == ("plate-single", 2)
        got = await pack.read("BAG_LENGTH_MM", "SEAL_TEMP_C", "RECIPE_NO_ACT", "MACH_SPEED")
        r = recipes["plate-single"]
        assert got["RECIPE_NO_ACT"] == r.number
        assert abs(got["SEAL_TEMP_C"] - r.packer.seal_temp_c) < 1e-3
        assert await line.link.read("RECIPE_NO", "SPEED_SET") == {
            "RECIPE_NO": r.number, "SPEED_SET": r.conveyor.speed_mm_s}

        # the printer is checked before the start
        label_rig.printer.set_fault("paper_out")
        assert await line.command(PackMLCommand.START, "test") is CmdResult.REFUSED
        assert "paper_out" in line.alarms._active[START_REFUSED].text
        label_rig.printer.clear_faults()

        # somebody changed CONV's speed on the panel: read-back mismatch refuses Start
        await line.link.write({"SPEED_SET": 123})
        assert await line.command(PackMLCommand.START, "test") is CmdResult.REFUSED
        text = line.alarms._active[START_REFUSED].text
        assert "CONV.SPEED_SET is 123" in text
        assert line.state is PackMLState.IDLE

        await changeover.change("plate-single", "test")
        assert await line.command(PackMLCommand.START, "test") is CmdResult.TAKEN
        await line.wait_for_state(PackMLState.EXECUTE, timeout=5)
        assert not line.alarms.is_active(START_REFUSED)

        # no changeover while the line runs
        with pytest.raises(ChangeoverRefused, match="not allowed in EXECUTE"):
            await changeover.change("plate-pair", "test")
        assert changeover.in_force is not None
        assert changeover.in_force.recipe_id == "plate-single"


async def test_a_running_packer_is_stopped_for_the_changeover(
        tmp_path: Path, sessions: sessionmaker[Session], conv_map: TagMap,
        recipes: dict[str, Recipe]) -> None:
    async with packer(tmp_path) as pack, devices() as dev, \
            controller(dev, sessions, conv_map, recipes) as line:
        await line.wait_for_state(PackMLState.STOPPED, timeout=5)
        # the line stands, but the packer runs: it would refuse parameters
        # (BadInvalidState), so the changeover stops it first
        pack.sim.machine.force_state(PackMLState.EXECUTE)  # type: ignore[attr-defined]
        await pack.sim.flush()  # type: ignore[attr-defined]
        changeover = RecipeChangeover(pack, line.link, lambda: line.state, line.alarms,
                                      line.journal, recipes)
        in_force = await changeover.change("plate-pair", "anna")
        assert in_force.recipe_id == "plate-pair"
        state = (await pack.read("STATE"))["STATE"]
        assert state == PackMLState.STOPPED
        # asked again with everything in place: verified, nothing written
        pack.sim.machine.force_state(PackMLState.EXECUTE)  # type: ignore[attr-defined]
        await pack.sim.flush()  # type: ignore[attr-defined]
        assert (await changeover.change("plate-pair", "anna")).recipe_id == "plate-pair"
        assert (await pack.read("STATE"))["STATE"] == PackMLState.EXECUTE
    with sessions() as s:
        actions = [(a.action, a.detail.get("result")) for a in s.scalars(
            select(OperatorAction).where(OperatorAction.user == "anna")
            .order_by(OperatorAction.id))]
    assert actions == [("packer STOP for changeover from EXECUTE", None),
                       ("recipe changeover plate-pair", "TAKEN"),
                       ("recipe changeover plate-pair", "VERIFIED")]


async def test_a_packer_that_cannot_stop_refuses_the_changeover(
        tmp_path: Path, sessions: sessionmaker[Session], conv_map: TagMap,
        recipes: dict[str, Recipe]) -> None:
    async with packer(tmp_path) as pack, devices() as dev, \
            controller(dev, sessions, conv_map, recipes) as line:
        await line.wait_for_state(PackMLState.STOPPED, timeout=5)
        pack.sim.machine.force_state(PackMLState.ABORTED)  # type: ignore[attr-defined]
        await pack.sim.flush()  # type: ignore[attr-defined]
        changeover = RecipeChangeover(pack, line.link, lambda: line.state, line.alarms,
                                      line.journal, recipes)
        with pytest.raises(ChangeoverRefused, match="could not be stopped"):
            await changeover.change("plate-pair", "test")
        assert changeover.in_force is None
        assert await changeover.start_problem() == ("no recipe in force: do a recipe "
                                                     "changeover first")
