"""Processes for end-to-end tests: the simulated plant and the controller, as a site runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from plateline.demo import DEMO_DEVICES, demo_config_text

PLATELINE = [sys.executable, "-m", "plateline.cli"]


def start_plant(workdir: Path, *, trays: int, speed: float, seed: int = 1) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Start ``python -m plateline.simulators`` on free ports; returns it and its endpoints."""
    endpoints = workdir / "endpoints.json"
    log = open(workdir / "plant.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "plateline.simulators", "--demo", "--trays", str(trays),
         "--devices", ",".join(DEMO_DEVICES),
         "--speed", str(speed), "--seed", str(seed), "--port", "0", "--camera-port", "0", "--pack-port", "0",
         "--links", str(workdir / "sim"), "--truth", str(workdir / "truth.jsonl"),
         "--endpoints", str(endpoints), "--orders-dir", str(workdir / "orders")],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    log.close()
    deadline = time.monotonic() + 60
    while not endpoints.exists():
        assert proc.poll() is None, (workdir / "plant.log").read_text()
        assert time.monotonic() < deadline, "plant did not start"
        time.sleep(0.1)
    time.sleep(0.05)
    return proc, json.loads(endpoints.read_text(encoding="utf-8"))


def write_config(workdir: Path, endpoints: dict[str, Any]) -> Path:
    cfg = workdir / "line.toml"
    cfg.write_text(demo_config_text(endpoints, workdir), encoding="utf-8")
    return cfg


def start_controller(workdir: Path, cfg: Path, *, start: bool,
                     operator: bool = True) -> subprocess.Popen[bytes]:
    log = open(workdir / "controller.log", "ab")
    args = [*PLATELINE, "run", "--config", str(cfg)]
    if operator:
        args.append("--demo-operator")
    if start:
        args.append("--start")
    proc = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    log.close()
    return proc


def stop(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def kill_hard(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def truth_rows(workdir: Path) -> list[dict[str, Any]]:
    path = workdir / "truth.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PLATELINE, *args], capture_output=True, text=True, timeout=120)
