"""What a simulated device sees of the plant at one instant.

The plant answers these; the device front-ends (scanner, camera) turn them into
protocol answers. Plain data so front-ends need nothing else of the plant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

CameraFault = Literal["none", "timeout", "corrupt", "http_error"]


@dataclass(frozen=True)
class ScanView:
    """What a code reader sees at the moment it is triggered.

    ``data`` is the barcode payload in the field of view, or None when nothing
    readable is there (no tray, or an unreadable job ticket).
    """

    data: str | None


@dataclass(frozen=True)
class PlateOnTray:
    """A physical plate lying on a tray."""

    text: str
    plate_type: str
    rows: int = 1  # 1 single-row, 2 two-row


@dataclass(frozen=True)
class CameraView:
    """What is under the camera now.

    ``key`` identifies the tray pass (the same key must render the same frame);
    ``tray`` is None for an empty belt.
    """

    key: str
    seed: int
    plates: tuple[PlateOnTray, ...] = ()
    ticket_order_id: str | None = None
    ticket_readable: bool = True
    tray: int | None = None
    fault: CameraFault = "none"
    extras: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
