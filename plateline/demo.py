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
from plateline.contract import CmdResult, ConveyorAlarm, PackMLCommand, PackMLState, Reason
from plateline.controller.line import LineController
from plateline.controller.operations import reset_and_start, start_packer
from plateline.errors import PlatelineError
from plateline.records.tools import export_records, import_order_files
from plateline.runner import initial_changeover, open_controller

log = logging.getLogger(__name__)
OPERATOR = "demo-operator"
#: Every device of the line: all six stations.
ALL_DEVICES = ("CONV", "S1", "CAM1", "PACK", "W1", "P1", "S2")
#: The devices the demo runs by default: the whole line.
DEMO_DEVICES = ALL_DEVICES
#: The least a line has (INFEED and VISION only: ``--devices CONV,S1,CAM1``).
CORE_DEVICES = ("CONV", "S1", "CAM1")
#: The recipe put in force when the demo's controller starts.
DEMO_RECIPE = "plate-pair"
#: The packer's user with write rights (endpoints document ``devices.PACK.users``).
PACK_USER = "line"


def parse_devices(text: str) -> tuple[str, ...]:
    """``all`` or a comma separated list of the line's devices, checked."""
    if text.strip().lower() == "all":
        return ALL_DEVICES
    names = tuple(dict.fromkeys(n.strip().upper() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in ALL_DEVICES]
    if unknown:
        raise PlatelineError(f"--devices: unknown {', '.join(unknown)}; the line has "
                             f"{', '.join(ALL_DEVICES)}")
    missing = [n for n in CORE_DEVICES if n not in names]
    if missing:
        raise PlatelineError(f"--devices: a line needs {', '.join(missing)}")
    if ("P1" in names) != ("S2" in names):
        raise PlatelineError("--devices: the labeler is P1 and S2 together")
    return tuple(n for n in ALL_DEVICES if n in names)


@dataclass(frozen=True)
class DemoOptions:
    speed: float = 1.0
    trays: int = 200
    seed: int = 1
    workdir: Path | None = None
    devices: tuple[str, ...] = DEMO_DEVICES


@dataclass
class OperatorLog:
    actions: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        log.info("demo operator: %s", text)
        self.actions.append(text)


def _toml(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def demo_config_text(endpoints: dict[str, Any], workdir: Path) -> str:
    """A line configuration pointing at the simulator's endpoints (every device it runs)."""
    devices = endpoints["devices"]
    conv = devices["CONV"]
    text = f"""\
line_id = "DEMO"

[database]
url = {_toml(f"sqlite:///{workdir / 'plateline.db'}")}
frames_dir = {_toml(str(workdir / 'frames'))}

[devices.CONV]
driver = "modbus"
host = {_toml(conv['host'])}
port = {conv['port']}

[devices.S1]
driver = "lonloff"
port = {_toml(devices['S1']['port'])}

[devices.CAM1]
driver = "http"
url = {_toml(devices['CAM1']['url'])}
"""
    if "PACK" in devices:
        pack = devices["PACK"]
        user = pack["users"][PACK_USER]
        text = f"recipe = {_toml(DEMO_RECIPE)}\n" + text + f"""
[devices.PACK]
driver = "opcua"
url = {_toml(pack['url'])}
security = "SignAndEncrypt"
certificate = {_toml(pack['client_certificate'])}
private_key = {_toml(pack['client_key'])}
server_certificate = {_toml(pack['server_certificate'])}
user = {_toml(PACK_USER)}
password = {_toml(user['password'])}
"""
    if "W1" in devices:
        text += f"""
[devices.W1]
driver = "mtsics"
port = {_toml(devices['W1']['port'])}
"""
    if "P1" in devices and "S2" in devices:
        text += f"""
[devices.P1]
driver = "zpl"
port = {_toml(devices['P1']['port'])}

[devices.S2]
driver = "lonloff"
port = {_toml(devices['S2']['port'])}
"""
    return text


async def _start_plant(opts: DemoOptions, workdir: Path) -> tuple[asyncio.subprocess.Process,
                                                                  dict[str, Any]]:
    endpoints_file = workdir / "endpoints.json"
    endpoints_file.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "plateline.simulators", "--demo",
           "--trays", str(opts.trays), "--devices", ",".join(opts.devices),
           "--speed", str(opts.speed), "--seed", str(opts.seed),
           "--port", "0", "--camera-port", "0", "--pack-port", "0", "--links", str(workdir / "sim"),
           "--truth", str(workdir / "truth.jsonl"), "--endpoints", str(endpoints_file),
           "--orders-dir", str(workdir / "orders")]
    plant_log = open(workdir / "plant.log", "wb")  # noqa: ASYNC230 - handed to the plant process
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
        elif state is PackMLState.EXECUTE and controller.packer_state in _PACKER_STOPPED:
            try:
                await start_packer(controller, user=OPERATOR)
                oplog.add("packer started again")
            except (PlatelineError, TimeoutError) as err:
                oplog.add(f"packer not started: {err}")
        elif state is PackMLState.HELD:
            blocking = ConveyorAlarm.EVENT_RING_OVERFLOW | ConveyorAlarm.CTRL_HEARTBEAT_LOST \
                | ConveyorAlarm.INFEED_JAM | ConveyorAlarm.ESTOP
            if alarms & blocking or not controller.link_states.get("PLC_HEARTBEAT") == "alive":
                continue
            res = await controller.command(PackMLCommand.UNHOLD, OPERATOR)
            if res is CmdResult.TAKEN:
                oplog.add("Unhold after the cause cleared")


_PACKER_STOPPED = frozenset({PackMLState.STOPPED, PackMLState.IDLE, PackMLState.COMPLETE,
                             PackMLState.ABORTED, PackMLState.HELD, PackMLState.SUSPENDED})


async def press_rejects(controller: LineController, rejects: list[dict[str, Any]],
                        oplog: OperatorLog, poll_s: float = 0.01) -> None:
    """The demo operator rejects by hand the trays the scenario names, each after the
    controller has seen the tray's ``after_event`` (and so before its next event)."""
    pending = list(rejects)
    while pending:
        await asyncio.sleep(poll_s)
        on_line = controller.items_on_line()
        for want in list(pending):
            item = next((it for it in on_line if it["tray"] == want["tray"]
                         and it["at"] == want["after_event"]
                         and (want["order_id"] is None or it["order_id"] == want["order_id"])),
                        None)
            if item is None:
                continue
            pending.remove(want)
            try:
                item_id = await controller.operator_reject(want["tray"], user=OPERATOR)
                oplog.add(f"reject by hand: tray {want['tray']} ({item_id}, "
                          f"order {want['order_id']})")
            except PlatelineError as err:
                oplog.add(f"reject by hand of tray {want['tray']} refused: {err}")


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


def _summary(records: list[dict[str, Any]], truth: list[dict[str, Any]],
             mismatches: list[Any], elapsed: float, oplog: OperatorLog, trays: int) -> str:
    passed = sum(1 for r in records if r["verdict"] == "pass")
    reasons = Counter(r["reason"] for r in records)
    expected = Counter(t.get("reason") for t in truth)
    outcomes = Counter(r["outcome"] for r in records)
    lines = [
        "",
        "plateline demo summary",
        f"  trays in scenario : {trays}",
        f"  records           : {len(records)}",
        f"  passed            : {passed}",
        f"  rejected          : {len(records) - passed}",
        "  reason (code)            records  truth",
    ]
    for code in Reason:
        mark = "" if reasons[code.name] == expected[code.name] else "  <- differs"
        lines.append(f"    {code.name:<19} {int(code):>2} {reasons[code.name]:>8} "
                     f"{expected[code.name]:>6}{mark}")
    lines.append("  outcomes          : " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
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
            await initial_changeover(cfg, controller)
            operator = asyncio.create_task(operate(controller, oplog))
            rejects = asyncio.create_task(press_rejects(
                controller, endpoints.get("operator_rejects", []), oplog))
            try:
                finished = await _wait_done(controller, workdir / "truth.jsonl", opts.trays,
                                            proc, timeout)
            finally:
                for task in (operator, rejects):
                    task.cancel()
                for task in (operator, rejects):
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        elapsed = time.monotonic() - started
    finally:
        await _stop_plant(proc)
    out = StringIO()
    export_records(cfg, out, fmt="jsonl")
    records = [json.loads(line) for line in out.getvalue().splitlines() if line]
    (workdir / "records.jsonl").write_text(out.getvalue(), encoding="utf-8")
    from plateline.simulators.truth import compare

    truth = _truth_rows(workdir / "truth.jsonl")
    mismatches: list[object] = list(compare(truth, records))
    if not finished:
        mismatches = [f"the run did not finish in time ({len(truth)} of {opts.trays} trays)",
                      *mismatches]
    print(_summary(records, truth, mismatches, elapsed, oplog, opts.trays), flush=True)
    print(f"demo: records {workdir / 'records.jsonl'}, truth {workdir / 'truth.jsonl'}")
    return 0 if not mismatches and len(records) == opts.trays else 1
