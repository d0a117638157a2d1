"""ScaleSim over a real pseudo-terminal, through the MtSicsScale driver and raw bytes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from plateline.drivers.scale_mtsics import MtSicsScale, ScaleBusy, ScaleFault, Weight
from plateline.errors import DeviceTimeoutError
from plateline.simulators.scale import ScaleSim, ScaleView


class Platform:
    """What lies on the scale; a test changes it."""

    def __init__(self, weight_g: float | None = None, dynamic: bool = False,
                 fault: str | None = None) -> None:
        self.view = ScaleView(weight_g, dynamic, fault)  # type: ignore[arg-type]
        self.looks = 0

    def set(self, weight_g: float | None, dynamic: bool = False, fault: str | None = None) -> None:
        self.view = ScaleView(weight_g, dynamic, fault)  # type: ignore[arg-type]

    def __call__(self) -> ScaleView:
        self.looks += 1
        return self.view


async def test_immediate_weight_stable_and_dynamic() -> None:
    platform = Platform(385.12)
    async with ScaleSim("W1", platform, seed=1) as sim, \
            MtSicsScale("W1", sim.port.path, timeout=0.5) as w1:
        assert await w1.weigh_immediate() == Weight(385.12, True)
        platform.set(385.12, dynamic=True)
        readings = [await w1.weigh_immediate() for _ in range(8)]
        assert all(not r.stable for r in readings)
        assert all(abs(r.value_g - 385.12) < 10 for r in readings)
        assert len({r.value_g for r in readings}) > 1  # noisy while dynamic
        platform.set(None)
        assert await w1.weigh_immediate() == Weight(0.0, True)  # empty platform
    assert sim.counters.weights == 10


async def _dynamic_readings(seed: int) -> list[float]:
    platform = Platform(200.0, dynamic=True)
    async with ScaleSim("W1", platform, seed=seed) as sim, \
            MtSicsScale("W1", sim.port.path, timeout=0.5) as w1:
        return [(await w1.weigh_immediate()).value_g for _ in range(5)]


async def test_noise_is_seeded() -> None:
    first, again, other = (await _dynamic_readings(7), await _dynamic_readings(7),
                           await _dynamic_readings(8))
    assert first == again
    assert first != other


async def test_stable_weight_waits_for_the_load_to_settle() -> None:
    loop = asyncio.get_running_loop()
    placed = loop.time()

    def tray_settling() -> ScaleView:  # a tray put down while the belt stands
        return ScaleView(390.5, dynamic=loop.time() - placed < 0.3)

    async with ScaleSim("W1", tray_settling, stable_timeout=2.0) as sim, \
            MtSicsScale("W1", sim.port.path, timeout=3.0) as w1:
        assert not (await w1.weigh_immediate()).stable
        assert await w1.weigh_stable() == Weight(390.5, True)
        assert loop.time() - placed >= 0.3


async def test_never_stable_is_busy_after_the_scales_timeout() -> None:
    platform = Platform(390.0, dynamic=True)
    async with ScaleSim("W1", platform, stable_timeout=0.2) as sim, \
            MtSicsScale("W1", sim.port.path, timeout=1.0) as w1:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(ScaleBusy):
            await w1.weigh_stable()
        assert loop.time() - t0 >= 0.2
        assert platform.looks > 3  # it kept looking


async def test_zero() -> None:
    platform = Platform(12.5)
    async with ScaleSim("W1", platform, stable_timeout=0.1) as sim, \
            MtSicsScale("W1", sim.port.path, timeout=1.0) as w1:
        await w1.zero()
        assert sim.zero_offset_g == 12.5
        platform.set(400.0)
        assert await w1.weigh_immediate() == Weight(387.5, True)
        with pytest.raises(ScaleBusy):  # a load far beyond the zero range
            await w1.zero()
        platform.set(0.5, dynamic=True)
        with pytest.raises(ScaleBusy):  # never stable
            await w1.zero()
        platform.set(None)
        await w1.zero()
        assert await w1.weigh_immediate() == Weight(0.0, True)


async def test_reset_answers_the_serial_number() -> None:
    async with ScaleSim("W1", Platform(1.0)) as sim, \
            MtSicsScale("W1", sim.port.path, timeout=0.5) as w1:
        assert await w1.reset() == "0123456789"
    assert sim.counters.resets == 1


async def test_reset_cancels_a_pending_stable_weighing(raw_client) -> None:
    async with ScaleSim("W1", Platform(5.0, dynamic=True), stable_timeout=0.3) as sim:
        client = raw_client(sim.port.path)
        client.write(b"S\r\n")
        await asyncio.sleep(0.05)
        client.write(b"@\r\n")
        assert await client.read_until() == b'I4 A "0123456789"\r\n'
        assert await client.read_for(0.4) == b""  # the S was dropped: no S I
        assert sim.counters.cancelled == 1


@pytest.mark.parametrize("command", [b"X", b"SIX", b"s", b"S 1", b"ZZ", b"T"])
async def test_unknown_commands_are_syntax_errors(raw_client, command: bytes) -> None:
    async with ScaleSim("W1", Platform(1.0)) as sim:
        client = raw_client(sim.port.path)
        client.write(command + b"\r\n")
        assert await client.read_until() == b"ES\r\n"


async def test_commands_split_and_merged(raw_client) -> None:
    async with ScaleSim("W1", Platform(420.0)) as sim:
        client = raw_client(sim.port.path)
        for piece in (b"S", b"I\r", b"\nZ\r\nSI\r\nX\r\n"):
            client.write(piece)
            await asyncio.sleep(0.01)
        answers = [await client.read_until() for _ in range(4)]
    assert answers == [b"S S     420.00 g\r\n", b"Z I\r\n", b"S S     420.00 g\r\n",
                       b"ES\r\n"]


@pytest.mark.parametrize(("fault", "weigh", "zero"), [
    ("busy", ScaleBusy, ScaleBusy), ("overload", "overload", ScaleBusy),
    ("underload", "underload", ScaleBusy), ("ET", "transmission", "transmission"),
    ("EL", "logical", "logical")])
async def test_faults_from_the_view(fault: str, weigh, zero) -> None:
    platform = Platform(100.0, fault=fault)
    async with ScaleSim("W1", platform, stable_timeout=0.1) as sim, \
            MtSicsScale("W1", sim.port.path, timeout=1.0) as w1:
        for call, expected in ((w1.weigh_immediate, weigh), (w1.weigh_stable, weigh),
                               (w1.zero, zero)):
            with pytest.raises(ScaleFault) as err:
                await call()
            if isinstance(expected, str):
                assert err.value.kind == expected
            else:
                assert isinstance(err.value, expected)
        platform.set(100.0)
        assert await w1.weigh_immediate() == Weight(100.0, True)


async def test_transmission_error_answers_even_unknown_commands(raw_client) -> None:
    async with ScaleSim("W1", Platform(1.0, fault="ET")) as sim:
        client = raw_client(sim.port.path)
        client.write(b"NONSENSE\r\nSI\r\n")
        assert await client.read_until() == b"ET\r\n"
        assert await client.read_until() == b"ET\r\n"


async def test_silent_scale_is_a_timeout() -> None:
    platform = Platform(100.0)
    async with ScaleSim("W1", platform) as sim, \
            MtSicsScale("W1", sim.port.path, timeout=0.2) as w1:
        sim.set_fault("silent")
        with pytest.raises(DeviceTimeoutError):
            await w1.weigh_immediate()
        sim.set_fault(None)
        assert await w1.weigh_immediate() == Weight(100.0, True)
        with pytest.raises(ValueError):
            sim.set_fault("smoke")  # type: ignore[arg-type]
    assert sim.counters.silent == 1


async def test_beyond_capacity_is_overload_and_below_zero_underload() -> None:
    platform = Platform(7000.0)
    async with ScaleSim("W1", platform, capacity_g=6000.0) as sim, \
            MtSicsScale("W1", sim.port.path, timeout=0.5) as w1:
        with pytest.raises(ScaleFault, match="overload"):
            await w1.weigh_immediate()
        platform.set(-500.0)
        with pytest.raises(ScaleFault, match="underload"):
            await w1.weigh_immediate()
        platform.set(-3.0)  # a little below zero is a reading
        assert await w1.weigh_immediate() == Weight(-3.0, True)


async def test_a_failing_view_is_a_logical_error() -> None:
    def broken() -> ScaleView:
        raise RuntimeError("plant gone")

    async with ScaleSim("W1", broken) as sim, \
            MtSicsScale("W1", sim.port.path, timeout=0.5) as w1:
        with pytest.raises(ScaleFault) as err:
            await w1.weigh_immediate()
        assert err.value.kind == "logical"


async def test_paced_answers_take_line_time(raw_client) -> None:
    async with ScaleSim("W1", Platform(1.0), pace=True, baud=9600,
                        answer_delay=(0.0, 0.0)) as sim:
        client = raw_client(sim.port.path)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        client.write(b"SI\r\n")
        assert await client.read_until() == b"S S       1.00 g\r\n"
        assert loop.time() - t0 >= 18 * 10 / 9600 * 0.9


async def test_link_and_close_twice(tmp_path: Path) -> None:
    link = tmp_path / "W1"
    sim = ScaleSim("W1", Platform(3.0), link=link)
    async with sim, MtSicsScale("W1", str(link), timeout=0.5) as w1:
        assert await w1.weigh_immediate() == Weight(3.0, True)
    await sim.aclose()
    assert not link.exists()


async def test_fault_showing_while_waiting_for_stability() -> None:
    platform = Platform(390.0, dynamic=True)
    async with ScaleSim("W1", platform, stable_timeout=1.0) as sim, \
            MtSicsScale("W1", sim.port.path, timeout=2.0) as w1:
        weighing = asyncio.create_task(w1.weigh_stable())
        await asyncio.sleep(0.1)
        platform.set(390.0, dynamic=True, fault="EL")
        with pytest.raises(ScaleFault) as err:
            await weighing
        assert err.value.kind == "logical"
