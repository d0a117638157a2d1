"""CameraSim over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from dataclasses import replace

import aiohttp
import cv2
import numpy as np
import pytest

from plateline.simulators.camera import CameraSim
from plateline.simulators.views import CameraView, PlateOnTray

TRAY = CameraView(
    key="tray-1-pass-1", seed=11, tray=1,
    plates=(PlateOnTray("粤A12345", "blue"), PlateOnTray("粤A12345", "blue")),
    ticket_order_id="ORD-000001")
EMPTY = CameraView(key="empty-0", seed=5)


class Under:
    """What is under the camera; a test changes it, counting the looks."""

    def __init__(self, view: CameraView) -> None:
        self.view = view
        self.looks = 0

    def __call__(self) -> CameraView:
        self.looks += 1
        return self.view


def _decode(body: bytes) -> np.ndarray | None:
    return cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)


@pytest.fixture
async def http():
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, str, bytes]:
    async with http.get(url) as resp:
        return resp.status, resp.content_type, await resp.read()


async def test_snapshot_is_a_jpeg_of_the_reference_size(http) -> None:
    async with CameraSim("CAM1", Under(TRAY)) as cam:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/snapshot", cam.url)
        status, ctype, body = await _get(http, cam.url)
        assert (status, ctype) == (200, "image/jpeg")
        img = _decode(body)
        assert img is not None and img.shape == (960, 1280, 3)
        status, ctype, root = await _get(http, cam.base_url + "/")
        assert (status, ctype, root) == (200, "image/jpeg", body)


async def test_same_pass_same_bytes_new_pass_new_frame(http) -> None:
    under = Under(TRAY)
    async with CameraSim("CAM1", under) as cam:
        first = (await _get(http, cam.url))[2]
        second = (await _get(http, cam.url))[2]
        assert first == second
        under.view = replace(TRAY, key="tray-2-pass-1", seed=12, tray=2,
                             plates=(PlateOnTray("京B7C8D9", "yellow"),))
        third = (await _get(http, cam.url))[2]
        assert third != first
        assert under.looks == 3
        assert cam.counters.renders == 2 and cam.counters.cache_hits == 1
        assert cam.counters.frames == 3


async def test_concurrent_snapshots_render_once(http) -> None:
    async with CameraSim("CAM1", Under(TRAY)) as cam:
        bodies = await asyncio.gather(*(_get(http, cam.url) for _ in range(4)))
        assert len({b for _, _, b in bodies}) == 1
        assert cam.counters.renders == 1


async def test_cache_is_bounded(http) -> None:
    under = Under(TRAY)
    async with CameraSim("CAM1", under, cache_size=2) as cam:
        for key in ("a", "b", "c", "a"):
            under.view = replace(TRAY, key=key)
            await _get(http, cam.url)
        assert cam.counters.renders == 4 and cam.counters.cache_hits == 0


async def test_empty_belt(http) -> None:
    under = Under(EMPTY)
    async with CameraSim("CAM1", under) as cam:
        status, _, empty = await _get(http, cam.url)
        assert status == 200
        img = _decode(empty)
        assert img is not None and img.shape == (960, 1280, 3)
        under.view = TRAY
        assert (await _get(http, cam.url))[2] != empty


async def test_configured_size(http) -> None:
    async with CameraSim("CAM1", Under(TRAY), size=(640, 480), jpeg_quality=70) as cam:
        img = _decode((await _get(http, cam.url))[2])
        assert img is not None and img.shape == (480, 640, 3)


async def test_timeout_fault_hangs_without_blocking_others(http) -> None:
    under = Under(replace(TRAY, fault="timeout"))
    cam = CameraSim("CAM1", under)
    await cam.start()
    try:
        hung = asyncio.create_task(_get(http, cam.url))
        await asyncio.sleep(0.2)
        under.view = TRAY
        status, _, body = await _get(http, cam.url)
        assert status == 200 and _decode(body) is not None
        async with http.get(cam.base_url + "/health") as resp:
            assert resp.status == 200
            assert (await resp.json())["timeouts"] == 1
        assert not hung.done()
        under.view = replace(TRAY, fault="timeout")
        with pytest.raises(TimeoutError):
            async with http.get(cam.url, timeout=aiohttp.ClientTimeout(total=0.3)):
                pass
    finally:
        async with asyncio.timeout(5):  # closing releases the held requests
            await cam.aclose()
    status, _, _ = await hung  # never a frame, even when released early
    assert status == 503


async def test_corrupt_fault_serves_an_undecodable_jpeg(http) -> None:
    async with CameraSim("CAM1", Under(replace(TRAY, fault="corrupt"))) as cam:
        status, ctype, body = await _get(http, cam.url)
        assert (status, ctype) == (200, "image/jpeg")
        assert body[:2] == b"\xff\xd8" and len(body) > 1000
        assert _decode(body) is None
        assert cam.counters.corrupt == 1 and cam.counters.frames == 0


async def test_http_error_fault(http) -> None:
    async with CameraSim("CAM1", Under(replace(TRAY, fault="http_error"))) as cam:
        status, _, _ = await _get(http, cam.url)
        assert status == 503
        assert cam.counters.http_errors == 1


async def test_health_reports_counters(http) -> None:
    async with CameraSim("CAM1", Under(TRAY)) as cam:
        await _get(http, cam.url)
        async with http.get(cam.base_url + "/health") as resp:
            assert resp.status == 200
            health = await resp.json()
        assert health["name"] == "CAM1" and health["requests"] == 1
        assert health["renders"] == 1 and health["render_ms_last"] > 0


async def test_aclose_is_idempotent() -> None:
    cam = CameraSim("CAM1", Under(TRAY))
    await cam.start()
    url = cam.url
    await cam.aclose()
    await cam.aclose()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)):
                pass


async def test_standalone_runner(http) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "plateline.simulators.camera", "--port", "0", "--seed", "3",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(30):
            banner = (await proc.stdout.readline()).decode()
        match = re.search(r"http://127\.0\.0\.1:\d+/snapshot", banner)
        assert match, banner
        first = (await _get(http, match.group(0)))[2]
        second = (await _get(http, match.group(0)))[2]
        assert _decode(first) is not None and first != second  # a new tray per request
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(10):
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_view_extras_pick_the_optics(http) -> None:
    under = Under(replace(TRAY, extras={"distortion": "none"}))
    async with CameraSim("CAM1", under) as cam:
        clean = (await _get(http, cam.url))[2]
        under.view = replace(TRAY, key="tray-1-harsh", extras={"distortion": "harsh"})
        harsh = (await _get(http, cam.url))[2]
        assert clean != harsh and _decode(harsh) is not None
        under.view = replace(TRAY, key="tray-1-bad", extras={"distortion": "fisheye"})
        assert (await _get(http, cam.url))[0] == 500  # a broken scenario is loud
