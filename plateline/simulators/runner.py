"""The standalone runner shared by the device simulators (``python -m ...``).

A simulator's ``main`` builds its parser with :func:`simulator_parser` (plus
:func:`add_pty_arguments` for a serial device), adds its own options and hands
its ``_run`` to :func:`run_main`; ``_run`` builds the simulator and awaits
:func:`serve_until_stopped`. The commands that run a whole server until SIGTERM (the
line, the packer) use :func:`run_command`, :func:`stop_on_sigterm` and :func:`wait_for_stop`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from plateline.errors import ConfigError
from plateline.simulators._aio import cancel_and_wait

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


def run_command(args: argparse.Namespace,
                run: Callable[[argparse.Namespace], Coroutine[Any, Any, int]]) -> int:
    """Set up logging (``args.verbose``) and return the exit code of ``run(args)``: 0 on
    Ctrl-C, 2 with a one-line error for a bad configuration or a port that cannot be had."""
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        logging.getLogger("asyncua").setLevel(logging.WARNING)
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 0
    except (ConfigError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


@asynccontextmanager
async def stop_on_sigterm() -> AsyncIterator[asyncio.Event]:
    """An event that SIGTERM sets while the block runs (Ctrl-C stays KeyboardInterrupt)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        yield stop
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


async def wait_for_stop(stop: asyncio.Event, helper: asyncio.Task[Any] | None = None) -> None:
    """Wait until ``stop`` is set, then cancel ``helper`` (if any) and wait for it to end."""
    try:
        await stop.wait()
    finally:
        await cancel_and_wait(helper)
