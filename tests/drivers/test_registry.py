from __future__ import annotations

import sys

import pytest

from plateline.drivers import registry
from plateline.drivers.registry import driver_class, known_drivers, register_driver
from plateline.errors import ConfigError


def test_known_drivers_resolve_to_their_classes() -> None:
    from plateline.drivers.camera import Camera
    from plateline.drivers.codereader import SerialCodeReader
    from plateline.drivers.modbus import ModbusTagClient

    assert driver_class("plc", "modbus") is ModbusTagClient
    assert driver_class("codereader", "lonloff") is SerialCodeReader
    for name in ("http", "opencv", "files"):
        assert issubclass(driver_class("camera", name), Camera)
    assert known_drivers("camera") == {"camera": ["files", "http", "opencv"]}


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown camera driver 'gige'; known: files, http, opencv"):
        driver_class("camera", "gige")
    with pytest.raises(ConfigError, match=r"unknown device kind 'robot'; known kinds: camera, "):
        driver_class("robot", "x")


def test_modules_are_imported_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry._DRIVERS, "test", {})
    register_driver("test", "later", "plateline_tests_absent_module", "Later")
    assert "plateline_tests_absent_module" not in sys.modules
    with pytest.raises(ConfigError, match="cannot be loaded"):
        driver_class("test", "later")
    register_driver("test", "wrong", "plateline.drivers.camera", "NoSuchClass")
    with pytest.raises(ConfigError, match="has no class NoSuchClass"):
        driver_class("test", "wrong")
    with pytest.raises(ValueError, match="already registered"):
        register_driver("test", "later", "elsewhere", "Later")
