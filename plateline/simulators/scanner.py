"""Simulated fixed-mount code reader (``S1``, ``S2``) on a pseudo-terminal.

Speaks the ``LON`` / ``LOFF`` protocol of ``serial-devices.md``. What it reads is
decided by the plant's view at the instant the ``LON`` arrives.

Run alone: ``python -m plateline.simulators.scanner --name S1 --link var/sim/S1
--code TEXT`` (or ``--codes FILE``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from plateline.drivers.lifecycle import ClosedOnce
from plateline.simulators import runner
from plateline.simulators.pty import LineSplitter, PtyPort
from plateline.simulators.views import ScanView

log = logging.getLogger(__name__)

ScannerFault = Literal["silent", "garbage"]

_GARBAGE_BYTES = bytes([*range(0x20), 0x7F, *range(0x80, 0x100)]).replace(
    b"\r", b"").replace(b"\n", b"")


@dataclass
class ScannerCounters:
    """Diagnostics of one simulated reader."""

    triggers: int = 0  # LON accepted (a read started)
    reads: int = 0  # answered with data
    errors: int = 0  # answered ERROR
    loff: int = 0  # reads ended early by LOFF
    ignored: int = 0  # LON during a read, unknown commands, overlong lines
    faulted: int = 0  # answers withheld or garbled by a fault


class ScannerSim(ClosedOnce):
    """A code reader on a pty, answering from ``view()`` (async context manager)."""

    def __init__(
        self,
        name: str,
        view: Callable[[], ScanView],
        *,
        link: Path | None = None,
        decode_delay: tuple[float, float] = (0.03, 0.08),
        read_window: float = 0.3,
        seed: int = 0,
        pace: bool = False,
        baud: int = 115200,
    ) -> None:
        lo, hi = decode_delay
        if not 0 <= lo <= hi:
            raise ValueError("decode_delay must be (low, high) with 0 <= low <= high")
        if read_window <= 0:
            raise ValueError("read_window must be positive")
        self.name = name
        self.decode_delay = decode_delay
        self.read_window = read_window
        self.counters = ScannerCounters()
        self._view = view
        self._rng = random.Random(seed)
        self._fault: ScannerFault | None = None
        self._lines = LineSplitter(b"\r\n", max_line=64)
        self._read_task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.port = PtyPort(name, link=link, on_data=self._on_data, baud=baud, pace=pace)

    # -- lifecycle ---------------------------------------------------------------

    async def _enter(self) -> None:
        await self.port.open()

    async def _close(self) -> None:
        """End any read in progress and close the port."""
        task = self._read_task
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        await self.port.aclose()

    # -- faults and state --------------------------------------------------------

    def set_fault(self, fault: ScannerFault | None) -> None:
        """``"silent"``: never answers; ``"garbage"``: answers noise; None: healthy."""
        if fault not in (None, "silent", "garbage"):
            raise ValueError(f"unknown scanner fault {fault!r}")
        self._fault = fault

    @property
    def fault(self) -> ScannerFault | None:
        return self._fault

    @property
    def reading(self) -> bool:
        """True while a read (from LON to its answer) is in progress."""
        return self._read_task is not None and not self._read_task.done()

    def stats(self) -> dict[str, int]:
        return asdict(self.counters)

    # -- protocol ----------------------------------------------------------------

    def _on_data(self, chunk: bytes) -> None:
        overflows = self._lines.overflows
        for line in self._lines.feed(chunk):
            self._on_command(line)
        self.counters.ignored += self._lines.overflows - overflows

    def _on_command(self, line: bytes) -> None:
        cmd = line.strip(b" \t")
        if cmd == b"LON":
            self._on_lon()
        elif cmd == b"LOFF":
            if self.reading:
                self.counters.loff += 1
                self._stop.set()
            # LOFF with no read in progress: nothing to end
        else:
            self.counters.ignored += 1
            log.debug("%s: ignored %r", self.name, line)

    def _on_lon(self) -> None:
        if self._closed or self.reading:
            self.counters.ignored += 1
            return
        try:
            seen = self._view()
        except Exception:
            log.exception("%s: plant view failed; the reader sees nothing", self.name)
            seen = ScanView(data=None)
        self.counters.triggers += 1
        self._stop = asyncio.Event()
        self._read_task = asyncio.get_running_loop().create_task(
            self._read(seen.data, self._stop), name=f"{self.name}-read")

    async def _read(self, data: str | None, stop: asyncio.Event) -> None:
        delay = self.read_window
        if data is not None:
            decode = self._rng.uniform(*self.decode_delay)
            if decode < self.read_window:
                delay = decode
            else:
                data = None
        stopped = await _wait(stop, delay)
        await self._answer(None if stopped else data)

    async def _answer(self, data: str | None) -> None:
        fault = self._fault
        if fault == "silent":
            self.counters.faulted += 1
            return
        if fault == "garbage":
            self.counters.faulted += 1
            n = self._rng.randint(4, 16)
            await self.port.write(bytes(self._rng.choices(_GARBAGE_BYTES, k=n)) + b"\r")
            return
        if data is None:
            self.counters.errors += 1
            await self.port.write(b"ERROR\r")
        else:
            self.counters.reads += 1
            await self.port.write(data.encode("utf-8") + b"\r")


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Wait for ``event`` at most ``seconds``; True if it was set."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


# -- standalone runner -----------------------------------------------------------


def _code_cycle(codes: Sequence[str | None]) -> Callable[[], ScanView]:
    it: Iterator[str | None] = iter(())

    def view() -> ScanView:
        nonlocal it
        try:
            code = next(it)
        except StopIteration:
            it = iter(codes)
            code = next(it)
        return ScanView(data=code)

    return view


def load_codes(path: Path) -> list[str | None]:
    """Codes of a ``--codes`` file: one a line, ``-`` for a no-read, ``#`` comments."""
    codes: list[str | None] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        codes.append(None if line == "-" else line)
    if not codes:
        raise SystemExit(f"{path}: no codes")
    return codes


async def _run(args: argparse.Namespace) -> None:
    codes: list[str | None] = [args.code] if args.code is not None else load_codes(args.codes)
    sim = ScannerSim(args.name, _code_cycle(codes), link=args.link, seed=args.seed,
                     pace=args.pace, baud=args.baud)
    await runner.serve_until_stopped(
        args.name, sim, lambda: f"code reader on {runner.pty_where(sim, args.link)}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = runner.simulator_parser(
        "scanner", "Simulated LON/LOFF code reader on a pseudo-terminal, without a plant.", "S1")
    runner.add_pty_arguments(parser, "S1")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--code", help="answer this code to every LON")
    which.add_argument("--codes", type=Path,
                       help="cycle through this file's codes, one a line ('-' = no read)")
    parser.add_argument("--seed", type=int, default=0)
    runner.add_line_arguments(parser)
    runner.run_main(parser, argv, _run)


if __name__ == "__main__":
    main()
