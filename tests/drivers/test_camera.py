from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from aiohttp import web

from plateline.drivers.camera import image_kind
from plateline.drivers.camera_files import FilesCamera
from plateline.drivers.camera_http import HttpCamera
from plateline.drivers.camera_opencv import OpenCVCamera
from plateline.errors import (
    ConfigError,
    DeviceClosedError,
    DeviceConnectionError,
    DeviceFault,
    DeviceTimeoutError,
    ProtocolError,
)


def frame(w: int = 64, h: int = 48, shade: int = 0) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 2] = (255, shade, 0)
    return img


def encoded(ext: str, **kw: int) -> bytes:
    ok, buf = cv2.imencode(ext, frame(**kw))
    assert ok
    return buf.tobytes()


JPEG = encoded(".jpg")
PNG = encoded(".png")


@pytest.fixture
async def snapshot_server() -> AsyncIterator[str]:
    async def ok(_: web.Request) -> web.Response:
        return web.Response(body=JPEG, content_type="image/jpeg")

    async def png(_: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    async def fail(_: web.Request) -> web.Response:
        return web.Response(status=500, text="sensor fault")

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response(body=JPEG)

    async def garbage(_: web.Request) -> web.Response:
        return web.Response(body=b"<html>login</html>", content_type="text/html")

    app = web.Application()
    app.add_routes([web.get("/ok", ok), web.get("/png", png), web.get("/fail", fail),
                    web.get("/slow", slow), web.get("/garbage", garbage)])
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_http_jpeg_and_png(snapshot_server: str) -> None:
    async with HttpCamera("CAM1", f"{snapshot_server}/ok") as cam:
        assert await cam.grab() == JPEG
        assert await cam.grab() == JPEG  # the session is kept
    async with HttpCamera("CAM1", f"{snapshot_server}/png") as cam:
        assert image_kind(await cam.grab()) == "png"


async def test_http_status_is_device_fault(snapshot_server: str) -> None:
    async with HttpCamera("CAM1", f"{snapshot_server}/fail") as cam:
        with pytest.raises(DeviceFault) as info:
            await cam.grab()
    assert info.value.code == 500
    async with HttpCamera("CAM1", f"{snapshot_server}/nope") as cam:
        with pytest.raises(DeviceFault, match="404"):
            await cam.grab()


async def test_http_slow_is_timeout(snapshot_server: str) -> None:
    async with HttpCamera("CAM1", f"{snapshot_server}/slow", timeout=0.2) as cam:
        with pytest.raises(DeviceTimeoutError, match="within 0.2 s"):
            await cam.grab()
        with pytest.raises(DeviceTimeoutError, match="within 0.05 s"):
            await cam.grab(timeout=0.05)


async def test_http_garbage_is_protocol_error(snapshot_server: str) -> None:
    async with HttpCamera("CAM1", f"{snapshot_server}/garbage") as cam:
        with pytest.raises(ProtocolError, match="not a JPEG or PNG"):
            await cam.grab()


async def test_http_unreachable_and_closed() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/snap"
        cam = HttpCamera("CAM1", url)
        async with cam:
            with pytest.raises(DeviceConnectionError):
                await cam.grab()
    await cam.aclose()
    with pytest.raises(DeviceClosedError):
        await cam.grab()


async def test_files_camera_replays_in_order(tmp_path: Path) -> None:
    (tmp_path / "b.png").write_bytes(PNG)
    (tmp_path / "a.jpg").write_bytes(JPEG)
    (tmp_path / "c.JPEG").write_bytes(JPEG)
    (tmp_path / "labels.csv").write_text("filename,text\n")
    async with FilesCamera("CAM1", tmp_path) as cam:
        assert [p.name for p in cam.files] == ["a.jpg", "b.png", "c.JPEG"]
        assert await cam.grab() == JPEG and cam.last_path == tmp_path / "a.jpg"
        assert await cam.grab() == PNG
        assert await cam.grab() == JPEG
        with pytest.raises(DeviceFault, match="no more frames"):
            await cam.grab()


async def test_files_camera_loops_and_checks_content(tmp_path: Path) -> None:
    (tmp_path / "1.jpg").write_bytes(JPEG)
    (tmp_path / "2.jpg").write_bytes(b"not an image")
    async with FilesCamera("CAM1", tmp_path, loop=True) as cam:
        assert await cam.grab() == JPEG
        with pytest.raises(ProtocolError):
            await cam.grab()
        assert await cam.grab() == JPEG


async def test_files_camera_missing_or_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        async with FilesCamera("CAM1", tmp_path / "absent"):
            pass
    async with FilesCamera("CAM1", tmp_path, loop=True) as cam:
        with pytest.raises(DeviceFault):
            await cam.grab()


async def test_opencv_camera_encodes_jpeg(tmp_path: Path) -> None:
    for i in range(3):
        assert cv2.imwrite(str(tmp_path / f"f{i:03d}.png"), frame(shade=80 * i))
    async with OpenCVCamera("CAM1", str(tmp_path / "f%03d.png")) as cam:
        first = await cam.grab()
        assert image_kind(first) == "jpeg"
        decoded = cv2.imdecode(np.frombuffer(first, np.uint8), cv2.IMREAD_COLOR)
        assert decoded is not None
        assert decoded.shape == (48, 64, 3)
        assert abs(int(decoded[10, 5, 0]) - 255) < 8  # blue half survived the JPEG round trip
        await cam.grab()
        await cam.grab()
        with pytest.raises(DeviceFault, match="no frame"):
            await cam.grab()


async def test_opencv_camera_bad_source(tmp_path: Path) -> None:
    cam = OpenCVCamera("CAM1", str(tmp_path / "none_%03d.png"))
    with pytest.raises(DeviceConnectionError, match="cannot open video source"):
        await cam.open()
    await cam.aclose()
    await cam.aclose()
