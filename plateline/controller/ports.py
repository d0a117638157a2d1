"""What the controller needs of its devices (the drivers and the vision service fit these)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class CodeReader(Protocol):
    """A triggered code reader (``S1``): data read, or None when it read nothing.

    On ``timeout`` the reader's read is ended (``LOFF``) and DeviceTimeoutError raised.
    """

    name: str

    async def scan(self, timeout: float | None = None) -> str | None: ...


class Camera(Protocol):
    """A snapshot camera (``CAM1``): one encoded frame (JPEG or PNG) of what is there now."""

    name: str

    async def grab(self) -> bytes: ...


class PlateVerifier(Protocol):
    """Plate verification: (reading, decision) of one frame against the order."""

    async def check(self, image: bytes, expectation: Any,
                    min_confidence: float) -> tuple[Any, Any]: ...


class TagClient(Protocol):
    """Tag-level access to a PLC (``drivers.modbus.ModbusTagClient``)."""

    async def read_tags(self, *names: str, timeout: float | None = None) -> dict[str, int]: ...

    async def write_tags(self, values: Mapping[str, int], *,
                         timeout: float | None = None) -> None: ...

    async def read_ring(self, ring: str, *, timeout: float | None = None) -> Any: ...

    async def write_ring_slot(self, ring: str, index: int, values: Sequence[int], *,
                              timeout: float | None = None) -> None: ...
