"""ScannerSim over a real pseudo-terminal: the LON/LOFF protocol of serial-devices.md."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest
import serial

from plateline.simulators.scanner import ScannerSim, load_codes
from plateline.simulators.views import ScanView


class Field:
    """A field of view whose content a test changes, counting the looks."""

    def __init__(self, data: str | None) -> None:
        self.data = data
        self.looks = 0

    def __call__(self) -> ScanView:
        self.looks += 1
        return ScanView(data=self.data)


async def _until(cond, timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.005)


async def test_answers_data_after_decode_delay(open_client) -> None:
    async with ScannerSim("S1", Field("ORD-000123"), decode_delay=(0.03, 0.08)) as sim:
        client = open_client(sim.port.path)
        t0 = time.monotonic()
        client.write(b"LON\r")
        assert await client.readline() == b"ORD-000123\r"
        assert time.monotonic() - t0 >= 0.025
        assert sim.counters.triggers == 1 and sim.counters.reads == 1
        assert sim.counters.errors == 0


async def test_error_after_read_window_when_nothing_seen(open_client) -> None:
    async with ScannerSim("S1", Field(None)) as sim:
        client = open_client(sim.port.path)
        t0 = time.monotonic()
        client.write(b"LON\r")
        assert await client.readline() == b"ERROR\r"
        elapsed = time.monotonic() - t0
        assert 0.28 <= elapsed < 1.0
        assert sim.counters.errors == 1 and sim.counters.reads == 0


async def test_decode_slower_than_window_is_an_error(open_client) -> None:
    async with ScannerSim("S1", Field("X1"), decode_delay=(0.5, 0.6), read_window=0.1) as sim:
        client = open_client(sim.port.path)
        client.write(b"LON\r")
        assert await client.readline() == b"ERROR\r"


async def test_view_is_taken_at_the_trigger(open_client) -> None:
    field = Field("FIRST")
    async with ScannerSim("S1", field, decode_delay=(0.2, 0.2)) as sim:
        client = open_client(sim.port.path)
        client.write(b"LON\r")
        await _until(lambda: sim.counters.triggers == 1)
        field.data = "SECOND"  # the tray moved on after the trigger
        assert await client.readline() == b"FIRST\r"
        client.write(b"LON\r")
        assert await client.readline() == b"SECOND\r"
        assert field.looks == 2


async def test_loff_ends_read_early(open_client) -> None:
    async with ScannerSim("S1", Field(None), read_window=3.0) as sim:
        client = open_client(sim.port.path)
        t0 = time.monotonic()
        client.write(b"LON\r")
        await _until(lambda: sim.reading)
        client.write(b"LOFF\r")
        assert await client.readline(timeout=2.0) == b"ERROR\r"
        assert time.monotonic() - t0 < 2.0
        assert sim.counters.loff == 1 and sim.counters.errors == 1
        await _until(lambda: not sim.reading)


async def test_loff_before_decode_gives_error_even_with_a_code(open_client) -> None:
    async with ScannerSim("S1", Field("ORD-1"), decode_delay=(2.0, 2.0), read_window=3.0) as sim:
        client = open_client(sim.port.path)
        client.write(b"LON\r")
        await _until(lambda: sim.reading)
        client.write(b"LOFF\r")
        assert await client.readline(timeout=1.5) == b"ERROR\r"
        assert await client.read_for(0.05) == b""


async def test_loff_without_read_is_ignored(open_client) -> None:
    async with ScannerSim("S1", Field("ORD-1")) as sim:
        client = open_client(sim.port.path)
        client.write(b"LOFF\r")
        assert await client.read_for(0.15) == b""
        client.write(b"LON\r")
        assert await client.readline() == b"ORD-1\r"


async def test_lon_during_read_is_ignored(open_client) -> None:
    field = Field("ORD-7")
    async with ScannerSim("S1", field, decode_delay=(0.2, 0.2)) as sim:
        client = open_client(sim.port.path)
        client.write(b"LON\r")
        await _until(lambda: sim.reading)
        client.write(b"LON\r")
        assert await client.readline() == b"ORD-7\r"
        assert await client.read_for(0.35) == b""
        assert sim.counters.triggers == 1 and sim.counters.ignored == 1
        assert field.looks == 1


async def test_unknown_commands_are_ignored(open_client) -> None:
    async with ScannerSim("S1", Field("ORD-9")) as sim:
        client = open_client(sim.port.path)
        client.write(b"FOO\rlon\rLONX\r" + b"Z" * 500 + b"\r")
        assert await client.read_for(0.15) == b""
        assert sim.counters.ignored == 4 and sim.counters.triggers == 0
        client.write(b"LON\r")
        assert await client.readline() == b"ORD-9\r"


async def test_split_and_merged_writes(open_client) -> None:
    async with ScannerSim("S1", Field("ORD-5"), decode_delay=(0.0, 0.01)) as sim:
        client = open_client(sim.port.path)
        for piece in (b"L", b"O", b"N"):
            client.write(piece)
            await asyncio.sleep(0.02)
        assert await client.read_for(0.05) == b""  # no terminator yet
        client.write(b"\r\n")  # CR LF counts once
        assert await client.readline() == b"ORD-5\r"
        client.write(b"NOPE\nLON\n")
        assert await client.readline() == b"ORD-5\r"
        assert await client.read_for(0.1) == b""
        assert sim.counters.triggers == 2 and sim.counters.ignored == 1


async def test_silent_fault_never_answers(open_client) -> None:
    async with ScannerSim("S1", Field("ORD-1"), read_window=0.1) as sim:
        client = open_client(sim.port.path)
        sim.set_fault("silent")
        client.write(b"LON\r")
        assert await client.read_for(0.3) == b""
        assert sim.counters.faulted == 1
        sim.set_fault(None)
        client.write(b"LON\r")
        assert await client.readline() == b"ORD-1\r"


async def test_garbage_fault_answers_noise(open_client) -> None:
    async with ScannerSim("S1", Field("ORD-1")) as sim:
        client = open_client(sim.port.path)
        sim.set_fault("garbage")
        client.write(b"LON\r")
        line = await client.readline()
        body = line[:-1]
        assert len(body) >= 4
        assert not any(0x20 <= b < 0x7F for b in body)
        with pytest.raises(ValueError):
            sim.set_fault("loud")  # type: ignore[arg-type]


async def test_client_through_link_with_pyserial(tmp_path: Path) -> None:
    link = tmp_path / "var" / "sim" / "S2"
    async with ScannerSim("S2", Field("SF1234567890"), link=link) as sim:
        assert os.readlink(link) == sim.port.path

        def trigger() -> bytes:
            with serial.Serial(str(link), 115200, timeout=1) as ser:
                ser.reset_input_buffer()
                ser.write(b"LON\r")
                return bytes(ser.read_until(b"\r"))

        assert await asyncio.to_thread(trigger) == b"SF1234567890\r"
        assert await asyncio.to_thread(trigger) == b"SF1234567890\r"  # reopened
    assert not link.is_symlink()


async def test_close_during_read_is_clean(open_client) -> None:
    sim = ScannerSim("S1", Field(None), read_window=5.0)
    await sim.__aenter__()
    client = open_client(sim.port.path)
    client.write(b"LON\r")
    await _until(lambda: sim.reading)
    async with asyncio.timeout(1):
        await sim.aclose()
        await sim.aclose()
    assert not sim.reading


def test_load_codes(tmp_path: Path) -> None:
    f = tmp_path / "codes.txt"
    f.write_text("# infeed test\nORD-1\n\n-\nORD-2\n", encoding="utf-8")
    assert load_codes(f) == ["ORD-1", None, "ORD-2"]


async def test_standalone_runner(tmp_path: Path, open_client) -> None:
    codes = tmp_path / "codes.txt"
    codes.write_text("ORD-1\n-\n", encoding="utf-8")
    link = tmp_path / "S1"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "plateline.simulators.scanner", "--name", "S1",
        "--link", str(link), "--codes", str(codes),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(20):
            banner = await proc.stdout.readline()
        assert b"S1" in banner and str(link).encode() in banner
        client = open_client(link)
        answers = []
        for _ in range(3):
            client.write(b"LON\r")
            answers.append(await client.readline())
        assert answers == [b"ORD-1\r", b"ERROR\r", b"ORD-1\r"]
        client.close()
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(10):
            assert await proc.wait() == 0
        assert not link.is_symlink()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
