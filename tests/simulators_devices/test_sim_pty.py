"""PtyPort and LineSplitter: real pseudo-terminals."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from pathlib import Path

import pytest
import serial
from hypothesis import given
from hypothesis import strategies as st

from plateline.errors import DeviceClosedError
from plateline.simulators.pty import LineSplitter, PtyPort


async def test_bytes_both_ways(open_client) -> None:
    async with PtyPort("T1") as port:
        assert port.path.startswith("/dev/")
        client = open_client(port.path)
        client.write(b"hello\r")
        got = b""
        async with asyncio.timeout(2):
            async for chunk in port.chunks():
                got += chunk
                if got.endswith(b"\r"):
                    break
        assert got == b"hello\r"
        await port.write(b"world\r")
        assert await client.readline() == b"world\r"
        assert port.bytes_in == 6 and port.bytes_out == 6


async def test_callback_receives_data(open_client) -> None:
    seen = bytearray()
    got = asyncio.Event()

    def on_data(chunk: bytes) -> None:
        seen.extend(chunk)
        if b"\n" in seen:
            got.set()

    async with PtyPort("T1", on_data=on_data) as port:
        client = open_client(port.path)
        client.write(b"abc")
        client.write(b"def\n")
        async with asyncio.timeout(2):
            await got.wait()
        assert bytes(seen) == b"abcdef\n"
        with pytest.raises(RuntimeError):
            await port.read()


async def test_client_can_close_and_reopen(open_client) -> None:
    async with PtyPort("T1") as port:
        first = open_client(port.path)
        first.close()
        await asyncio.sleep(0.05)
        second = open_client(port.path)
        second.write(b"again")
        async with asyncio.timeout(2):
            assert await port.read() == b"again"
        await port.write(b"ok\r")
        assert await second.readline() == b"ok\r"


async def test_pyserial_client(tmp_path: Path) -> None:
    link = tmp_path / "sim" / "T1"
    async with PtyPort("T1", link=link) as port:

        def talk() -> bytes:
            with serial.Serial(str(link), baudrate=115200, timeout=2) as ser:
                ser.write(b"ping\r")
                return bytes(ser.read_until(b"\r"))

        client = asyncio.create_task(asyncio.to_thread(talk))
        async with asyncio.timeout(3):
            assert await port.read() == b"ping\r"
        await port.write(b"pong\r")
        assert await client == b"pong\r"


async def test_symlink_created_replaced_and_removed(tmp_path: Path) -> None:
    link = tmp_path / "var" / "sim" / "S1"
    link.parent.mkdir(parents=True)
    link.symlink_to("/dev/null")  # a stale link of an earlier run
    async with PtyPort("S1", link=link) as port:
        assert link.is_symlink()
        assert os.readlink(link) == port.path
        assert port.endpoint == str(link)
    assert not link.exists() and not link.is_symlink()


async def test_link_left_alone_if_someone_else_took_it(tmp_path: Path) -> None:
    link = tmp_path / "S1"
    async with PtyPort("S1", link=link):
        link.unlink()
        link.symlink_to("/dev/null")
    assert os.readlink(link) == "/dev/null"


async def test_aclose_is_idempotent_and_final() -> None:
    port = PtyPort("T1")
    await port.open()
    path = port.path
    await port.aclose()
    await port.aclose()
    with pytest.raises(DeviceClosedError):
        _ = port.path
    with pytest.raises(DeviceClosedError):
        await port.write(b"x")
    with pytest.raises(DeviceClosedError):
        await port.read()
    with pytest.raises(DeviceClosedError):
        await port.open()
    assert path.startswith("/dev/")


async def test_close_ends_chunks_iteration() -> None:
    port = PtyPort("T1")
    await port.open()

    async def drain() -> list[bytes]:
        return [chunk async for chunk in port.chunks()]

    task = asyncio.create_task(drain())
    await asyncio.sleep(0.01)
    await port.aclose()
    async with asyncio.timeout(1):
        assert await task == []


async def test_pacing_delays_by_bit_time(open_client) -> None:
    async with PtyPort("T1", baud=9600, pace=True) as port:
        client = open_client(port.path)
        t0 = time.monotonic()
        await port.write(b"x" * 95 + b"\r")  # 96 bytes = 960 bits = 0.1 s at 9600 baud
        assert time.monotonic() - t0 >= 0.095
        assert len(await client.readline()) == 96


async def test_unread_output_is_dropped_not_blocking() -> None:
    async with PtyPort("T1", write_timeout=0.05) as port:
        sent = 0
        async with asyncio.timeout(5):
            while port.bytes_dropped == 0 and sent < 2**24:
                await port.write(b"y" * 16384)
                sent += 16384
        assert port.bytes_dropped > 0
        assert port.bytes_out + port.bytes_dropped == sent


# -- LineSplitter -------------------------------------------------------------------


def test_splitter_basics() -> None:
    sp = LineSplitter()
    assert sp.feed(b"LO") == []
    assert sp.feed(b"N\r\nLOFF\rX") == [b"LON", b"LOFF"]
    assert sp.feed(b"\n") == [b"X"]


def test_splitter_drops_overlong_lines() -> None:
    sp = LineSplitter(max_line=8)
    assert sp.feed(b"A" * 5) == []
    assert sp.feed(b"A" * 5 + b"\rLON\r") == [b"LON"]
    assert sp.overflows == 1
    assert sp.feed(b"B" * 20 + b"\rC\r") == [b"C"]
    assert sp.overflows == 2


_commands = st.lists(st.sampled_from([b"LON", b"LOFF", b"FOO", b"S", b"SI", b"~HS"]),
                     max_size=12)
_enders = st.sampled_from([b"\r", b"\n", b"\r\n"])


@given(cmds=_commands, ender=_enders, cuts=st.lists(st.integers(0, 200), max_size=10))
def test_splitter_ignores_how_the_stream_is_cut(cmds: list[bytes], ender: bytes,
                                                cuts: list[int]) -> None:
    stream = b"".join(c + ender for c in cmds)
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    sp = LineSplitter()
    out: list[bytes] = []
    for a, b in itertools.pairwise(points):
        out += sp.feed(stream[a:b])
    assert out == cmds
