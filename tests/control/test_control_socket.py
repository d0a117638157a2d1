"""The control socket against a controller on the simulated PLC: status, commands,
reject by hand and changeover from a shell, recorded under the kernel's user name."""

from __future__ import annotations

import asyncio
import getpass
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from controller.conftest import conv_map, dev, loop_never_blocks, recipes, sessions  # noqa: F401
from controller.harness import (
    Devices,
    add_order,
    controller,
    enter,
    fast_settings,
    start_line,
)
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from plateline.contract import PackMLState
from plateline.control import ControlError, ControlRefused, ControlServer, request
from plateline.control.protocol import MAX_LINE
from plateline.controller.line import LineController
from plateline.drivers.tagmap import TagMap
from plateline.errors import ConfigError
from plateline.recipes import Recipe
from plateline.records.models import OperatorAction

SHELL_USER = f"shell:{getpass.getuser()}"


@pytest.fixture
def sock_path() -> Iterator[Path]:
    """A short path (a Unix socket's path is limited to 107 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="pl-ctl-", dir="/tmp"))
    yield folder / "control.sock"
    for p in folder.iterdir():
        p.unlink()
    folder.rmdir()


@pytest.fixture
async def line(dev: Devices, sessions: sessionmaker[Session], conv_map: TagMap,  # noqa: F811
               recipes: dict[str, Recipe], tmp_path: Path,  # noqa: F811
               sock_path: Path) -> AsyncIterator[LineController]:
    add_order(sessions, "ORDER-001", "ORDER-002")
    async with controller(dev, sessions, conv_map, recipes,
                          fast_settings(frames_dir=tmp_path / "frames")) as line, \
            ControlServer(line, sock_path):
        await start_line(line, dev)
        yield line


def actions(sessions: sessionmaker[Session]) -> list[tuple[str, str]]:  # noqa: F811
    with sessions() as s:
        return [(a.user, a.action) for a in s.scalars(select(OperatorAction)
                                                      .order_by(OperatorAction.id))]


async def test_status_tells_state_links_and_the_trays_on_the_line(
        line: LineController, dev: Devices, sock_path: Path) -> None:  # noqa: F811
    await enter(line, dev, 4, "ORDER-001")
    status = await request(sock_path, "status")
    assert status["state"] == "EXECUTE"
    assert status["links"]["CONV"] == "up"
    assert [(it["tray"], it["order_id"]) for it in status["items"]] == [(4, "ORDER-001")]
    assert status["counters"]["on_line"] == 1


async def test_reject_by_hand_is_recorded_under_the_shell_user(
        line: LineController, dev: Devices, sock_path: Path,  # noqa: F811
        sessions: sessionmaker[Session]) -> None:  # noqa: F811
    await enter(line, dev, 4, "ORDER-001")
    answer = await request(sock_path, "reject", tray=4)
    item = line.tracker.by_tray[4] if line.tracker else None
    assert item is not None and answer["item_id"] == item.public_id
    assert item.verdict is not None and item.verdict.reason.name == "OPERATOR_REJECT"
    assert (SHELL_USER, "reject") in actions(sessions)


async def test_refusals_say_why_and_are_recorded(
        line: LineController, sock_path: Path, sessions: sessionmaker[Session]) -> None:  # noqa: F811
    with pytest.raises(ControlRefused, match="no item on tray 99"):
        await request(sock_path, "reject", tray=99)
    assert (SHELL_USER, "reject REFUSED") in actions(sessions)
    with pytest.raises(ControlRefused, match="tray must be a number"):
        await request(sock_path, "reject", tray="4")
    with pytest.raises(ControlRefused, match="unknown operation 'explode'"):
        await request(sock_path, "explode")
    with pytest.raises(ControlRefused, match="unknown command 'FLY'"):
        await request(sock_path, "command", command="FLY")
    with pytest.raises(ControlRefused, match="no recipe changeover"):
        await request(sock_path, "recipe", recipe="plate-single")


async def test_line_commands_go_through_the_line_state(
        line: LineController, sock_path: Path, sessions: sessionmaker[Session]) -> None:  # noqa: F811
    answer = await request(sock_path, "command", command="HOLD")
    assert answer["result"] == "TAKEN"
    await line.wait_for_state(PackMLState.HELD, timeout=5)
    with pytest.raises(ControlRefused, match="HOLD"):
        await request(sock_path, "command", command="HOLD")  # not allowed in Held
    assert (await request(sock_path, "command", command="unhold"))["command"] == "UNHOLD"
    await line.wait_for_state(PackMLState.EXECUTE, timeout=5)
    assert [a for a in actions(sessions) if a[0] == SHELL_USER]


async def test_garbage_on_the_socket_gets_an_error_and_the_server_goes_on(
        line: LineController, sock_path: Path) -> None:
    for garbage in (b"\xff\xfe not json\n", b"[1, 2]\n", b"x" * (MAX_LINE + 10) + b"\n"):
        reader, writer = await asyncio.open_unix_connection(str(sock_path), limit=MAX_LINE)
        writer.write(garbage)
        await writer.drain()
        answer = await asyncio.wait_for(reader.readline(), 5)
        writer.close()
        await writer.wait_closed()
        assert b'"ok":false' in answer and b"bad request" in answer
    assert (await request(sock_path, "status"))["state"] == "EXECUTE"


async def test_a_silent_client_is_dropped(line: LineController, sock_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from plateline.control import server

    monkeypatch.setattr(server, "REQUEST_TIMEOUT_S", 0.2)
    reader, writer = await asyncio.open_unix_connection(str(sock_path))
    answer = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    assert b"no request within the time allowed" in answer


async def test_a_second_controller_on_the_same_socket_is_refused(
        line: LineController, sock_path: Path) -> None:
    with pytest.raises(ConfigError, match="another controller is listening"):
        async with ControlServer(line, sock_path):
            pass
    assert (await request(sock_path, "status"))["state"] == "EXECUTE"


async def test_a_stale_socket_file_is_replaced_and_removed_at_the_end(
        dev: Devices, sessions: sessionmaker[Session], conv_map: TagMap,  # noqa: F811
        recipes: dict[str, Recipe], sock_path: Path) -> None:  # noqa: F811
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(sock_path))
    dead.close()  # the file stays, nobody listens: a controller that was killed
    async with controller(dev, sessions, conv_map, recipes, fast_settings()) as line:
        async with ControlServer(line, sock_path, mode=0o600):
            assert oct(sock_path.stat().st_mode & 0o777) == "0o600"
            assert (await request(sock_path, "status"))["state"]
        assert not sock_path.exists()
    with pytest.raises(ControlError, match="no controller is running"):
        await request(sock_path, "status")


async def test_the_cli_talks_to_the_socket(line: LineController, dev: Devices,  # noqa: F811
                                           sock_path: Path) -> None:
    await enter(line, dev, 4, "ORDER-001")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "plateline.cli", "line", "status", "--socket", str(sock_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    assert "state    EXECUTE" in text and "tray    4" in text
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "plateline.cli", "line", "reject", "--tray", "77",
        "--socket", str(sock_path), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2 and "no item on tray 77" in err.decode()


async def test_a_failing_operation_answers_and_the_server_goes_on(
        line: LineController, sock_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from plateline.control import server

    async def broken(*_: object) -> dict[str, object]:
        raise ZeroDivisionError("bug")

    monkeypatch.setitem(server.OPERATIONS, "status", broken)
    with pytest.raises(ControlRefused, match="internal error: ZeroDivisionError"):
        await request(sock_path, "status")
    monkeypatch.undo()
    assert (await request(sock_path, "status"))["state"] == "EXECUTE"
