from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plateline.drivers.codereader import SerialCodeReader, decode_answer
from plateline.errors import DeviceTimeoutError, ProtocolError

from .pty_peer import PtyPeer

printable = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp", "Cf", "Co", "Cn")),
    min_size=1, max_size=60,
).filter(lambda s: s.isprintable() and s != "ERROR")


@pytest.fixture
async def peer() -> AsyncIterator[PtyPeer]:
    p = PtyPeer()
    yield p
    p.close()


async def answer_once(peer: PtyPeer, *pieces: bytes, pause: float = 0.0) -> None:
    """Play the reader: wait for LON, then send the answer in pieces."""
    assert await peer.read_until(b"\r") == b"LON\r"
    for piece in pieces:
        peer.write(piece)
        if pause:
            await asyncio.sleep(pause)


async def scan_with(reader: SerialCodeReader, peer: PtyPeer, *pieces: bytes,
                    pause: float = 0.0) -> str | None:
    playing = asyncio.create_task(answer_once(peer, *pieces, pause=pause))
    try:
        return await reader.scan()
    finally:
        await playing


async def test_scan_returns_data(peer: PtyPeer) -> None:
    async with SerialCodeReader("S1", peer.path) as s1:
        assert await scan_with(s1, peer, b"ORD-2026-000042\r") == "ORD-2026-000042"
        assert await scan_with(s1, peer, "粤A12345\r".encode()) == "粤A12345"
    assert bytes(peer.received) == b"LON\rLON\r"


async def test_error_means_nothing_decoded(peer: PtyPeer) -> None:
    async with SerialCodeReader("S2", peer.path) as s2:
        assert await scan_with(s2, peer, b"ERROR\r") is None


async def test_answer_split_across_writes(peer: PtyPeer) -> None:
    async with SerialCodeReader("S1", peer.path) as s1:
        assert await scan_with(s1, peer, b"SF14", b"2", b"3456\r", pause=0.02) == "SF1423456"


async def test_stale_input_is_discarded(peer: PtyPeer) -> None:
    async with SerialCodeReader("S1", peer.path) as s1:
        peer.write(b"OLD-TRAY\rERROR\r")
        await asyncio.sleep(0.05)
        assert await scan_with(s1, peer, b"NEW-TRAY\r") == "NEW-TRAY"


@pytest.mark.parametrize("late", [b"ERROR\r", b"LATE-CODE\r"])
async def test_timeout_stops_the_read_and_drains_the_late_answer(peer: PtyPeer,
                                                                 late: bytes) -> None:
    async def slow_reader() -> None:
        assert await peer.read_until(b"\r") == b"LON\r"
        assert await peer.read_until(b"\r") == b"LOFF\r"
        peer.write(late)

    async with SerialCodeReader("S1", peer.path, timeout=0.1, drain_timeout=0.5) as s1:
        playing = asyncio.create_task(slow_reader())
        start = time.monotonic()
        with pytest.raises(DeviceTimeoutError, match="no answer within 0.1 s"):
            await s1.scan()
        assert time.monotonic() - start < 0.6
        await playing
        # the late answer was taken during the drain: the next scan gets its own answer
        assert await scan_with(s1, peer, b"NEXT\r") == "NEXT"


async def test_dead_reader_times_out_bounded(peer: PtyPeer) -> None:
    async with SerialCodeReader("S1", peer.path, timeout=0.1, drain_timeout=0.05) as s1:
        start = time.monotonic()
        with pytest.raises(DeviceTimeoutError):
            await s1.scan()
        assert time.monotonic() - start < 1.0
        assert await peer.read_until(b"\r") == b"LON\r"
        assert await peer.read_until(b"\r") == b"LOFF\r"


@pytest.mark.parametrize("garbage", [b"\x00\x01AB\r", b"\xff\xfe\r", b"AB\nCD\r", b"\r"])
async def test_garbage_is_protocol_error(peer: PtyPeer, garbage: bytes) -> None:
    async with SerialCodeReader("S1", peer.path) as s1:
        with pytest.raises(ProtocolError):
            await scan_with(s1, peer, garbage)
        assert await scan_with(s1, peer, b"OK\r") == "OK"


async def test_overlong_line_fails_fast(peer: PtyPeer) -> None:
    async with SerialCodeReader("S1", peer.path, timeout=2.0, max_length=64) as s1:
        start = time.monotonic()
        with pytest.raises(ProtocolError, match="within 65 bytes"):
            await scan_with(s1, peer, b"A" * 200)
        assert time.monotonic() - start < 1.5
        assert await scan_with(s1, peer, b"A" * 64 + b"\r") == "A" * 64


async def test_one_command_at_a_time(peer: PtyPeer) -> None:
    async def reader_for_two() -> None:
        for code in (b"ONE\r", b"TWO\r"):
            assert await peer.read_until(b"\r") == b"LON\r"
            await asyncio.sleep(0.02)
            assert b"LON" not in peer._buf  # no second trigger before this answer
            peer.write(code)

    async with SerialCodeReader("S1", peer.path) as s1:
        playing = asyncio.create_task(reader_for_two())
        results = await asyncio.gather(s1.scan(), s1.scan())
        await playing
    assert sorted(r or "" for r in results) == ["ONE", "TWO"]


@given(printable)
def test_decode_answer_round_trip(text: str) -> None:
    assert decode_answer(text.encode()) == text


@given(st.binary(max_size=40), st.sampled_from([b"\x00", b"\x07", b"\n", b"\x1b", b"\x7f"]),
       st.binary(max_size=40))
def test_decode_answer_refuses_control_bytes(head: bytes, bad: bytes, tail: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_answer(head + bad + tail)


@settings(max_examples=25, deadline=None)
@given(printable, st.lists(st.integers(min_value=0, max_value=80), max_size=4))
def test_answer_arrives_in_any_chunking(text: str, cuts: list[int]) -> None:
    payload = text.encode() + b"\r"
    points = sorted({c % len(payload) for c in cuts} | {0, len(payload)})
    pieces = [payload[a:b] for a, b in itertools.pairwise(points)]

    async def scenario() -> str | None:
        peer = PtyPeer()
        try:
            async with SerialCodeReader("S1", peer.path) as s1:
                return await scan_with(s1, peer, *pieces, pause=0.001)
        finally:
            peer.close()

    assert asyncio.run(scenario()) == text


async def test_stop_ends_the_read_early_with_loff(peer: PtyPeer) -> None:
    async def reader_that_answers_only_loff() -> None:
        assert await peer.read_until(b"\r") == b"LON\r"
        assert await peer.read_until(b"\r") == b"LOFF\r"
        peer.write(b"ERROR\r")

    stop = asyncio.Event()
    async with SerialCodeReader("S1", peer.path, timeout=2.0) as s1:
        playing = asyncio.create_task(reader_that_answers_only_loff())
        scanning = asyncio.create_task(s1.scan(stop=stop))
        await asyncio.sleep(0.05)
        assert not scanning.done()
        began = time.monotonic()
        stop.set()
        assert await scanning is None
        assert time.monotonic() - began < 0.5  # not the 2 s timeout
        await playing
        # the reader is free for the next trigger, with nothing stale in between
        assert await scan_with(s1, peer, b"ORD-2026-000043\r") == "ORD-2026-000043"

