"""Driver table: (kind, name) from the configuration -> (module, class), imported lazily.

Kinds are the kinds of device: ``plc``, ``codereader``, ``camera`` (later ``scale``
and ``printer``). Only the module of a driver actually configured is imported, so a
site without a camera never loads OpenCV.
"""

from __future__ import annotations

import importlib

from plateline.errors import ConfigError

_DRIVERS: dict[str, dict[str, tuple[str, str]]] = {
    "plc": {
        "modbus": ("plateline.drivers.modbus", "ModbusTagClient"),
    },
    "codereader": {
        "lonloff": ("plateline.drivers.codereader", "SerialCodeReader"),
    },
    "camera": {
        "http": ("plateline.drivers.camera_http", "HttpCamera"),
        "opencv": ("plateline.drivers.camera_opencv", "OpenCVCamera"),
        "files": ("plateline.drivers.camera_files", "FilesCamera"),
    },
    "scale": {"mtsics": ("plateline.drivers.scale_mtsics", "MtSicsScale")},
    "printer": {"zpl": ("plateline.drivers.printer_zpl", "ZplPrinter")},
}


def register_driver(kind: str, name: str, module: str, cls: str) -> None:
    """Add a driver (for new protocols: ``opcua``, ``mtsics``, ``zpl``, or a site's own)."""
    drivers = _DRIVERS.setdefault(kind, {})
    if name in drivers and drivers[name] != (module, cls):
        raise ValueError(f"{kind} driver {name!r} already registered as {drivers[name]}")
    drivers[name] = (module, cls)


def known_drivers(kind: str | None = None) -> dict[str, list[str]]:
    """Registered driver names by kind (all kinds, or just ``kind``)."""
    kinds = [kind] if kind is not None else sorted(_DRIVERS)
    return {k: sorted(_DRIVERS.get(k, {})) for k in kinds}


def driver_class(kind: str, name: str) -> type:
    """The class of driver ``name`` for devices of ``kind``; ConfigError naming the known ones."""
    drivers = _DRIVERS.get(kind)
    if drivers is None:
        raise ConfigError(f"unknown device kind {kind!r}; known kinds: {', '.join(sorted(_DRIVERS))}")
    try:
        module_name, class_name = drivers[name]
    except KeyError:
        raise ConfigError(f"unknown {kind} driver {name!r}; known: "
                          f"{', '.join(sorted(drivers))}") from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"{kind} driver {name!r} cannot be loaded: {err}") from err
    cls = vars(module).get(class_name)
    if not isinstance(cls, type):
        raise ConfigError(f"{kind} driver {name!r}: {module_name} has no class {class_name}")
    return cls
