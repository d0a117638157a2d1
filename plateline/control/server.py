"""The control socket: operator commands from a shell on the controller's machine.

A Unix socket beside the line's files; who may connect is who may operate the
line (the socket file's owner and group, ``[control] socket_mode``). The peer's
user name is taken from the kernel (``SO_PEERCRED``), not from the request, and
every action is recorded under it as ``shell:<user>``.

Operations (see ``plateline line -h``): ``status``, ``start`` (Reset, the packer,
Start, as an operator does), ``command`` (a PackML command to the line),
``packer`` (a PackML command to the packer), ``reject`` (a tray by hand) and
``recipe`` (a changeover).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pwd
import socket
import stat
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from plateline.contract import PackMLCommand
from plateline.control.protocol import MAX_LINE, ControlError, decode, encode
from plateline.controller.line import LineController
from plateline.controller.operations import reset_and_start
from plateline.errors import ConfigError, PlatelineError

log = logging.getLogger(__name__)

#: A client has this long to send its request.
REQUEST_TIMEOUT_S = 5.0
#: The longest an operation may take (a start waits for the packer and the PLC).
OPERATION_TIMEOUT_S = 60.0
_SUN_PATH_MAX = 107

Operation = Callable[[LineController, dict[str, Any], str], Awaitable[dict[str, Any]]]


class ControlServer:
    """Serve ``controller`` on the Unix socket ``path`` (async context manager)."""

    def __init__(self, controller: LineController, path: Path, *, mode: int = 0o660) -> None:
        self.controller = controller
        self.path = Path(path)
        self.mode = mode
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Self:
        if len(os.fsencode(self.path)) > _SUN_PATH_MAX:
            raise ConfigError(f"control socket path {self.path} is longer than "
                              f"{_SUN_PATH_MAX} bytes (a Unix socket's limit)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        await self._remove_stale()
        self._server = await asyncio.start_unix_server(self._accept, path=str(self.path),
                                                       limit=MAX_LINE)
        os.chmod(self.path, self.mode)
        log.info("control socket %s", self.path)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _remove_stale(self) -> None:
        """A socket file left by a controller that died is removed; one that answers
        belongs to a running controller, and this one must not start."""
        try:
            st = self.path.lstat()
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(st.st_mode):
            raise ConfigError(f"control socket path {self.path} exists and is not a socket")
        try:
            async with asyncio.timeout(1.0):
                _, writer = await asyncio.open_unix_connection(str(self.path))
        except (ConnectionRefusedError, FileNotFoundError, TimeoutError):
            self.path.unlink(missing_ok=True)
            return
        writer.close()
        raise ConfigError(f"another controller is listening on {self.path}")

    async def _accept(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:  # owned here, so that closing the server ends it
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        await self._serve(reader, writer)

    async def _serve(self, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        try:
            answer = await self._answer(reader, writer)
            writer.write(encode(answer))
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                await writer.drain()
        except (OSError, TimeoutError) as err:
            log.info("control client went away: %s", err)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> dict[str, Any]:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                line = await reader.readline()
            request = decode(line)
        except TimeoutError:
            return _error("no request within the time allowed")
        except (ValueError, ControlError) as err:  # ValueError: a line beyond the limit
            return _error(f"bad request: {err}")
        user = f"shell:{peer_user(writer)}"
        op = request.get("op")
        operation = OPERATIONS.get(op) if isinstance(op, str) else None
        if operation is None:
            return _error(f"unknown operation {op!r}; one of {', '.join(sorted(OPERATIONS))}")
        try:
            async with asyncio.timeout(OPERATION_TIMEOUT_S):
                result = await operation(self.controller, request, user)
        except TimeoutError:
            return _error(f"{op}: not done within {OPERATION_TIMEOUT_S:g} s")
        except (PlatelineError, ValueError, KeyError) as err:
            return _error(f"{op}: {err}")
        except Exception as err:  # noqa: BLE001 - a bug answers as one, the server goes on
            log.exception("control: %s by %s failed", op, user)
            return _error(f"{op}: internal error: {type(err).__name__}: {err}")
        if op != "status":
            log.info("control: %s by %s: %s", op, user, result)
        return {"ok": True, **result}


def _error(text: str) -> dict[str, Any]:
    return {"ok": False, "error": text}


def peer_user(writer: asyncio.StreamWriter) -> str:
    """The name of the user at the other end of a Unix socket (kernel credentials)."""
    sock = writer.get_extra_info("socket")
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return "unknown"
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _, uid, _ = struct.unpack("3i", creds)
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid{uid}"


# -- operations --------------------------------------------------------------------------


async def _status(c: LineController, req: dict[str, Any], user: str) -> dict[str, Any]:
    in_force = c.recipe_changeover.in_force if c.recipe_changeover else None
    return {
        "state": c.state.name,
        "packer_state": c.packer_state.name if c.packer_state is not None else None,
        "recipe": None if in_force is None else {"id": in_force.recipe_id,
                                                 "version": in_force.version,
                                                 "number": in_force.number},
        "links": c.link_states,
        "counters": c.counters,
        "alarms": [{"code": a.code, "text": a.text, "severity": a.severity.name,
                    "latched": a.latched, "raised_at": a.raised_at.isoformat(),
                    "count": a.count} for a in c.alarms.active],
        "items": c.items_on_line(),
    }


async def _start(c: LineController, req: dict[str, Any], user: str) -> dict[str, Any]:
    result = await reset_and_start(c, user=user)
    if not result.ok:
        raise ControlError(result.detail)
    return {"state": c.state.name}


def _command_of(req: dict[str, Any]) -> PackMLCommand:
    name = req.get("command")
    try:
        return PackMLCommand[str(name).upper()]
    except KeyError:
        raise ValueError(f"unknown command {name!r}; one of "
                         f"{', '.join(c.name for c in PackMLCommand)}") from None


async def _command(c: LineController, req: dict[str, Any], user: str) -> dict[str, Any]:
    cmd = _command_of(req)
    result = await c.command(cmd, user)
    if result.name != "TAKEN":
        raise ControlError(f"{cmd.name} {result.name} in state {c.state.name}")
    return {"command": cmd.name, "result": result.name, "state": c.state.name}


async def _packer(c: LineController, req: dict[str, Any], user: str) -> dict[str, Any]:
    cmd = _command_of(req)
    state = await c.packer_command(cmd, user)
    return {"command": cmd.name, "packer_state": state.name}


async def _reject(c: LineController, req: dict[str, Any], user: str) -> dict[str, Any]:
    tray, item_id = req.get("tray"), req.get("item_id")
    if tray is not None and (isinstance(tray, bool) or not isinstance(tray, int)):
        raise ValueError(f"tray must be a number, not {tray!r}")
    if item_id is not None and not isinstance(item_id, str):
        raise ValueError(f"item_id must be text, not {item_id!r}")
    rejected = await c.operator_reject(tray, item_id=item_id, user=user)
    return {"item_id": rejected}


async def _recipe(c: LineController, req: dict[str, Any], user: str) -> dict[str, Any]:
    recipe = req.get("recipe")
    if not isinstance(recipe, str) or not recipe:
        raise ValueError("name the recipe")
    if c.recipe_changeover is None:
        raise ControlError("this line has no recipe changeover")
    done = await c.recipe_changeover.change(recipe, user)
    return {"recipe": {"id": done.recipe_id, "version": done.version, "number": done.number}}


OPERATIONS: dict[str, Operation] = {
    "status": _status, "start": _start, "command": _command, "packer": _packer,
    "reject": _reject, "recipe": _recipe,
}
