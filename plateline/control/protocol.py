"""The control socket's wire format: one JSON object per line, one request per connection.

A request is ``{"op": NAME, ...arguments}``; the answer is ``{"ok": true, ...}`` or
``{"ok": false, "error": TEXT}``. Lines are UTF-8 and at most ``MAX_LINE`` bytes.
"""

from __future__ import annotations

import json
from typing import Any

from plateline.errors import PlatelineError

MAX_LINE = 1 << 16


class ControlError(PlatelineError):
    """A control request or answer that cannot be understood, or no answer."""


def encode(message: dict[str, Any]) -> bytes:
    """One message as a line."""
    data = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(data) >= MAX_LINE:
        raise ControlError(f"control message of {len(data)} bytes is too long")
    return data + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """A line as a message; ProtocolError when it is not one JSON object."""
    if not line.endswith(b"\n"):
        raise ControlError("control message not terminated by a newline")
    try:
        message = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ControlError(f"control message is not JSON: {err}") from err
    if not isinstance(message, dict):
        raise ControlError("control message is not a JSON object")
    return message
