"""Simulated snapshot camera (``CAM1``) over HTTP.

``GET /snapshot`` (or ``GET /``) answers one JPEG of what is under the camera at
the moment of the request, as the plant's :class:`CameraView` says. Frames are
rendered in worker threads and cached per tray pass (``CameraView.key``), so two
snapshots of the same pass are the same bytes. ``GET /health`` answers counters.

Run alone: ``python -m plateline.simulators.camera --port 8081 [--seed S]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import multiprocessing as mp
import os
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np
from aiohttp import web

from plateline.contract import PLATE_TYPES
from plateline.drivers.lifecycle import ClosedOnce
from plateline.errors import DeviceClosedError
from plateline.simulators import runner
from plateline.simulators.render import (
    Distortion,
    PlateSpec,
    TicketSpec,
    TrayScene,
    encode_jpeg,
    random_plate,
    render_empty_belt,
    render_frame,
)
from plateline.simulators.views import CameraView, PlateOnTray

log = logging.getLogger(__name__)


@dataclass
class CameraCounters:
    """Diagnostics of one simulated camera."""

    requests: int = 0  # snapshot requests
    frames: int = 0  # good JPEGs served
    renders: int = 0  # frames rendered (cache misses)
    cache_hits: int = 0
    timeouts: int = 0  # requests held by the "timeout" fault
    corrupt: int = 0  # broken JPEGs served by the "corrupt" fault
    http_errors: int = 0  # 503s served by the "http_error" fault
    render_ms_last: float = 0.0
    render_ms_max: float = 0.0


def _lower_priority(nice: int) -> None:
    if nice > 0:
        os.nice(nice)


class CameraSim(ClosedOnce):
    """An HTTP snapshot camera answering from ``view()`` (async context manager)."""

    def __init__(
        self,
        name: str,
        view: Callable[[], CameraView],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        size: tuple[int, int] = (1280, 960),
        jpeg_quality: int = 90,
        cache_size: int = 8,
        hang: float = 10.0,
        workers: int = 2,
        warm_up: bool = True,
        processes: bool = False,
        render_nice: int = 5,
    ) -> None:
        """``render_nice``: how much lower render processes run (os.nice), so that the
        plant's loop, which answers for every device, gets a core first."""
        if not 1 <= jpeg_quality <= 100:
            raise ValueError("jpeg_quality must be within 1..100")
        self.name = name
        self.host = host
        self.size = size
        self.jpeg_quality = jpeg_quality
        self.cache_size = max(1, cache_size)
        self.hang = hang
        self.warm_up = warm_up
        self.counters = CameraCounters()
        self._view = view
        self._port = port
        self._workers = workers
        self._processes = processes
        self._render_nice = render_nice
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._pending: dict[str, asyncio.Future[tuple[bytes, float]]] = {}
        self._runner: web.AppRunner | None = None
        self._executor: Executor | None = None
        self._closing = asyncio.Event()
        self._url: str | None = None

    # -- lifecycle ---------------------------------------------------------------

    @property
    def url(self) -> str:
        """The snapshot URL, e.g. ``http://127.0.0.1:8081/snapshot``."""
        if self._url is None:
            raise DeviceClosedError("camera is not running", device=self.name)
        return self._url

    @property
    def base_url(self) -> str:
        return self.url.removesuffix("/snapshot")

    async def start(self) -> None:
        """Warm the renderer up, then serve. Same as entering the context."""
        if self._closed:
            raise DeviceClosedError("camera was closed", device=self.name)
        if self._runner is not None:
            return
        executor = self._make_executor()
        app = web.Application()
        app.router.add_get("/", self._snapshot)
        app.router.add_get("/snapshot", self._snapshot)
        app.router.add_get("/health", self._health)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        try:
            if self.warm_up:
                # a process's first frame builds the renderer's caches (about 0.4 s)
                await asyncio.get_running_loop().run_in_executor(
                    executor, render_view, _WARM_UP, self.size)
            await runner.setup()
            await web.TCPSite(runner, self.host, self._port).start()
        except BaseException:
            await runner.cleanup()
            executor.shutdown(wait=False, cancel_futures=True)
            raise
        self._runner, self._executor = runner, executor
        host, port = runner.addresses[0][:2]
        if ":" in host:
            host = f"[{host}]"
        self._url = f"http://{host}:{port}/snapshot"

    def _make_executor(self) -> Executor:
        if self._processes:
            # a simulated plant's devices answer from the same event loop: rendering in
            # threads would take the GIL from it for tens of milliseconds at a time
            return ProcessPoolExecutor(self._workers, mp_context=mp.get_context("spawn"),
                                       initializer=_lower_priority,
                                       initargs=(self._render_nice,))
        return ThreadPoolExecutor(self._workers, thread_name_prefix=f"{self.name}-render")

    async def _close(self) -> None:
        """Stop serving; requests held by a fault are answered at once."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        self._url = None

    async def _enter(self) -> None:
        await self.start()

    def stats(self) -> dict[str, float | int]:
        return asdict(self.counters)

    # -- HTTP --------------------------------------------------------------------

    async def _snapshot(self, request: web.Request) -> web.StreamResponse:
        self.counters.requests += 1
        seen = self._view()
        if seen.fault == "timeout":
            self.counters.timeouts += 1
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.hang):
                    await self._closing.wait()
            return web.Response(status=503, text="capture timed out\n")
        if seen.fault == "http_error":
            self.counters.http_errors += 1
            return web.Response(status=503, text="camera busy\n")
        jpeg = await self.frame(seen)
        if seen.fault == "corrupt":
            self.counters.corrupt += 1
            return _jpeg_response(_corrupt(jpeg, seen.seed))
        self.counters.frames += 1
        return _jpeg_response(jpeg)

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"name": self.name, "ok": True, "size": list(self.size),
                                  "cached": len(self._cache), **self.stats()})

    # -- frames ------------------------------------------------------------------

    async def frame(self, seen: CameraView) -> bytes:
        """The JPEG of ``seen`` (rendered once per key, then from the cache)."""
        cached = self._cache.get(seen.key)
        if cached is not None:
            self._cache.move_to_end(seen.key)
            self.counters.cache_hits += 1
            return cached
        pending = self._pending.get(seen.key)
        if pending is None:
            if self._executor is None:
                raise DeviceClosedError("camera is not running", device=self.name)
            loop = asyncio.get_running_loop()
            pending = loop.run_in_executor(self._executor, render_jpeg, seen, self.size,
                                           self.jpeg_quality)
            self._pending[seen.key] = pending
            pending.add_done_callback(functools.partial(self._rendered, seen.key))
        jpeg, _ = await asyncio.shield(pending)
        return jpeg

    def _rendered(self, key: str, fut: asyncio.Future[tuple[bytes, float]]) -> None:
        self._pending.pop(key, None)
        if fut.cancelled() or fut.exception() is not None:
            return
        jpeg, ms = fut.result()
        self.counters.renders += 1
        self.counters.render_ms_last = ms
        self.counters.render_ms_max = max(self.counters.render_ms_max, ms)
        self._cache[key] = jpeg
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)



def render_jpeg(seen: CameraView, size: tuple[int, int], quality: int) -> tuple[bytes, float]:
    """Render and encode one frame, with the time it took in ms (in a worker)."""
    t0 = time.perf_counter()
    jpeg = encode_jpeg(render_view(seen, size), quality)
    return jpeg, (time.perf_counter() - t0) * 1000.0


def _jpeg_response(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="image/jpeg",
                        headers={"Cache-Control": "no-store"})


def _corrupt(jpeg: bytes, seed: int) -> bytes:
    """A JPEG cut inside its headers and followed by noise: no decoder can read it."""
    rng = random.Random(seed)
    return jpeg[:200] + rng.randbytes(max(1024, len(jpeg) // 2))


# -- rendering -------------------------------------------------------------------

_DISTORTIONS: dict[str, Callable[[], Distortion]] = {
    "none": Distortion.none, "normal": Distortion.normal, "harsh": Distortion.harsh}


def scene_of(seen: CameraView) -> TrayScene:
    """The renderer's scene for a tray under the camera.

    ``seen.extras["distortion"]`` may pick the optics: ``none``, ``normal`` (default)
    or ``harsh``.
    """
    plates = tuple(PlateSpec(p.text, p.plate_type, p.rows) for p in seen.plates)
    ticket = (TicketSpec(seen.ticket_order_id, seen.ticket_readable)
              if seen.ticket_order_id is not None else None)
    return TrayScene(plates=plates, ticket=ticket, seed=seen.seed,
                     distortion=_distortion(seen))


def _distortion(seen: CameraView) -> Distortion:
    name = seen.extras.get("distortion", "normal")
    try:
        return _DISTORTIONS[name]()
    except KeyError:
        raise ValueError(f"camera view {seen.key}: unknown distortion {name!r}") from None


def render_view(seen: CameraView, size: tuple[int, int] = (1280, 960)) -> np.ndarray:
    """The BGR frame of what ``seen`` describes: the tray, or the empty belt."""
    if seen.tray is None:
        return render_empty_belt(seen.seed, size=size, distortion=_distortion(seen))
    return render_frame(scene_of(seen), size=size)


_WARM_UP = CameraView(key="warm-up", seed=0, tray=0, ticket_order_id="WARMUP01",
                      plates=(PlateOnTray("粤A12345", "blue"),))


# -- standalone runner -----------------------------------------------------------

def random_view_source(seed: int) -> Callable[[], CameraView]:
    """A view that shows a new random tray (0-2 plates and a ticket) at every call."""
    rng = np.random.default_rng(seed)
    counter = 0

    def view() -> CameraView:
        nonlocal counter
        counter += 1
        plate_type = str(rng.choice(PLATE_TYPES))
        count = int(rng.choice((0, 1, 2, 2)))
        text = random_plate(rng, plate_type)
        rear_rows = 2 if plate_type == "yellow" and rng.random() < 0.5 else 1
        plates = tuple(PlateOnTray(text, plate_type, rear_rows if i else 1)
                       for i in range(count))
        order_id = "ORD-" + "".join(str(d) for d in rng.integers(0, 10, 8))
        return CameraView(key=f"random-{seed}-{counter}", seed=int(rng.integers(2**31)),
                          plates=plates, ticket_order_id=order_id, tray=counter)

    return view


async def _run(args: argparse.Namespace) -> None:
    cam = CameraSim(args.name, random_view_source(args.seed), host=args.host, port=args.port,
                    jpeg_quality=args.quality)
    await runner.serve_until_stopped(args.name, cam, lambda: (
        f"snapshot camera at {cam.url} (health: {cam.base_url}/health)"))


def main(argv: Sequence[str] | None = None) -> None:
    parser = runner.simulator_parser(
        "camera", "Simulated HTTP snapshot camera showing a random tray per request.", "CAM1")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality")
    runner.run_main(parser, argv, _run)


if __name__ == "__main__":
    main()
