"""The plate verifier as an asyncio service.

:class:`PlateVerifier` runs reading and deciding in worker processes (the model
loaded once per worker by the pool's initializer) or, with
``use_processes=False``, in a thread pool sharing one model. The event loop is
never blocked. Whatever goes wrong in a worker (an undecodable frame, an error,
a crashed worker, a deadline missed) comes back as a ``VISION_FAULT`` decision:
doubt is a reject.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from types import TracebackType
from typing import Self

import cv2

from plateline.contract import Reason
from plateline.errors import DeviceClosedError

from .decide import DEFAULT_MARGIN, verify
from .model import GlyphModel
from .reader import read_frame
from .reading import Decision, Expectation, FrameReading

_MODEL: GlyphModel | None = None


def _load_model(model_path: str | None) -> GlyphModel:
    return GlyphModel.load(model_path) if model_path else GlyphModel.default()


#: How often a worker checks that the process that started it is still there.
PARENT_CHECK_S = 0.5


def _exit_with_parent(parent: int) -> None:
    """Exit this worker once its parent is gone: a controller killed outright (SIGKILL,
    a crash) does not shut its pool down, and an idle worker would wait for work forever
    (it holds its own end of the pool's pipes, so it never sees them close)."""
    while True:
        time.sleep(PARENT_CHECK_S)
        if os.getppid() != parent:
            os._exit(0)


def _init_worker(model_path: str | None, nice: int = 0) -> None:
    global _MODEL
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True,
                     name="plateline-parent-watch").start()
    if nice > 0:
        os.nice(nice)
    cv2.setNumThreads(1)
    _MODEL = _load_model(model_path)


def _check_in_worker(image_bytes: bytes, expectation: Expectation, min_confidence: float,
                     margin: float, model: GlyphModel | None = None
                     ) -> tuple[FrameReading, Decision]:
    glyph_model = model if model is not None else _MODEL
    if glyph_model is None:
        raise RuntimeError("worker has no model")
    reading = read_frame(image_bytes, glyph_model)
    return reading, verify(reading, expectation, min_confidence=min_confidence, margin=margin)


def _fault(detail: str) -> tuple[FrameReading, Decision]:
    return FrameReading([]), Decision(False, Reason.VISION_FAULT, detail)


def _worker_ready() -> int:
    time.sleep(0.05)  # long enough that concurrent warm-up calls land on different workers
    return os.getpid()


def _warm_up(pool: Executor, workers: int) -> None:
    """Start every worker of ``pool`` (and its initializer) and wait until they answer."""
    for future in [pool.submit(_worker_ready) for _ in range(workers)]:
        future.result(timeout=120)


class PlateVerifier:
    """Async facade of the verifier; use as ``async with PlateVerifier() as v``."""

    def __init__(self, model_path: str | Path | None = None, *, workers: int = 1,
                 use_processes: bool = True, margin: float = DEFAULT_MARGIN,
                 nice: int = 0) -> None:
        """``nice``: how much lower the worker processes run than the controller (0-19),
        so that a busy reader never delays its event loop's reads and triggers."""
        if workers < 1:
            raise ValueError("workers must be at least 1")
        if not 0 <= nice <= 19:
            raise ValueError("nice must be within 0..19")
        self._nice = nice
        self._model_path = str(model_path) if model_path is not None else None
        self._workers = workers
        self._use_processes = use_processes
        self._margin = margin
        self._model: GlyphModel | None = None
        self._pool: Executor | None = None
        self._closed = False
        self._lock = asyncio.Lock()

    @property
    def model(self) -> GlyphModel | None:
        """The model in this process (loaded on start; workers hold their own copy)."""
        return self._model

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Load and check the model, start the pool (ModelError for a bad model)."""
        async with self._lock:
            if self._closed:
                raise DeviceClosedError("plate verifier is closed", device="VISION")
            if self._model is None:
                self._model = await asyncio.to_thread(_load_model, self._model_path)
            if self._pool is None:
                self._pool = self._new_pool()
                # Worker processes are spawned on submit: do it here, off the event
                # loop, so the first tray does not wait for a process to start.
                await asyncio.to_thread(_warm_up, self._pool, self._workers)

    def _new_pool(self) -> Executor:
        if self._use_processes:
            return ProcessPoolExecutor(max_workers=self._workers,
                                       mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_init_worker,
                                       initargs=(self._model_path, self._nice))
        return ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="plate-verify")

    async def check(self, image_bytes: bytes, expectation: Expectation, min_confidence: float,
                    *, timeout: float | None = None) -> tuple[FrameReading, Decision]:
        """Read ``image_bytes`` and decide against ``expectation``.

        Never raises for a bad frame or a failing worker: those are VISION_FAULT.
        Raises DeviceClosedError after :meth:`aclose`.
        """
        if self._closed:
            raise DeviceClosedError("plate verifier is closed", device="VISION")
        if self._pool is None or self._model is None:
            await self.start()
        pool = self._pool
        assert pool is not None
        loop = asyncio.get_running_loop()
        model = None if self._use_processes else self._model
        try:
            async with asyncio.timeout(timeout):
                return await loop.run_in_executor(pool, _check_in_worker, image_bytes,
                                                  expectation, min_confidence, self._margin,
                                                  model)
        except TimeoutError:
            return _fault(f"no decision within {timeout} s")
        except BrokenProcessPool as err:
            await self._replace_pool(pool)
            return _fault(f"verifier worker died: {err}")
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - any failure of a check is a reject
            return _fault(f"{type(err).__name__}: {err}")

    async def _replace_pool(self, broken: Executor) -> None:
        async with self._lock:
            if self._pool is broken and not self._closed:
                self._pool = self._new_pool()
        await asyncio.to_thread(broken.shutdown, wait=False, cancel_futures=True)

    async def aclose(self) -> None:
        """Stop the workers; safe to call more than once."""
        async with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)


__all__ = ["PlateVerifier"]

