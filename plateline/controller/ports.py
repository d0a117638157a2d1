"""What the controller needs of its devices (the drivers and the vision service fit these)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from plateline.contract import PackMLCommand, PackMLState
    from plateline.drivers.packer_results import PackEvent
    from plateline.drivers.scale_mtsics import Weight
    from plateline.drivers.zpl import PrinterStatus, WaybillLabel


class CodeReader(Protocol):
    """A triggered code reader (``S1``): data read, or None when it read nothing.

    On ``timeout`` the reader's read is ended (``LOFF``) and DeviceTimeoutError raised.
    """

    name: str

    async def scan(self, timeout: float | None = None, *,
                   stop: asyncio.Event | None = None) -> str | None: ...


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


class Scale(Protocol):
    """A check-weigher (``W1``): ``SI``, the weight now, stable or dynamic.

    ScaleBusy when it cannot weigh now; other DeviceErrors for faults and timeouts.
    """

    name: str

    async def weigh_immediate(self, timeout: float | None = None) -> Weight: ...


class LabelPrinter(Protocol):
    """A label printer (``P1``): host status, and one waybill label printed.

    ``print_label`` raises PrinterFault (nothing printed) when the printer is not ready.
    """

    name: str

    async def status(self, timeout: float | None = None) -> PrinterStatus: ...

    async def print_label(self, label: WaybillLabel, *, check_status: bool = True,
                          timeout: float | None = None) -> None: ...


class PackerTags(Protocol):
    """Tag-level access to the packer (``drivers.opcua.OpcUaClient``)."""

    name: str

    async def read(self, *tags: str, timeout: float | None = None) -> dict[str, Any]: ...

    async def write(self, tag: str, value: Any, *, timeout: float | None = None) -> None: ...


class PackerMachine(PackerTags, Protocol):
    """Tags and PackML commands of the packer."""

    async def command(self, cmd: PackMLCommand, *,
                      timeout: float | None = None) -> PackMLState: ...


class PackResults(Protocol):
    """The packer's seal results in SEQUENCE order (``drivers.packer_results.PackResultTracker``)."""

    async def get(self) -> PackEvent: ...
