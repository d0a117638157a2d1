"""`plateline line ...` against a controller process on the six-station simulated plant:
status, stop, recipe changeover (refused while running), start, all recorded."""

from __future__ import annotations

import getpass
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.procs import run_cli, start_controller, start_plant, stop, write_config


def _line(cfg: Path, *args: str) -> tuple[int, str]:
    proc = run_cli("line", *args, "--config", str(cfg))
    return proc.returncode, proc.stdout + proc.stderr


def _status(cfg: Path) -> dict[str, Any]:
    rc, out = _line(cfg, "status", "--json")
    assert rc == 0, out
    status: dict[str, Any] = json.loads(out)
    return status


def _wait_state(cfg: Path, *states: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            status = _status(cfg)
            if status["state"] in states and status["recipe"] is not None:
                return status
        except AssertionError:  # the controller is still starting
            pass
        assert time.monotonic() < deadline, f"line not in {states}"
        time.sleep(0.3)


@pytest.mark.slow
def test_stop_changeover_and_start_from_the_shell(tmp_path: Path) -> None:
    plant, endpoints = start_plant(tmp_path, trays=200, speed=1)
    controller = None
    try:
        cfg = write_config(tmp_path, endpoints)
        assert run_cli("orders", "import", "--config", str(cfg),
                       *endpoints["orders"]).returncode == 0
        controller = start_controller(tmp_path, cfg, start=True, operator=False)
        status = _wait_state(cfg, "EXECUTE")
        assert status["recipe"]["id"] == "plate-pair"
        assert status["packer_state"] == "EXECUTE"

        rc, out = _line(cfg, "recipe", "plate-single")
        assert rc == 2 and "not allowed in EXECUTE" in out, out
        rc, out = _line(cfg, "stop")
        assert rc == 0 and "TAKEN" in out, out
        _wait_state(cfg, "STOPPED")
        rc, out = _line(cfg, "recipe", "plate-single")
        assert rc == 0 and "plate-single" in out, out
        assert _status(cfg)["recipe"]["id"] == "plate-single"
        rc, out = _line(cfg, "start")
        assert rc == 0 and "EXECUTE" in out, out
        assert _status(cfg)["state"] == "EXECUTE"
    finally:
        if controller is not None:
            stop(controller)
        stop(plant)
    with sqlite3.connect(tmp_path / "plateline.db") as db:
        actions = db.execute("select user, action from operator_actions").fetchall()
    me = f"shell:{getpass.getuser()}"
    assert (me, "recipe changeover plate-single") in actions
    assert sum(1 for who, _ in actions if who == me) >= 4  # refused changeover, stop, ...
