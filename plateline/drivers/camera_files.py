"""Folder camera: frames replayed from ``*.jpg``, ``*.jpeg``, ``*.png`` in name order.

For offline tests and re-verification of recorded frames.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from plateline.drivers.camera import Camera, check_image
from plateline.errors import ConfigError, DeviceClosedError, DeviceConnectionError, DeviceFault

SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})


class FilesCamera(Camera):
    """Returns the folder's images one per grab; DeviceFault once exhausted unless ``loop``."""

    def __init__(self, name: str, folder: str | Path, *, loop: bool = False,
                 timeout: float = 1.0) -> None:
        super().__init__(name, timeout=timeout)
        self.folder = Path(folder)
        self.loop = loop
        self._files: list[Path] | None = None
        self._next = 0
        self.last_path: Path | None = None

    async def open(self) -> None:
        self._files = await asyncio.to_thread(self._list)

    async def aclose(self) -> None:
        self._files = None

    @property
    def files(self) -> list[Path]:
        """The frames found at open(), in replay order."""
        return list(self._files or [])

    async def grab(self, timeout: float | None = None) -> bytes:
        files = self._files
        if files is None:
            raise DeviceClosedError("camera not open", device=self.name)
        if self._next >= len(files):
            if not (self.loop and files):
                raise DeviceFault("no more frames", device=self.name, detail=str(self.folder))
            self._next = 0
        path = files[self._next]
        self._next += 1
        async with self._deadline(timeout):
            try:
                data = await asyncio.to_thread(path.read_bytes)
            except OSError as err:
                raise DeviceConnectionError(f"cannot read {path}", device=self.name) from err
        self.last_path = path
        return check_image(data, device=self.name)

    def _list(self) -> list[Path]:
        if not self.folder.is_dir():
            raise ConfigError(f"{self.name}: frame folder {self.folder} does not exist")
        return sorted((p for p in self.folder.iterdir()
                       if p.suffix.lower() in SUFFIXES and p.is_file()), key=lambda p: p.name)
