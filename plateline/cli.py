"""The ``plateline`` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from plateline.errors import PlatelineError


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    # The link supervisors report connection trouble once; the libraries would repeat it.
    for noisy in ("pymodbus", "asyncua", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def _cmd_config_example(args: argparse.Namespace) -> int:
    from plateline.config import example_config_text

    sys.stdout.write(example_config_text())
    return 0


def _cmd_config_check(args: argparse.Namespace) -> int:
    from plateline.config import load_config

    cfg = load_config(args.config)
    print(f"{args.config}: valid; line {cfg.line_id}, devices {', '.join(sorted(cfg.devices))}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from plateline.config import load_config
    from plateline.runner import run_controller

    cfg = load_config(args.config)
    return asyncio.run(run_controller(cfg, auto_start=args.start, hmi_port=None,
                                      demo_operator=args.demo_operator))


def _cmd_demo(args: argparse.Namespace) -> int:
    from plateline.demo import DemoOptions, parse_devices, run_demo

    opts = DemoOptions(speed=args.speed, trays=args.trays, seed=args.seed, workdir=args.workdir,
                       devices=parse_devices(args.devices))
    return asyncio.run(run_demo(opts))


def _cmd_orders_import(args: argparse.Namespace) -> int:
    from plateline.config import load_config
    from plateline.records.tools import import_order_files

    cfg = load_config(args.config)
    for report in import_order_files(cfg, args.files, user=args.user):
        print(report)
    return 0


def _cmd_trace_export(args: argparse.Namespace) -> int:
    from plateline.config import load_config
    from plateline.records.tools import export_records

    cfg = load_config(args.config)
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
    try:
        n = export_records(cfg, out, fmt=args.format)
    finally:
        if args.out:
            out.close()
    print(f"exported {n} items", file=sys.stderr)
    return 0


def _cmd_vision_teach(args: argparse.Namespace) -> int:
    import json

    from plateline.vision.cli import teach_main

    result = teach_main(args.sample_dir, args.out, args.base_model)
    print(json.dumps(result, ensure_ascii=False))
    kept, thin = result.get("kept_from_base"), result.get("thin")
    thin = thin if isinstance(thin, dict) else {}
    if kept:
        print(f"plateline: warning: known only from the base model, not from these samples: "
              f"{kept}. A plate of this site's font showing one of them may be read as a "
              f"taught neighbour: teach from frames that hold every glyph in use.",
              file=sys.stderr)
    if thin:
        print(f"plateline: warning: taught from fewer than 5 crops: "
              f"{', '.join(f'{c} ({n})' for c, n in thin.items())}", file=sys.stderr)
    return 0


def _cmd_vision_eval(args: argparse.Namespace) -> int:
    import json

    from plateline.vision.cli import eval_main

    result = eval_main(args.sample_dir, args.model, args.decisions, args.json)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="plateline", description=__doc__)
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, fn: Callable[[argparse.Namespace], int], help: str,
            parent: argparse._SubParsersAction[argparse.ArgumentParser] | None = None
            ) -> argparse.ArgumentParser:
        sp = (parent or sub).add_parser(name, help=help, description=help)
        sp.set_defaults(func=fn)
        return sp

    d = add("demo", _cmd_demo, "run the demo line: simulated plant and controller together")
    d.add_argument("--speed", type=float, default=1.0, help="belt speed factor 1..20")
    d.add_argument("--trays", type=int, default=200, help="number of trays in the scenario")
    d.add_argument("--seed", type=int, default=1, help="seed of the scenario")
    d.add_argument("--devices", default="all",
                   help="the devices of the line, comma separated (default: all, the six "
                        "stations; CONV,S1,CAM1 for INFEED and VISION only)")
    d.add_argument("--workdir", type=Path, default=None,
                   help="where the database, frames and truth go (default: a new temp folder)")

    # `plateline sim ...` is handed to the simulator's own parser in main(); listed for -h.
    sub.add_parser("sim", help="run the simulated plant and its devices, or some of them "
                               "(plateline sim -h)")

    r = add("run", _cmd_run, "run the controller against the devices the configuration names")
    r.add_argument("--config", type=Path, required=True)
    r.add_argument("--start", action="store_true", help="send Reset and Start once connected")
    r.add_argument("--demo-operator", action="store_true",
                   help="let the demo's scripted operator restart the line after faults "
                        "(simulated plant only)")

    from plateline.control.cli import add_line_parser

    add_line_parser(sub)

    cfg = sub.add_parser("config", help="configuration tools").add_subparsers(dest="sub", required=True)
    add("example", _cmd_config_example, "print a complete, commented example", cfg)
    c = add("check", _cmd_config_check, "validate a configuration file", cfg)
    c.add_argument("config", type=Path)

    orders = sub.add_parser("orders", help="order files").add_subparsers(dest="sub", required=True)
    oi = add("import", _cmd_orders_import, "import order files (CSV or JSON Lines)", orders)
    oi.add_argument("files", type=Path, nargs="+")
    oi.add_argument("--config", type=Path, required=True)
    oi.add_argument("--user", default="cli")

    trace = sub.add_parser("trace", help="traceability records").add_subparsers(dest="sub", required=True)
    te = add("export", _cmd_trace_export, "export the records", trace)
    te.add_argument("--config", type=Path, required=True)
    te.add_argument("--format", choices=["jsonl", "epcis"], default="jsonl")
    te.add_argument("--out", type=Path, default=None)

    vision = sub.add_parser("vision", help="plate reader tools").add_subparsers(dest="sub", required=True)
    vt = add("teach", _cmd_vision_teach, "teach the reader from a labelled sample folder", vision)
    vt.add_argument("sample_dir", type=Path)
    vt.add_argument("--out", type=Path, required=True)
    vt.add_argument("--base-model", type=Path, default=None)
    ve = add("eval", _cmd_vision_eval, "verify every frame of a sample folder and measure", vision)
    ve.add_argument("sample_dir", type=Path)
    ve.add_argument("--model", type=Path, default=None)
    ve.add_argument("--decisions", type=Path, default=None)
    ve.add_argument("--json", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["sim"]:  # the simulator has its own options (plateline sim -h)
        from plateline.simulators.cli import main as sim_main

        return sim_main(argv[1:])
    args = build_parser().parse_args(argv)
    _setup_logging(args.log_level)
    try:
        return int(args.func(args))
    except PlatelineError as err:
        print(f"plateline: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
