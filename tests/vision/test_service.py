"""PlateVerifier: the asyncio facade over worker processes or threads."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from plateline.contract import Reason
from plateline.errors import DeviceClosedError
from plateline.simulators.render import PlateSpec
from plateline.vision import Expectation, PlateVerifier, service
from plateline.vision.model import ModelError

from .conftest import frame

EXP = Expectation("京A12345", "blue", 1)


@pytest.fixture(scope="module")
def good_frame() -> bytes:
    return frame([PlateSpec("京A12345", "blue")], 21)[0]


async def test_thread_mode_checks_frames(good_frame: bytes) -> None:
    async with PlateVerifier(use_processes=False, workers=2) as v:
        reading, decision = await v.check(good_frame, EXP, 0.6)
        assert decision.ok and [p.text for p in reading.plates] == ["京A12345"]
        _, wrong = await v.check(good_frame, Expectation("京A12346", "blue", 1), 0.6)
        assert wrong.reason is Reason.PLATE_MISMATCH


async def test_process_mode_checks_frames(good_frame: bytes) -> None:
    async with PlateVerifier(workers=1) as v:
        results = await asyncio.gather(v.check(good_frame, EXP, 0.6), v.check(b"", EXP, 0.6))
    assert results[0][1].ok
    assert results[1][1].reason is Reason.VISION_FAULT and results[1][0].plates == []


@pytest.mark.parametrize("data", [b"", b"garbage" * 10])
async def test_bad_frames_are_vision_faults(data: bytes) -> None:
    async with PlateVerifier(use_processes=False) as v:
        reading, decision = await v.check(data, EXP, 0.6)
    assert not decision.ok and decision.reason is Reason.VISION_FAULT
    assert reading.plates == []


async def test_exception_in_worker_is_a_vision_fault(good_frame: bytes) -> None:
    async with PlateVerifier(use_processes=False) as v:
        _, decision = await v.check(good_frame, EXP, 7.0)  # verify refuses the threshold
    assert decision.reason is Reason.VISION_FAULT and "ValueError" in decision.detail


async def test_check_does_not_block_the_loop(good_frame: bytes,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    real = service._check_in_worker

    def slow(*args: object) -> object:
        time.sleep(0.3)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "_check_in_worker", slow)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async with PlateVerifier(use_processes=False) as v:
        task = asyncio.create_task(ticker())
        _, decision = await v.check(good_frame, EXP, 0.6)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert decision.ok
    assert ticks >= 5  # the loop kept running while the frame was read


async def test_deadline_gives_a_vision_fault(good_frame: bytes,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "_check_in_worker", lambda *a: time.sleep(0.5))
    async with PlateVerifier(use_processes=False) as v:
        _, decision = await v.check(good_frame, EXP, 0.6, timeout=0.05)
    assert decision.reason is Reason.VISION_FAULT and "within" in decision.detail


async def test_aclose_is_idempotent_and_final(good_frame: bytes) -> None:
    v = PlateVerifier(use_processes=False)
    await v.start()
    await v.aclose()
    await v.aclose()
    with pytest.raises(DeviceClosedError):
        await v.check(good_frame, EXP, 0.6)


async def test_bad_model_is_refused_at_start(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    path.write_bytes(b"nope")
    v = PlateVerifier(path, use_processes=False)
    with pytest.raises(ModelError):
        await v.start()
    await v.aclose()
