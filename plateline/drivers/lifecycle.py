"""The lifecycle of the things that open and close: async context managers whose
``aclose()`` is safe to call twice (drivers here, servers and ports of the simulators).

:class:`AsyncResource` is entered with ``_enter()`` (a driver's ``open()`` or
``connect()``) and left with ``aclose()``. :class:`ClosedOnce` runs its ``_close()``
at the first ``aclose()`` only. :class:`DeviceLink` adds what a
:class:`~plateline.drivers.supervisor.LinkSupervisor` watches: a link lost once,
``wait_lost()`` returning the first reason.
"""

from __future__ import annotations

import abc
import asyncio
from types import TracebackType
from typing import Self

from plateline.errors import DeviceClosedError, DeviceConnectionError, DeviceError


class AsyncResource(abc.ABC):
    """An async context manager: ``_enter()`` on entry, ``aclose()`` on exit."""

    @abc.abstractmethod
    async def _enter(self) -> None:
        """Acquire what the resource needs (what ``async with`` does first)."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release it; safe to call more than once."""

    async def __aenter__(self) -> Self:
        await self._enter()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()


class ClosedOnce(AsyncResource):
    """An AsyncResource closed once: ``_closed`` is set and ``_close()`` run by the first
    ``aclose()``; later calls do nothing."""

    _closed: bool = False

    async def aclose(self) -> None:
        """Close; safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        await self._close()

    @abc.abstractmethod
    async def _close(self) -> None:
        """What the first ``aclose()`` does."""


class DeviceLink(ClosedOnce):
    """A connection to one device, closed once and lost once (``_record_lost()``)."""

    name: str

    def __init__(self) -> None:
        self._lost = asyncio.Event()
        self._lost_error: DeviceError | None = None

    async def wait_lost(self) -> BaseException | None:
        """Return the reason once the link is lost or closed (for a supervisor)."""
        await self._lost.wait()
        return self._lost_error

    def _record_lost(self, err: DeviceError) -> bool:
        """Mark the link lost; True when ``err`` is the first reason (the one kept)."""
        first = self._lost_error is None
        if first:
            self._lost_error = err
        self._lost.set()
        return first

    def _check_usable(self) -> None:
        """DeviceClosedError once closed, DeviceConnectionError (the reason as detail) once lost."""
        if self._closed:
            raise DeviceClosedError("client closed", device=self.name)
        if self._lost_error is not None:
            raise DeviceConnectionError("link lost", device=self.name,
                                        detail=str(self._lost_error)) from self._lost_error


__all__ = ["AsyncResource", "ClosedOnce", "DeviceLink"]
