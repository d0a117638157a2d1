"""LinkSupervisor: owns one device connection and keeps it up.

Generic over the client type: it only needs an async factory that returns an
opened client with an ``aclose()`` (every driver here has one). When the client
also offers ``wait_lost()`` (see :class:`LinkWatch`) the supervisor notices a
dropped link by itself; otherwise users call :meth:`LinkSupervisor.report_broken`.

    async with LinkSupervisor("CONV", open_conv) as link:
        await link.wait_up(5)
        values = await link.use(lambda c: c.read_tags("STATE"))
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Generic, Protocol, TypeVar, runtime_checkable

from plateline.errors import (
    DeviceClosedError,
    DeviceConnectionError,
    DeviceError,
    DeviceTimeoutError,
)

log = logging.getLogger(__name__)


class Closeable(Protocol):
    """What the supervisor needs of a client."""

    async def aclose(self) -> None: ...


@runtime_checkable
class LinkWatch(Protocol):
    """A client that can tell when its link is lost (returns the reason, if known)."""

    async def wait_lost(self) -> BaseException | None: ...


C = TypeVar("C", bound=Closeable)
T = TypeVar("T")
CM = TypeVar("CM")


class LinkState(enum.Enum):
    """State of a supervised link."""

    CONNECTING = "connecting"
    UP = "up"
    DOWN = "down"
    CLOSED = "closed"


Observer = Callable[[LinkState, BaseException | None], None]
# Errors that mean "the link could not be had": retried with backoff.
RETRYABLE: tuple[type[BaseException], ...] = (DeviceError, OSError, TimeoutError)


def entered(make: Callable[[], AbstractAsyncContextManager[CM]]) -> Callable[[], Awaitable[CM]]:
    """Turn a client constructor into a supervisor factory that enters the client."""

    async def factory() -> CM:
        return await make().__aenter__()

    return factory


class LinkSupervisor(Generic[C]):
    """Keeps one client connected with exponential backoff; an async context manager.

    ``state`` is CONNECTING, UP, DOWN (waiting to retry) or CLOSED. Observers are
    called synchronously with ``(state, last_error)`` on every change. A repeating
    failure is logged once, then every ``log_every`` seconds as "still failing".
    """

    def __init__(self, name: str, factory: Callable[[], Awaitable[C]], *,
                 backoff_min: float = 0.1, backoff_max: float = 5.0,
                 connect_timeout: float = 10.0, log_every: float = 60.0) -> None:
        if not 0 < backoff_min <= backoff_max:
            raise ValueError("need 0 < backoff_min <= backoff_max")
        self.name = name
        self._factory = factory
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.connect_timeout = connect_timeout
        self.log_every = log_every
        self._state = LinkState.DOWN
        self._client: C | None = None
        self._last_error: BaseException | None = None
        self._failures = 0
        self._observers: list[Observer] = []
        self._changed = asyncio.Event()
        self._broken = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    # -- public ------------------------------------------------------------------

    @property
    def state(self) -> LinkState:
        """Current state of the link."""
        return self._state

    @property
    def last_error(self) -> BaseException | None:
        """The error that took the link down or failed the last attempt."""
        return self._last_error

    @property
    def failures(self) -> int:
        """Connection attempts failed in a row (0 once up)."""
        return self._failures

    def add_observer(self, callback: Observer) -> Callable[[], None]:
        """Call ``callback(state, last_error)`` on every change; returns a remover."""
        self._observers.append(callback)
        return lambda: self._observers.remove(callback) if callback in self._observers else None

    def client(self) -> C:
        """The connected client; DeviceConnectionError when the link is not up."""
        if self._state is LinkState.CLOSED:
            raise DeviceClosedError("link closed", device=self.name,
                                    detail=_describe(self._last_error))
        if self._state is not LinkState.UP or self._client is None:
            raise DeviceConnectionError(f"link {self._state.value}", device=self.name,
                                        detail=_describe(self._last_error))
        return self._client

    async def wait_up(self, timeout: float) -> C:
        """Wait until the link is up and return the client; DeviceTimeoutError if not."""
        try:
            async with asyncio.timeout(timeout):
                await self.wait_state(LinkState.UP, LinkState.CLOSED)
        except TimeoutError as err:
            raise DeviceTimeoutError(f"link not up within {timeout:g} s", device=self.name,
                                     detail=_describe(self._last_error)) from err
        return self.client()

    async def wait_state(self, *states: LinkState) -> LinkState:
        """Wait until the state is one of ``states`` (no timeout: wrap it in one)."""
        while self._state not in states:
            changed = self._changed
            await changed.wait()
        return self._state

    def report_broken(self, err: BaseException, client: C | None = None) -> None:
        """Tell the supervisor a call failed on a broken link: it reconnects.

        Pass the ``client`` the call used, so that a late report about an old client
        does not take down a fresh connection.
        """
        if client is not None and client is not self._client:
            return
        if self._state is LinkState.UP:
            self._last_error = err
            self._broken.set()

    async def use(self, call: Callable[[C], Awaitable[T]]) -> T:
        """Run ``call(client)``; a DeviceConnectionError from it is reported as broken."""
        client = self.client()
        try:
            return await call(client)
        except DeviceConnectionError as err:
            self.report_broken(err, client)
            raise

    # -- lifecycle ---------------------------------------------------------------

    async def __aenter__(self) -> LinkSupervisor[C]:
        if self._task is not None or self._closing:
            raise RuntimeError(f"{self.name}: supervisor is not reusable")
        self._task = asyncio.create_task(self._run(), name=f"link {self.name}")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop supervising and close the client; safe to call more than once."""
        if self._closing:
            return
        self._closing = True
        task, self._task = self._task, None
        try:
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    current = asyncio.current_task()
                    if current is not None and current.cancelling():
                        raise
        finally:
            await self._drop_client()
            self._set_state(LinkState.CLOSED)

    # -- background --------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._supervise()
        except Exception as err:  # a bug in a factory or client: the link ends, loudly
            log.exception("%s: supervisor stopped by an unexpected error", self.name)
            self._last_error = err
            await self._drop_client()
            self._set_state(LinkState.CLOSED)

    async def _supervise(self) -> None:
        delay = self.backoff_min
        while True:
            self._set_state(LinkState.CONNECTING)
            client = await self._attempt()
            if client is None:
                self._set_state(LinkState.DOWN)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max)
                continue
            up_since = time.monotonic()
            self._on_up(client)
            await self._until_broken(client)
            self._on_down()
            await self._drop_client()
            if time.monotonic() - up_since >= self.backoff_max:
                delay = self.backoff_min  # it was up for a while: not a flapping link
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff_max)

    async def _attempt(self) -> C | None:
        try:
            async with asyncio.timeout(self.connect_timeout):
                return await self._factory()
        except RETRYABLE as err:
            self._on_failure(err)
            return None

    async def _until_broken(self, client: C) -> None:
        waiters = [asyncio.create_task(self._broken.wait())]
        if isinstance(client, LinkWatch):
            waiters.append(asyncio.create_task(client.wait_lost()))
        try:
            done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
            await asyncio.wait(waiters)
        for w in done:
            if w.cancelled() or self._last_error is not None:
                continue
            reason = w.exception() or w.result()
            if isinstance(reason, BaseException):
                self._last_error = reason

    def _on_up(self, client: C) -> None:
        if self._failures:
            log.info("%s: link up after %d failed attempts", self.name, self._failures)
        else:
            log.info("%s: link up", self.name)
        self._client = client
        self._failures = 0
        self._last_error = None
        self._broken.clear()
        self._set_state(LinkState.UP)

    def _on_down(self) -> None:
        log.warning("%s: link lost: %s", self.name, _describe(self._last_error))
        self._set_state(LinkState.DOWN)

    def _on_failure(self, err: BaseException) -> None:
        self._failures += 1
        now = time.monotonic()
        same = _describe(err) == _describe(self._last_error)
        if self._failures == 1 or not same:
            log.error("%s: cannot connect: %s", self.name, _describe(err))
            self._logged_at = now
        elif now - self._logged_at >= self.log_every:
            log.error("%s: still failing after %d attempts: %s", self.name, self._failures,
                      _describe(err))
            self._logged_at = now
        self._last_error = err

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            await client.aclose()
        except RETRYABLE as err:
            log.debug("%s: error while closing a broken client: %s", self.name, err)

    def _set_state(self, state: LinkState) -> None:
        if state is self._state:
            return
        self._state = state
        self._changed.set()
        self._changed = asyncio.Event()
        for callback in list(self._observers):
            try:
                callback(state, self._last_error)
            except Exception:  # an observer's bug must not stop the supervisor
                log.exception("%s: link observer failed", self.name)

    _logged_at: float = 0.0


def _describe(err: BaseException | None) -> str:
    if err is None:
        return "no error"
    text = str(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
