"""MtSicsScale against a scripted device on a real pty (and pyserial's loop://)."""

from __future__ import annotations

import asyncio

import pytest

from plateline.drivers.registry import driver_class
from plateline.drivers.scale_mtsics import MtSicsScale, ScaleBusy, ScaleFault, Weight
from plateline.errors import DeviceClosedError, DeviceTimeoutError, ProtocolError

from .helpers import ScriptedDevice


async def test_every_weight_answer(device: ScriptedDevice) -> None:
    device.reply(b"S S     123.45 g\r\n")
    device.reply(b"S D     123.40 g\r\n")
    device.reply(b"S S     385.10 g\r\n")
    async with MtSicsScale("W1", device.path, timeout=0.5) as w1:
        assert await w1.weigh_stable() == Weight(123.45, True)
        assert await w1.weigh_immediate() == Weight(123.40, False)
        assert await w1.weigh_immediate() == Weight(385.10, True)
    assert device.requests == [b"S", b"SI", b"SI"]
    assert bytes(device.received) == b"S\r\nSI\r\nSI\r\n"


@pytest.mark.parametrize(("answer", "exc", "kind"), [
    (b"S I", ScaleBusy, "busy"), (b"S +", ScaleFault, "overload"),
    (b"S -", ScaleFault, "underload"), (b"ES", ScaleFault, "syntax"),
    (b"ET", ScaleFault, "transmission"), (b"EL", ScaleFault, "logical")])
async def test_fault_answers(device: ScriptedDevice, answer: bytes, exc: type[ScaleFault],
                            kind: str) -> None:
    device.reply(answer + b"\r\n")
    device.reply(b"S S     100.00 g\r\n")
    async with MtSicsScale("W1", device.path, timeout=0.5) as w1:
        with pytest.raises(exc) as err:
            await w1.weigh_immediate()
        assert err.value.kind == kind and err.value.device == "W1"
        assert await w1.weigh_immediate() == Weight(100.0, True)  # the line stays usable


async def test_zero_and_reset(device: ScriptedDevice) -> None:
    device.reply(b"Z A\r\n")
    device.reply(b"Z I\r\n")
    device.reply(b'I4 A "0123456789"\r\n')
    async with MtSicsScale("W1", device.path, timeout=0.5) as w1:
        await w1.zero()
        with pytest.raises(ScaleBusy, match="zero"):
            await w1.zero()
        assert await w1.reset() == "0123456789"
    assert device.requests == [b"Z", b"Z", b"@"]


async def test_silence_is_a_timeout(device: ScriptedDevice) -> None:
    device.reply()  # nothing
    async with MtSicsScale("W1", device.path, timeout=0.2) as w1:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(DeviceTimeoutError, match="no answer to SI within 0.2 s") as err:
            await w1.weigh_immediate()
        assert 0.15 <= loop.time() - t0 < 1.0
        assert isinstance(err.value, TimeoutError) and err.value.device == "W1"


async def test_per_call_timeout(device: ScriptedDevice) -> None:
    device.reply(b"", b"S S     123.45 g\r\n", pause=0.3)  # a slow S
    device.reply(b"", b"S S     123.45 g\r\n", pause=0.3)
    async with MtSicsScale("W1", device.path, timeout=0.1, drain_timeout=0.3) as w1:
        # the call's own timeout is ten times the pause: a stalled CI machine (one
        # step of the scripted device took 1.2 s once) does not make the test lie
        assert await w1.weigh_stable(timeout=3.0) == Weight(123.45, True)
        with pytest.raises(DeviceTimeoutError, match="no answer to S within 0.1 s"):
            await w1.weigh_stable()


async def test_incomplete_answer_is_a_timeout(device: ScriptedDevice) -> None:
    device.reply(b"S S     12")
    async with MtSicsScale("W1", device.path, timeout=0.2) as w1:
        with pytest.raises(DeviceTimeoutError, match="bytes pending"):
            await w1.weigh_immediate()


@pytest.mark.parametrize("garbage", [
    b"\x00\xff\x13garbage\r\n", b"S S 123.45 g\r\n", b"hello\r\n", b"S D     1.00 lbs!\r\n",
    b"x" * 100 + b"\r\n"])
async def test_garbage_is_a_protocol_error(device: ScriptedDevice, garbage: bytes) -> None:
    device.reply(garbage)
    device.reply(b"S S      50.00 g\r\n")
    async with MtSicsScale("W1", device.path, timeout=0.3) as w1:
        with pytest.raises(ProtocolError):
            await w1.weigh_immediate()
        await device.settle()
        assert await w1.weigh_immediate() == Weight(50.0, True)


async def test_answer_split_across_writes(device: ScriptedDevice) -> None:
    device.reply(b"S ", b"D    ", b"  99.9", b"9 g\r", b"\n", pause=0.02)
    async with MtSicsScale("W1", device.path, timeout=1.0) as w1:
        assert await w1.weigh_immediate() == Weight(99.99, False)


async def test_late_answer_is_not_taken_for_the_next_one(device: ScriptedDevice) -> None:
    device.reply()  # no answer in time ...
    device.reply(b"S S     222.22 g\r\n")
    async with MtSicsScale("W1", device.path, timeout=0.1, drain_timeout=0.1) as w1:
        with pytest.raises(DeviceTimeoutError):
            await w1.weigh_immediate()
        device.write(b"S S     111.11 g\r\n")  # ... it comes late, after the driver gave up
        assert await w1.weigh_immediate() == Weight(222.22, True)


async def test_closed_driver_refuses_and_closes_twice(device: ScriptedDevice) -> None:
    w1 = MtSicsScale("W1", device.path)
    async with w1:
        assert w1.is_open
    await w1.aclose()
    assert not w1.is_open
    with pytest.raises(DeviceClosedError):
        await w1.weigh_immediate()


async def test_echoing_line_is_a_protocol_error() -> None:
    async with MtSicsScale("W1", "loop://", timeout=0.5) as w1:
        with pytest.raises(ProtocolError, match="not a weight answer"):
            await w1.weigh_immediate()


async def test_commands_are_serialised(device: ScriptedDevice) -> None:
    for i in range(5):
        device.reply(f"S S     {100 + i:>3}.00 g\r\n".encode(), b"", pause=0.01)
    async with MtSicsScale("W1", device.path, timeout=1.0) as w1:
        got = await asyncio.gather(*(w1.weigh_immediate() for _ in range(5)))
    assert sorted(w.value_g for w in got) == [100.0, 101.0, 102.0, 103.0, 104.0]
    assert device.requests == [b"SI"] * 5


def test_registered_as_scale_driver() -> None:
    assert driver_class("scale", "mtsics") is MtSicsScale
