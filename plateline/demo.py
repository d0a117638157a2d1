"""``plateline demo``: the simulated plant and the controller together.

The plant runs as its own process (``python -m plateline.simulators``), exactly as
a real line would be a separate thing; the controller runs here against it with
nothing but configuration changed. A scripted *demo operator* plays the person at
the touch screen: it starts the line and, after a fault has cleared, sends the
commands an operator would (Clear, Reset, Start, Unhold). Nothing restarts without
such a command. At the end the records are exported and compared tray by tray
with the plant's truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

from plateline.config import load_config
from plateline.contract import CmdResult, ConveyorAlarm, PackMLCommand, PackMLState
from plateline.controller.line import LineController
from plateline.errors import PlatelineError
from plateline.records.tools import export_records, import_order_files
from plateline.runner import open_controller, reset_and_start

log = logging.getLogger(__name__)
OPERATOR = "demo-operator"


@dataclass(frozen=True)
class DemoOptions:
    speed: float = 1.0
    trays: int = 200
    seed: int = 1
    workdir: Path | None = None


@dataclass
class OperatorLog:
    actions: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        log.info("demo operator: %s", text)
        self.actions.append(text)


def demo_config_text(endpoints: dict[str, Any], workdir: Path) -> str:
    """A line configuration pointing at the simulator's endpoints."""
    devices = endpoints["devices"]
    conv = devices["CONV"]
    return f"""\
line_id = "DEMO"

[database]
url = "sqlite:///{workdir / 'plateline.db'}"
frames_dir = "{workdir / 'frames'}"

[devices.CONV]
driver = "modbus"
host = "{conv['host']}"
port = {conv['port']}

[devices.S1]
driver = "lonloff"
port = "{devices['S1']['port']}"

[devices.CAM1]
driver = "http"
url = "{devices['CAM1']['url']}"
"""


async def _start_plant(opts: DemoOptions, workdir: Path) -> tuple[asyncio.subprocess.Process,
                                                                  dict[str, Any]]:
    endpoints_file = workdir / "endpoints.json"
    endpoints_file.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "plateline.simulators", "--demo",
           "--trays", str(opts.trays), "--speed", str(opts.speed), "--seed", str(opts.seed),
           "--port", "0", "--camera-port", "0", "--links", str(workdir / "sim"),
           "--truth", str(workdir / "truth.jsonl"), "--endpoints", str(endpoints_file),
           "--orders-dir", str(workdir / "orders")]
    plant_log = open(workdir / "plant.log", "wb")  # noqa: SIM115 - owned by the process
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=plant_log, stderr=plant_log,
                                                stdin=asyncio.subprocess.DEVNULL)
    plant_log.close()
    deadline = time.monotonic() + 60
    while not endpoints_file.exists():
        if proc.returncode is not None or time.monotonic() > deadline:
            await _stop_plant(proc)
            raise PlatelineError(f"the simulated plant did not start; see {workdir / 'plant.log'}")
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.05)
    return proc, json.loads(endpoints_file.read_text(encoding="utf-8"))


async def _stop_plant(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(10):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def operate(controller: LineController, oplog: OperatorLog) -> None:
    """The demo operator: restart the line after each fault once its cause is gone."""
    reaction_s = 0.5
    while True:
        await asyncio.sleep(reaction_s)
        state = controller.state
        status = controller.status
        alarms = status.alarms if status else ConveyorAlarm(0)
        if controller.link_states.get("CONV") != "up" or status is None:
            continue
        if state is PackMLState.ABORTED:
            if alarms & ConveyorAlarm.ESTOP:
                continue
            res = await controller.command(PackMLCommand.CLEAR, OPERATOR)
            oplog.add(f"Clear after E-stop released: {res.name}")
        elif state in (PackMLState.STOPPED, PackMLState.IDLE, PackMLState.COMPLETE):
            result = await reset_and_start(controller, user=OPERATOR)
            oplog.add(f"Reset/Start from {state.name}: {result.detail}")
        elif state is PackMLState.HELD:
            blocking = ConveyorAlarm.EVENT_RING_OVERFLOW | ConveyorAlarm.CTRL_HEARTBEAT_LOST \
                | ConveyorAlarm.INFEED_JAM | ConveyorAlarm.ESTOP
            if alarms & blocking or not controller.link_states.get("PLC_HEARTBEAT") == "alive":
                continue
            res = await controller.command(PackMLCommand.UNHOLD, OPERATOR)
            if res is CmdResult.TAKEN:
                oplog.add("Unhold after the cause cleared")


def _truth_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


async def _wait_done(controller: LineController, truth_path: Path, trays: int,
                     proc: asyncio.subprocess.Process, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = len(_truth_rows(truth_path)) >= trays
        if done and controller.counters.get("on_line", 0) == 0:
            return True
        if proc.returncode is not None:
            return False
        await asyncio.sleep(0.5)
    return False


def _summary(records: list[dict[str, Any]], mismatches: list[Any], elapsed: float,
             oplog: OperatorLog, trays: int) -> str:
    passed = sum(1 for r in records if r["verdict"] == "pass")
    reasons = Counter(r["reason"] for r in records if r["verdict"] != "pass")
    outcomes = Counter(r["outcome"] for r in records)
    lines = [
        "",
        "plateline demo summary",
        f"  trays in scenario : {trays}",
        f"  records           : {len(records)}",
        f"  passed            : {passed}",
        f"  rejected          : {len(records) - passed}",
    ]
    for reason, n in sorted(reasons.items()):
        lines.append(f"    {reason:<20} {n}")
    lines.append(f"  outcomes          : " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    lines.append(f"  elapsed           : {elapsed:.1f} s, {len(records) / elapsed * 60:.1f} trays/min")
    lines.append(f"  operator actions  : {len(oplog.actions)}")
    verdict = "YES" if not mismatches and len(records) == trays else "NO"
    lines.append(f"  records match the plant's truth: {verdict}")
    for m in mismatches[:20]:
        lines.append(f"    mismatch: {m}")
    return "\n".join(lines)


async def run_demo(opts: DemoOptions) -> int:
    """Run the demo; 0 when every record matches the plant's truth."""
    if not 1 <= opts.speed <= 20:
        raise PlatelineError("--speed must be between 1 and 20")
    workdir = opts.workdir or Path(tempfile.mkdtemp(prefix="plateline-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in ("plateline.db", "plateline.db-wal", "plateline.db-shm", "truth.jsonl"):
        (workdir / stale).unlink(missing_ok=True)
    print(f"demo: work folder {workdir}", flush=True)
    started = time.monotonic()
    proc, endpoints = await _start_plant(opts, workdir)
    oplog = OperatorLog()
    try:
        cfg_path = workdir / "line.toml"
        cfg_path.write_text(demo_config_text(endpoints, workdir), encoding="utf-8")
        cfg = load_config(cfg_path)
        for report in import_order_files(cfg, [Path(p) for p in endpoints["orders"]],
                                         user=OPERATOR):
            print(f"demo: imported {report}", flush=True)
        # A generous bound: the scenario's belt time plus its faults at x1, with slack.
        timeout = 120 + opts.trays * 1.333 / opts.speed * 2.5
        async with open_controller(cfg) as controller:
            operator = asyncio.create_task(operate(controller, oplog))
            try:
                finished = await _wait_done(controller, workdir / "truth.jsonl", opts.trays,
                                            proc, timeout)
            finally:
                operator.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await operator
        elapsed = time.monotonic() - started
    finally:
        await _stop_plant(proc)
    out = StringIO()
    export_records(cfg, out, fmt="jsonl")
    records = [json.loads(line) for line in out.getvalue().splitlines() if line]
    (workdir / "records.jsonl").write_text(out.getvalue(), encoding="utf-8")
    from plateline.simulators.truth import compare

    truth = _truth_rows(workdir / "truth.jsonl")
    mismatches = compare(truth, records)
    if not finished:
        mismatches = [f"the run did not finish in time ({len(truth)} of {opts.trays} trays)",
                      *mismatches]
    print(_summary(records, mismatches, elapsed, oplog, opts.trays), flush=True)
    print(f"demo: records {workdir / 'records.jsonl'}, truth {workdir / 'truth.jsonl'}")
    return 0 if not mismatches and len(records) == opts.trays else 1
