"""The standalone runner shared by the device simulators (``python -m ...``).

A simulator's ``main`` builds its parser with :func:`simulator_parser` (plus
:func:`add_pty_arguments` for a serial device), adds its own options and hands
its ``_run`` to :func:`run_main`; ``_run`` builds the simulator and awaits
:func:`serve_until_stopped`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from plateline.simulators.pty import PtyPort


class _Simulator(Protocol):
    async def __aenter__(self) -> Any: ...

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> Any: ...

    def stats(self) -> object: ...


class _PtySimulator(Protocol):
    @property
    def port(self) -> PtyPort: ...


def simulator_parser(module: str, description: str, name: str) -> argparse.ArgumentParser:
    """A parser for ``python -m plateline.simulators.<module>`` with ``--name``."""
    parser = argparse.ArgumentParser(prog=f"python -m plateline.simulators.{module}",
                                     description=description)
    parser.add_argument("--name", default=name)
    return parser


def add_pty_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """``--link`` (a stable symlink to the pty)."""
    parser.add_argument("--link", type=Path, help=f"stable symlink to the pty, e.g. var/sim/{name}")


def add_line_arguments(parser: argparse.ArgumentParser) -> None:
    """``--pace`` and ``--baud``: answers paced like a real serial line."""
    parser.add_argument("--pace", action="store_true", help="pace answers to --baud")
    parser.add_argument("--baud", type=int, default=115200)


def pty_where(sim: _PtySimulator, link: Path | None) -> str:
    """Where a pty simulator listens: its pty path and, if any, its link."""
    return sim.port.path + (f" (link {link})" if link else "")


async def serve_until_stopped(name: str, sim: _Simulator, banner: Callable[[], str]) -> None:
    """Run ``sim`` until SIGINT/SIGTERM; print ``banner()`` once it runs, its stats at the end."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with sim:
        print(f"{name}: {banner()}; Ctrl-C to stop", flush=True)
        await stop.wait()
    print(f"{name}: stopped, {sim.stats()}", flush=True)


def run_main(parser: argparse.ArgumentParser, argv: Sequence[str] | None,
             run: Callable[[argparse.Namespace], Coroutine[Any, Any, None]]) -> None:
    """Add ``-v``, parse ``argv``, set up logging and run ``run(args)``; 130 on Ctrl-C."""
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    try:
        asyncio.run(run(args))
    except KeyboardInterrupt:
        sys.exit(130)
