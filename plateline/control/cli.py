"""``plateline line ...``: operate a running controller from a shell on its machine."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from plateline.contract import PackMLCommand
from plateline.control.client import request
from plateline.errors import ConfigError

#: Line commands with a subcommand of their own (others: ``plateline line command X``).
LINE_COMMANDS = ("stop", "hold", "unhold", "reset", "clear", "abort", "suspend", "unsuspend")


def add_line_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``plateline line`` and its subcommands to the top-level parser."""
    line = sub.add_parser("line", help="operate the running controller (status, start, "
                                       "stop, reject by hand, recipe changeover)")
    ops = line.add_subparsers(dest="sub", required=True)

    def add(name: str, help: str) -> argparse.ArgumentParser:
        sp = ops.add_parser(name, help=help, description=help)
        where = sp.add_mutually_exclusive_group(required=True)
        where.add_argument("--config", type=Path, help="the line's configuration")
        where.add_argument("--socket", type=Path, help="the control socket itself")
        sp.add_argument("--json", action="store_true", help="print the answer as JSON")
        sp.set_defaults(func=_run)
        return sp

    add("status", "state, recipe, links, counters, alarms and the trays on the line")
    add("start", "Reset if needed, start the packer, Start (as at the touch screen)")
    for name in LINE_COMMANDS:
        add(name, f"send {name.upper()} to the line").set_defaults(op="command",
                                                                   command=name.upper())
    cmd = add("command", "send any PackML command to the line")
    cmd.add_argument("command", choices=[c.name for c in PackMLCommand], type=str.upper)
    pk = add("packer", "send a PackML command to the packer")
    pk.add_argument("command", choices=[c.name for c in PackMLCommand], type=str.upper)
    rj = add("reject", "reject a tray by hand (reason OPERATOR_REJECT)")
    which = rj.add_mutually_exclusive_group(required=True)
    which.add_argument("--tray", type=int, help="the tray (carrier) number")
    which.add_argument("--item", dest="item_id", help="the item id (e.g. L1-00000042)")
    rc = add("recipe", "recipe changeover (only in Stopped, Idle or Held)")
    rc.add_argument("recipe", help="recipe id, e.g. plate-single")


def _socket_path(args: argparse.Namespace) -> Path:
    if args.socket is not None:
        return Path(args.socket)
    from plateline.config import load_config

    cfg = load_config(args.config)
    if not cfg.control.enabled:
        raise ConfigError(f"{args.config}: the control socket is switched off ([control])")
    return cfg.control.socket


def _arguments(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    op = getattr(args, "op", None) or args.sub
    names = {"command": ("command",), "packer": ("command",), "reject": ("tray", "item_id"),
             "recipe": ("recipe",)}.get(op, ())
    return op, {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def _run(args: argparse.Namespace) -> int:
    op, arguments = _arguments(args)
    answer = asyncio.run(request(_socket_path(args), op, **arguments))
    answer.pop("ok", None)
    if args.json:
        print(json.dumps(answer, ensure_ascii=False, indent=2))
    else:
        print(format_answer(op, answer))
    return 0


def format_answer(op: str, answer: dict[str, Any]) -> str:
    """An answer as lines for a person at a terminal."""
    if op != "status":
        return ", ".join(f"{k} {_plain(v)}" for k, v in answer.items())
    recipe = answer.get("recipe")
    lines = [
        f"state    {answer['state']}" + (f"   packer {answer['packer_state']}"
                                         if answer.get("packer_state") else ""),
        "recipe   " + (f"{recipe['id']} {recipe['version']} (number {recipe['number']})"
                       if recipe else "none in force"),
        "links    " + ", ".join(f"{k} {v}" for k, v in answer["links"].items()),
        "counters " + ", ".join(f"{k} {_plain(v)}" for k, v in answer["counters"].items()),
    ]
    alarms = answer.get("alarms") or []
    lines.append(f"alarms   {len(alarms) or 'none'}")
    lines += [f"  {a['severity']:<8} {a['code']}: {a['text']}" for a in alarms]
    items = answer.get("items") or []
    lines.append(f"on line  {len(items)} trays")
    lines += [f"  tray {it['tray']:>4}  {it['item_id']}  at {it['at']:<11} "
              f"{it['verdict'] or '-'} {it['reason'] or ''}".rstrip() for it in items]
    return "\n".join(lines)


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_plain(v)}" for k, v in value.items()) + "}"
    return str(value)
