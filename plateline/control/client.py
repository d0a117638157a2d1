"""The client side of the control socket (used by ``plateline line ...``)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from plateline.control.protocol import MAX_LINE, ControlError, decode, encode


class ControlRefused(ControlError):
    """The controller understood the request and refused it (the answer says why)."""


async def request(path: Path, op: str, *, timeout: float = 70.0,
                  **arguments: Any) -> dict[str, Any]:
    """Send one request to the controller at ``path``; its answer (``ok`` is true).

    ControlRefused when the controller refused it, ControlError when nobody answers.
    """
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_unix_connection(str(path), limit=MAX_LINE)
            try:
                writer.write(encode({"op": op, **arguments}))
                await writer.drain()
                line = await reader.readline()
            finally:
                writer.close()
                await writer.wait_closed()
    except (FileNotFoundError, ConnectionRefusedError) as err:
        raise ControlError(f"no controller is running on {path} ({err.strerror})") from err
    except PermissionError as err:
        raise ControlError(f"not allowed to use {path}: ask for the line's operator "
                           f"group") from err
    except TimeoutError as err:
        raise ControlError(f"the controller did not answer within {timeout:g} s") from err
    except (OSError, ValueError) as err:
        raise ControlError(f"control socket {path}: {err}") from err
    if not line:
        raise ControlError("the controller closed the connection without an answer")
    answer = decode(line)
    if answer.get("ok") is not True:
        raise ControlRefused(str(answer.get("error", "refused")))
    return answer
