"""The demo scenario end to end at x20, driven by a minimal controller over Modbus."""

from __future__ import annotations

import asyncio
import os
import tty

import aiohttp
import pytest

from plateline.simulators.demo_data import make_demo_scenario
from plateline.simulators.line import SimulatedLine
from plateline.simulators.truth import compare, predict, read_truth

from .helpers import Robot, wait_until


@pytest.mark.slow
async def test_demo_runs_to_its_predicted_truth(tmp_path):
    scenario = make_demo_scenario(n_trays=30, seed=1)
    truth_file = tmp_path / "truth.jsonl"
    async with SimulatedLine(scenario, speed=20, devices=["CONV"], truth_path=truth_file,
                             endpoints_path=tmp_path / "endpoints.json") as line:
        robot = Robot(line)
        task = asyncio.create_task(robot.run())
        try:
            await line.wait_all_trays_done(60)
            await wait_until(lambda: all(r["outcome"] for r in robot.records), timeout=5)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        rows = line.truth_rows()
    assert len(rows) == 30
    want = predict(scenario)
    got = {r["serial"]: (r["reason"], r["expected_outcome"]) for r in rows}
    assert got == {n: (p.reason.name, p.outcome) for n, p in want.items()}
    # The PLC did what it should with every tray, and the records agree with the truth.
    assert [r["serial"] for r in rows if r["outcome"] != r["expected_outcome"]] == []
    assert compare(rows, robot.export()) == []
    assert {r["plc_boot"] for r in rows} == {1, 2}
    assert sorted(read_truth(truth_file), key=lambda r: r["serial"]) == rows
    # The operator had to recover from the E-stop, the jam and the restart.
    assert "CLEAR" in robot.commands and "UNHOLD" in robot.commands
    assert robot.commands.count("RESET") >= 3 and robot.reconnects >= 1


async def test_scanner_alone_reads_the_ticket_under_it():
    scenario = make_demo_scenario(n_trays=30, seed=1)
    async with SimulatedLine(scenario, speed=1, devices=["S1"]) as line:
        if line.skipped:
            pytest.skip(f"S1 simulator not available: {line.skipped}")
        assert set(line.endpoints) == {"S1"}
        fd = os.open(line.endpoints["S1"]["port"], os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            tty.setraw(fd)
            # Standalone: the PLC starts its own belt; tray 1 enters after 400 mm.
            await wait_until(lambda: line.plant.scan_view("S1").data, timeout=5)
            os.write(fd, b"LON\r")
            answer = b""

            def read_answer() -> bool:
                nonlocal answer
                try:
                    answer += os.read(fd, 256)
                except BlockingIOError:
                    pass
                return answer.endswith(b"\r")

            await wait_until(read_answer, timeout=2)
        finally:
            os.close(fd)
    assert answer == scenario.trays[0].ticket.encode() + b"\r"


async def test_camera_alone_serves_frames():
    scenario = make_demo_scenario(n_trays=30, seed=1)
    async with SimulatedLine(scenario, speed=20, devices=["CAM1"]) as line:
        if line.skipped:
            pytest.skip(f"CAM1 simulator not available: {line.skipped}")
        assert set(line.endpoints) == {"CAM1"}
        async with aiohttp.ClientSession() as http, http.get(line.endpoints["CAM1"]["url"],
                            timeout=aiohttp.ClientTimeout(total=10)) as resp:
            assert resp.status == 200
            assert (await resp.read())[:2] == b"\xff\xd8"
