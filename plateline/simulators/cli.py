"""Command line of the simulated line: ``python -m plateline.simulators``.

Runs the chosen devices until Ctrl-C (or SIGTERM), printing where each answers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from plateline.errors import ConfigError
from plateline.loop_watch import LoopWatch
from plateline.simulators import runner
from plateline.simulators.conveyor import PlcConfig
from plateline.simulators.demo_data import (
    DEMO_ORDERS,
    demo_order_files,
    load_demo_orders,
    make_demo_scenario,
    superseded_rows,
    write_demo_order_files,
)
from plateline.simulators.line import DEVICES, SimulatedLine
from plateline.simulators.scenario import Scenario, load_scenario

log = logging.getLogger(__name__)


def build_arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m plateline.simulators",
                                description="Run the simulated packaging line.")
    p.add_argument("--devices", default=",".join(DEVICES),
                   help=f"comma-separated subset of {','.join(DEVICES)} (default: all); the "
                        "truth checks a tray at PACK, W1, P1 + S2 only when they run")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--scenario", type=Path, help="scenario file (.json or .toml)")
    src.add_argument("--demo", action="store_true", help="the demo scenario (default)")
    p.add_argument("--trays", type=int, default=120, help="demo: number of trays (30..)")
    p.add_argument("--speed", type=float, default=1.0, help="belt speed factor, 1..20")
    p.add_argument("--seed", type=int, default=1, help="seed of the demo and the frames")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5020, help="CONV Modbus TCP port")
    p.add_argument("--camera-port", type=int, default=8081, help="CAM1 HTTP port")
    p.add_argument("--pack-port", type=int, default=4841, help="PACK OPC UA port")
    p.add_argument("--pack-pki", type=Path,
                   help="PACK server certificate folder (default: LINKS/packer-pki, else a "
                        "temporary folder); a controller certificate is made in its client/")
    p.add_argument("--pack-trust", type=Path, action="append",
                   help="client certificate file or folder PACK trusts (repeatable); without "
                        "it, the controller certificate made in PACK_PKI/client/ is trusted")
    p.add_argument("--links", type=Path,
                   help="directory for the pty symlinks (S1, S2, W1, P1) and the PACK PKI")
    p.add_argument("--truth", type=Path, help="write the truth as JSON Lines here")
    p.add_argument("--endpoints", type=Path, help="write the endpoints as JSON here")
    p.add_argument("--orders-dir", type=Path, default=Path("var/sim"),
                   help="demo: where to write generated order files when the bundled ones "
                        "are too few for --trays")
    p.add_argument("--first-event-no", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def _demo(args: argparse.Namespace) -> tuple[Scenario, list[Path]]:
    stations = _devices(args)
    try:
        files = demo_order_files()
        return make_demo_scenario(load_demo_orders(files), args.trays, args.seed,
                                  superseded=superseded_rows(files), stations=stations), files
    except ValueError as err:
        if "not enough" not in str(err):
            raise ConfigError(str(err)) from err
    files = write_demo_order_files(args.orders_dir, max(DEMO_ORDERS, args.trays + 100))
    log.info("generated order files %s", ", ".join(map(str, files)))
    scenario = make_demo_scenario(load_demo_orders(files), args.trays, args.seed,
                                  superseded=superseded_rows(files), stations=stations)
    return scenario, files


def _devices(args: argparse.Namespace) -> list[str]:
    return [d.strip().upper() for d in args.devices.split(",") if d.strip()]


async def _announce_done(line: SimulatedLine) -> None:
    await line.wait_all_trays_done(None)
    print(f"all {len(line.scenario.trays)} trays done; Ctrl-C to stop", flush=True)


async def run_sim(args: argparse.Namespace) -> int:
    """Run the simulated line described by ``args`` until cancelled or SIGTERM."""
    if args.scenario is not None:
        scenario = load_scenario(args.scenario)
        order_files = [args.scenario.parent / p for p in scenario.orders]
    else:
        scenario, order_files = _demo(args)
    line = SimulatedLine(
        scenario, speed=args.speed, seed=args.seed, devices=_devices(args),
        host=args.host, conv_port=args.port, camera_port=args.camera_port, links=args.links,
        truth_path=args.truth, endpoints_path=args.endpoints, order_files=order_files,
        plc_config=PlcConfig(first_event_no=args.first_event_no), pack_port=args.pack_port,
        pack_pki=args.pack_pki, pack_trust=args.pack_trust or ())
    # a stalled plant answers late: the controller would be blamed for the plant's lag
    async with runner.stop_on_sigterm() as stop, LoopWatch(0.03), line:
        print(json.dumps(line.endpoints_document(), indent=2, ensure_ascii=False), flush=True)
        await runner.wait_for_stop(stop, asyncio.create_task(_announce_done(line)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return runner.run_command(build_arg_parser().parse_args(argv), run_sim)
