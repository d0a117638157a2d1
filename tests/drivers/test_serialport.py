from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from plateline.drivers.serialport import AsyncSerialLine
from plateline.errors import (
    DeviceClosedError,
    DeviceConnectionError,
    DeviceTimeoutError,
    ProtocolError,
)

from .pty_peer import PtyPeer


@pytest.fixture
async def peer() -> AsyncIterator[PtyPeer]:
    p = PtyPeer()
    yield p
    p.close()


async def test_pty_uses_the_event_loop_not_a_thread(peer: PtyPeer) -> None:
    async with AsyncSerialLine("W1", peer.path) as line:
        assert line._fd is not None and line._thread is None
        await line.write(b"SI\r\n")
        assert await peer.read_until(b"\r\n") == b"SI\r\n"
        peer.write(b"S S     123.45 g\r\nS D")
        assert await line.readline(b"\r\n", 1.0) == b"S S     123.45 g"
        with pytest.raises(DeviceTimeoutError, match="3 bytes pending"):
            await line.readline(b"\r\n", 0.05)
        peer.write(b"     1.00 g\r\n")
        assert await line.read_until(b"\r\n", 1.0) == b"S D     1.00 g\r\n"


async def test_split_writes_and_stx_etx_frames(peer: PtyPeer) -> None:
    async with AsyncSerialLine("P1", peer.path) as line:
        async def dribble() -> None:
            for piece in (b"\x02030,0", b",0,1245,000,0,0,0,000,0,0,0\x03", b"\r\n\x02001,0,0"):
                peer.write(piece)
                await asyncio.sleep(0.01)
        writer = asyncio.create_task(dribble())
        frame = await line.read_until(b"\x03", 1.0)
        await writer
        assert frame == b"\x02030,0,0,1245,000,0,0,0,000,0,0,0\x03"
        assert await line.read_until(b"\r\n", 1.0) == b"\r\n"


async def test_overlong_line_is_protocol_error(peer: PtyPeer) -> None:
    async with AsyncSerialLine("S1", peer.path) as line:
        peer.write(b"A" * 100)
        with pytest.raises(ProtocolError, match="within 64 bytes"):
            await line.readline(b"\r", 1.0, max_size=64)


async def test_discard_input_drops_stale_bytes(peer: PtyPeer) -> None:
    async with AsyncSerialLine("S1", peer.path) as line:
        peer.write(b"OLD1\rOLD2\r")
        await asyncio.sleep(0.05)
        assert line.discard_input() == 10
        peer.write(b"NEW\r")
        assert await line.readline(b"\r", 1.0) == b"NEW"


async def test_peer_gone_breaks_the_line() -> None:
    p = PtyPeer()
    line = AsyncSerialLine("S1", p.path)
    await line.open()
    try:
        reading = asyncio.create_task(line.readline(b"\r", 5.0))
        await asyncio.sleep(0.02)
        p.close()  # both ends the test held; the slave is still open by the line
        with pytest.raises(DeviceConnectionError):
            await asyncio.wait_for(reading, 2.0)
        assert isinstance(await asyncio.wait_for(line.wait_lost(), 1.0), DeviceConnectionError)
        assert not line.is_open
    finally:
        await line.aclose()


async def test_close_is_idempotent_and_final(peer: PtyPeer) -> None:
    line = AsyncSerialLine("S1", peer.path)
    await line.open()
    await line.aclose()
    await line.aclose()
    with pytest.raises(DeviceClosedError):
        await line.write(b"x")
    with pytest.raises(DeviceClosedError):
        await line.readline(b"\r", 0.1)
    with pytest.raises(DeviceClosedError):
        await line.open()


async def test_cannot_open_missing_port(tmp_path: os.PathLike[str]) -> None:
    line = AsyncSerialLine("S1", f"{tmp_path}/ttyNOPE")
    with pytest.raises(DeviceConnectionError, match="cannot open"):
        await line.open()


async def test_loop_url_uses_a_reader_thread() -> None:
    async with AsyncSerialLine("LOOP", "loop://") as line:
        assert line._fd is None and line._thread is not None
        await line.write(b"hello\r\nwor")
        assert await line.readline(b"\r\n", 1.0) == b"hello"
        await line.write(b"ld\r\n")
        assert await line.readline(b"\r\n", 1.0) == b"world"
        with pytest.raises(DeviceTimeoutError):
            await line.readline(b"\r\n", 0.1)
        thread = line._thread
    assert not thread.is_alive()
