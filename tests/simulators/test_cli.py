"""``python -m plateline.simulators``: arguments, endpoints file, clean stop."""

from __future__ import annotations

import asyncio
import json
import signal
import sys

import pytest

from plateline.simulators import conveyor as reg
from plateline.simulators.cli import build_arg_parser

from .helpers import RawModbus, wait_until


def test_arguments():
    args = build_arg_parser().parse_args(
        ["--devices", "CONV,S1", "--demo", "--trays", "40", "--speed", "10", "--seed", "3",
         "--port", "0", "--camera-port", "0", "--truth", "t.jsonl"])
    assert (args.devices, args.demo, args.trays, args.speed, args.seed, args.port) == (
        "CONV,S1", True, 40, 10.0, 3, 0)
    with pytest.raises(SystemExit):
        build_arg_parser().parse_args(["--demo", "--scenario", "x.json"])


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
async def test_runs_until_stopped(tmp_path, stop):
    endpoints = tmp_path / "endpoints.json"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "plateline.simulators", "--devices", "CONV", "--port", "0",
        "--demo", "--trays", "30", "--speed", "20", "--endpoints", str(endpoints),
        "--truth", str(tmp_path / "truth.jsonl"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await wait_until(endpoints.exists, timeout=20, step=0.05)
        doc = json.loads(endpoints.read_text(encoding="utf-8"))
        assert doc["devices"]["CONV"]["protocol"] == "modbus_tcp"
        assert [p.rsplit("/", 1)[-1] for p in doc["orders"]] == [
            "demo_orders.csv", "demo_orders_update.csv"]
        client = await RawModbus.connect(doc["devices"]["CONV"]["port"])
        assert await client.read1(reg.BOOT_COUNT) == 1
        await client.close()
        proc.send_signal(stop)
        async with asyncio.timeout(10):
            rc = await proc.wait()
        assert rc == 0
        assert (tmp_path / "truth.jsonl").exists()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_port_in_use_is_a_clean_error(capsys):
    import socket

    from plateline.simulators.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        rc = main(["--devices", "CONV", "--port", str(port), "--demo", "--trays", "30"])
    assert rc == 2
    assert "error" in capsys.readouterr().err
