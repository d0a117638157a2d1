"""Pure Modbus TCP helpers: read planning and checking of reply frames (no I/O)."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass

READ_MAX = 125  # registers per function-3 request (Modbus application protocol 6.3)
WRITE_MAX = 123  # registers per function-16 request (6.12)
FC_READ_HOLDING = 3
FC_WRITE_MULTIPLE = 16
_MBAP = struct.Struct(">HHHB")


@dataclass(frozen=True, slots=True)
class Expected:
    """What the answer to the outstanding request must look like."""

    tid: int
    unit_id: int
    function: int
    address: int
    count: int


def coalesce(units: Iterable[tuple[int, int]], *, max_count: int = READ_MAX,
             bridge: Callable[[int, int], bool] | None = None) -> list[tuple[int, int]]:
    """Merge ``[start, end)`` register ranges into as few requests as possible.

    A unit (a tag, a ring slot) is never split. Adjacent units are merged while the
    request stays within ``max_count``; a gap ``[lo, hi)`` between units is bridged
    (read along) only when ``bridge(lo, hi)`` says so. Returns ``(address, count)``
    pairs in address order.
    """
    spans: list[list[int]] = []
    for start, end in sorted(set(units)):
        if end - start > max_count:
            raise ValueError(f"range {start}..{end - 1} longer than {max_count} registers")
        if spans:
            span = spans[-1]
            joinable = start <= span[1] or (bridge is not None and bridge(span[1], start))
            if joinable and max(end, span[1]) - span[0] <= max_count:
                span[1] = max(end, span[1])
                continue
        spans.append([start, end])
    return [(s, e - s) for s, e in spans]


def check_reply(data: bytes, expected: Expected) -> str | None:
    """Check received bytes against the outstanding request.

    Returns a description of what is wrong, or None when the data is a valid
    answer, a valid but still incomplete one, or only holds complete frames of
    earlier requests (late answers, which are skipped by transaction id).
    """
    pos = 0
    while len(data) - pos >= _MBAP.size:
        tid, pid, length, unit = _MBAP.unpack_from(data, pos)
        if pid != 0:
            return f"protocol id {pid} in MBAP header, expected 0"
        if not 2 <= length <= 254:
            return f"MBAP length {length} outside 2..254"
        end = pos + 6 + length
        if len(data) < end:
            return None
        if tid == expected.tid:
            if unit != expected.unit_id:
                return f"answer from unit {unit}, expected {expected.unit_id}"
            return check_pdu(data[pos + 7:end], expected)
        pos = end
    return None


def check_pdu(pdu: bytes, expected: Expected) -> str | None:
    """Check one complete response PDU (function code and data) against the request."""
    fc = pdu[0]
    if fc == expected.function | 0x80:
        return None if len(pdu) == 2 else f"exception response of {len(pdu)} bytes"
    if fc != expected.function:
        return f"function code {fc} in answer to function {expected.function}"
    if fc == FC_READ_HOLDING:
        if len(pdu) < 2:
            return "read answer without byte count"
        if pdu[1] != 2 * expected.count or len(pdu) != 2 + pdu[1]:
            return (f"read answer carries {pdu[1]} bytes in {len(pdu) - 2}, "
                    f"expected {2 * expected.count}")
        return None
    if len(pdu) != 5:
        return f"write answer of {len(pdu)} bytes, expected 5"
    address, count = struct.unpack_from(">HH", pdu, 1)
    if (address, count) != (expected.address, expected.count):
        return (f"write answer echoes {count} registers at {address}, "
                f"expected {expected.count} at {expected.address}")
    return None
