"""OPERATOR_REJECT end to end: a tray rejected by hand on the simulated PLC, the
verdict in the PLC's ring, the record and the OperatorAction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from controller.conftest import conv_map, dev, loop_never_blocks, recipes, sessions  # noqa: F401
from controller.harness import (
    Devices,
    add_order,
    all_acknowledged,
    at_camera,
    enter,
    fast_settings,
    item_rows,
    open_item,
    started_line,
    taken_by_plc,
    to_gate,
    wait_until,
)
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from plateline.contract import DivertTarget, EventType, Reason, VerdictCode
from plateline.controller.line import LineController
from plateline.controller.operator import OperatorRefused
from plateline.drivers.tagmap import TagMap
from plateline.recipes import Recipe
from plateline.records.models import OperatorAction


@pytest.fixture
async def line(dev: Devices, sessions: sessionmaker[Session], conv_map: TagMap,  # noqa: F811
               recipes: dict[str, Recipe], tmp_path: Path) -> AsyncIterator[LineController]:  # noqa: F811
    add_order(sessions, *(f"ORDER-00{n}" for n in range(1, 6)))
    settings = fast_settings(frames_dir=tmp_path / "frames")
    async with started_line(dev, sessions, conv_map, recipes, settings) as line:
        yield line


def actions(sessions: sessionmaker[Session]) -> list[tuple[str, str, dict]]:  # noqa: F811
    with sessions() as s:
        return [(a.user, a.action, a.detail) for a in s.scalars(
            select(OperatorAction).where(OperatorAction.action.like("reject%"))
            .order_by(OperatorAction.id))]


async def gate(line: LineController, dev: Devices, tray: int) -> int:  # noqa: F811
    item = open_item(line, tray)
    dev.plc.at(EventType.AT_SCALE, tray)
    dev.plc.at(EventType.AT_LABELER, tray)
    target, _ = dev.plc.gate(tray)
    await wait_until(lambda: item.closed, what=f"tray {tray} closed")
    await all_acknowledged(dev)
    return target


async def test_an_undecided_tray_rejected_by_hand(
        line: LineController, dev: Devices, sessions: sessionmaker[Session]) -> None:  # noqa: F811
    await enter(line, dev, 4, "ORDER-001")
    item_id = await line.operator_reject(4, user="anna")
    await at_camera(line, dev, 4)
    await wait_until(lambda: open_item(line, 4).verdict_number is not None, what="planned")
    await wait_until(lambda: taken_by_plc(dev, open_item(line, 4).verdict_number),
                     what="taken")
    assert dev.plc.plc._tracking[4].verdict == (VerdictCode.REJECT, Reason.OPERATOR_REJECT)
    assert await gate(line, dev, 4) == DivertTarget.REJECT_BIN
    (row,) = item_rows(sessions)
    assert row.public_id() == item_id
    assert (row.verdict, row.reason, row.outcome) == ("reject", "OPERATOR_REJECT",
                                                      "reject_bin")
    [(user, action, detail)] = actions(sessions)
    assert (user, action, detail["reason"], detail["item_id"]) == (
        "anna", "reject", "OPERATOR_REJECT", item_id)


async def test_a_pass_in_the_plc_is_followed_by_the_reject(
        line: LineController, dev: Devices, sessions: sessionmaker[Session]) -> None:  # noqa: F811
    await enter(line, dev, 5, "ORDER-002")
    await at_camera(line, dev, 5)
    item = open_item(line, 5)
    await wait_until(lambda: item.verdict_number is not None
                     and taken_by_plc(dev, item.verdict_number), what="PASS taken")
    assert dev.plc.plc._tracking[5].verdict[0] == VerdictCode.PASS
    first = item.verdict_number
    await line.operator_reject(item_id=item.public_id, user="anna")
    await wait_until(lambda: item.verdict_number not in (None, first)
                     and taken_by_plc(dev, item.verdict_number), what="REJECT taken")
    assert dev.plc.plc._tracking[5].verdict == (VerdictCode.REJECT, Reason.OPERATOR_REJECT)
    assert await gate(line, dev, 5) == DivertTarget.REJECT_BIN
    (row,) = item_rows(sessions)
    assert (row.verdict, row.reason, row.outcome) == ("reject", "OPERATOR_REJECT",
                                                      "reject_bin")
    assert row.verdict_seq == item.verdict_number and row.verdict_written
    assert actions(sessions)[0][2]["before"] == "pass"


async def test_the_first_failure_stands(
        line: LineController, dev: Devices, sessions: sessionmaker[Session]) -> None:  # noqa: F811
    await enter(line, dev, 6, None)  # NOREAD
    await line.operator_reject(6, user="anna")
    await at_camera(line, dev, 6)
    await to_gate(line, dev, 6)
    (row,) = item_rows(sessions)
    assert (row.verdict, row.reason, row.outcome) == ("reject", "NOREAD", "reject_bin")
    assert actions(sessions)[0][2]["reason"] == "NOREAD"


async def test_refused_past_the_gate(
        line: LineController, dev: Devices, sessions: sessionmaker[Session]) -> None:  # noqa: F811
    await enter(line, dev, 7, "ORDER-003")
    item_id = open_item(line, 7).public_id
    await at_camera(line, dev, 7)
    await to_gate(line, dev, 7)
    with pytest.raises(OperatorRefused):
        await line.operator_reject(7, user="anna")
    with pytest.raises(OperatorRefused):
        await line.operator_reject(item_id=item_id, user="anna")
    (row,) = item_rows(sessions)
    assert (row.verdict, row.outcome) == ("pass", "outfeed")
    assert [a[1] for a in actions(sessions)] == ["reject REFUSED", "reject REFUSED"]
