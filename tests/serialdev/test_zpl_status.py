"""``~HS`` answers: field positions, flags and framing (property-based)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plateline.drivers.zpl import format_host_status, parse_host_status
from plateline.errors import ProtocolError

FLAGS = ("paper_out", "paused", "head_open", "ribbon_out", "buffer_full")
field_chars = st.sampled_from("0123456789")


def digits(n: int) -> st.SearchStrategy[str]:
    return st.text(field_chars, min_size=n, max_size=n)


def flag() -> st.SearchStrategy[str]:
    return st.sampled_from("01")


@st.composite
def status_answers(draw: st.DrawFn) -> tuple[bytes, dict[str, bool]]:
    """An answer built field by field from the spec's layout, and its five flags."""
    b, c, f, o, p = (draw(flag()) for _ in range(5))
    line1 = [draw(digits(3)), b, c, draw(digits(4)), draw(digits(3)), f, draw(digits(1)),
             draw(digits(1)), draw(digits(3)), draw(digits(1)), draw(digits(1)), draw(digits(1))]
    line2 = [draw(digits(3)), draw(digits(1)), o, p, draw(digits(1)), draw(digits(1)),
             draw(digits(1)), draw(digits(1)), draw(digits(8)), draw(digits(1)), draw(digits(3))]
    line3 = [draw(digits(4)), draw(digits(1))]
    raw = b"".join(b"\x02" + ",".join(line).encode() + b"\x03\r\n"
                   for line in (line1, line2, line3))
    flags = {"paper_out": b == "1", "paused": c == "1", "buffer_full": f == "1",
             "head_open": o == "1", "ribbon_out": p == "1"}
    return raw, flags


@given(status_answers())
def test_generated_lines_parse_to_their_flags(answer: tuple[bytes, dict[str, bool]]) -> None:
    raw, flags = answer
    status = parse_host_status(raw)
    assert {name: getattr(status, name) for name in FLAGS} == flags
    assert status.raw == raw
    expected_faults = tuple(n for n in ("paper_out", "paused", "head_open", "ribbon_out")
                            if flags[n])
    assert status.faults == expected_faults
    assert status.ready == (not expected_faults)


@given(st.fixed_dictionaries({name: st.booleans() for name in FLAGS}))
def test_format_round_trip(flags: dict[str, bool]) -> None:
    status = parse_host_status(format_host_status(**flags))
    assert {name: getattr(status, name) for name in FLAGS} == flags


def test_the_flag_positions() -> None:
    ok = format_host_status()
    assert ok == (b"\x02030,0,0,1218,000,0,0,0,000,0,0,0\x03\r\n"
                  b"\x02001,0,0,0,1,2,6,0,00000000,1,000\x03\r\n\x021234,0\x03\r\n")
    assert parse_host_status(ok).ready
    line1 = b"\x02030,%s,%s,1218,000,%s,0,0,000,0,0,0\x03\r\n"
    rest = b"\x02001,0,0,0,1,2,6,0,00000000,1,000\x03\r\n\x021234,0\x03\r\n"
    assert parse_host_status(line1 % (b"1", b"0", b"0") + rest).paper_out
    assert parse_host_status(line1 % (b"0", b"1", b"0") + rest).paused
    assert parse_host_status(line1 % (b"0", b"0", b"1") + rest).buffer_full
    head = parse_host_status(line1 % (b"0", b"0", b"0")
                             + rest.replace(b"001,0,0,0", b"001,0,1,0"))
    assert head.head_open and not head.ribbon_out and head.faults == ("head_open",)
    ribbon = parse_host_status(line1 % (b"0", b"0", b"0")
                               + rest.replace(b"001,0,0,0", b"001,0,0,1"))
    assert ribbon.ribbon_out and not ribbon.head_open


mutations = st.sampled_from(["delete", "insert", "structural", "flag"])


@given(status_answers(), mutations, st.integers(min_value=0), st.binary(min_size=1, max_size=1))
def test_corrupted_framing_is_refused(answer: tuple[bytes, dict[str, bool]], how: str,
                                      where: int, byte: bytes) -> None:
    raw = bytearray(answer[0])
    if how == "delete":
        del raw[where % len(raw)]
    elif how == "insert":
        raw[where % (len(raw) + 1):where % (len(raw) + 1)] = byte
    elif how == "structural":
        spots = [i for i, ch in enumerate(raw) if ch in b"\x02\x03\r\n,"]
        i = spots[where % len(spots)]
        if byte[0] == raw[i]:
            byte = b"X"
        raw[i] = byte[0]
    else:  # a flag that is neither 0 nor 1
        flag_spots = [5, 7, 18]  # b, c, f of line 1 (after STX)
        if byte in (b"0", b"1"):
            byte = b"2"
        raw[flag_spots[where % 3]] = byte[0]
    with pytest.raises(ProtocolError):
        parse_host_status(bytes(raw))


@pytest.mark.parametrize("raw", [
    b"", b"\x02030,0,0,1218,000,0,0,0,000,0,0,0\x03\r\n",  # one line only
    format_host_status()[:-2],  # no final CR LF
    format_host_status() + b"\x021234,0\x03\r\n",  # a fourth line
    format_host_status().replace(b"\r\n", b"\n"),
    format_host_status().replace(b"\x02", b""),
    format_host_status().replace(b"1218", b"218"),  # a field one character short
    format_host_status().replace(b"030,", b"030;"),
    b"garbage\r\n" * 3,
])
def test_malformed_answers(raw: bytes) -> None:
    with pytest.raises(ProtocolError, match="malformed ~HS"):
        parse_host_status(raw, device="P1")
