"""Simulated label printer ``P1`` on a pseudo-terminal: ZPL II formats and ``~HS``.

Takes ``^XA ... ^XZ`` formats however the stream is split or merged and answers
``~HS`` (even in the middle of a format, as a printer does with tilde commands)
with its current status. It prints exactly what it is sent: each format is read
back with :func:`~plateline.drivers.zpl.parse_label` and handed to ``on_print``
(None for a format it cannot make sense of: nothing readable comes out). While it
shows a fault it takes formats but prints nothing; ``silent`` is a printer that
neither answers nor prints. ``set_misprint`` smudges the barcode of the next
label(s): ``on_print`` then gets the label with ``barcode`` None, so a verification
scanner reading it answers ``ERROR``.

Run alone: ``python -m plateline.simulators.printer --name P1 --link var/sim/P1``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

from plateline.drivers.lifecycle import ClosedOnce
from plateline.drivers.zpl import ParsedLabel, format_host_status, parse_label
from plateline.errors import ProtocolError
from plateline.simulators import runner
from plateline.simulators.pty import PtyPort

log = logging.getLogger(__name__)

PrinterFaultMode = Literal["paper_out", "paused", "head_open", "ribbon_out", "silent"]
PRINTER_FAULTS: tuple[str, ...] = ("paper_out", "paused", "head_open", "ribbon_out", "silent")

_HS, _XA, _XZ = b"~HS", b"^XA", b"^XZ"


class ZplStream:
    """Cuts a byte stream into ``~HS`` requests and ``^XA ... ^XZ`` formats, in order.

    Bytes outside a format other than ``~HS`` are ignored; a format longer than
    ``max_format`` is dropped and counted in ``overflows``.
    """

    STATUS = _HS  #: the item standing for a ``~HS`` request (a format starts with ``^XA``)

    def __init__(self, max_format: int = 65536) -> None:
        self.max_format = max_format
        self.overflows = 0
        self._buf = bytearray()
        self._in_format = False

    def feed(self, chunk: bytes) -> list[bytes]:
        """The requests completed by ``chunk``: ``ZplStream.STATUS`` or a whole format."""
        self._buf += chunk
        out: list[bytes] = []
        while self._step(out):
            pass
        return out

    def _step(self, out: list[bytes]) -> bool:
        buf = self._buf
        hs = buf.find(_HS)
        mark = buf.find(_XZ, len(_XA)) if self._in_format else buf.find(_XA)
        if hs >= 0 and (mark < 0 or hs < mark):
            out.append(self.STATUS)
            start = hs if self._in_format else 0
            del buf[start:hs + len(_HS)]
            return True
        if mark >= 0 and self._in_format:
            out.append(bytes(buf[:mark + len(_XZ)]))
            del buf[:mark + len(_XZ)]
            self._in_format = False
            return True
        if mark >= 0:
            del buf[:mark]
            self._in_format = True
            return True
        if self._in_format and len(buf) > self.max_format:
            self.overflows += 1
            self._in_format = False
        if not self._in_format:
            del buf[:-2]  # keep what may be the start of ~HS or ^XA
        return False


@dataclass
class PrinterCounters:
    """Diagnostics of one simulated printer."""

    status_requests: int = 0
    status_answers: int = 0
    formats: int = 0  # formats received
    printed: int = 0  # labels printed (on_print called)
    misprinted: int = 0  # of them, with a smudged barcode
    unreadable: int = 0  # of them, formats that did not parse (on_print(None))
    not_printed: int = 0  # formats taken while faulted
    overflows: int = 0  # formats dropped as too long


class PrinterSim(ClosedOnce):
    """A ZPL printer on a pty (async context manager)."""

    def __init__(
        self,
        name: str,
        *,
        link: Path | None = None,
        on_print: Callable[[ParsedLabel | None], None] | None = None,
        answer_delay: tuple[float, float] = (0.002, 0.01),
        print_delay: float = 0.0,
        seed: int = 0,
        pace: bool = False,
        baud: int = 115200,
        history: int = 1000,
    ) -> None:
        lo, hi = answer_delay
        if not 0 <= lo <= hi:
            raise ValueError("answer_delay must be (low, high) with 0 <= low <= high")
        if print_delay < 0:
            raise ValueError("print_delay must be >= 0")
        self.name = name
        self.answer_delay = answer_delay
        self.print_delay = print_delay
        self.counters = PrinterCounters()
        #: what came out of the printer, oldest first (None: an unreadable print)
        self.printed: deque[ParsedLabel | None] = deque(maxlen=history)
        self._on_print = on_print
        self._rng = random.Random(seed)
        self._faults: set[str] = set()
        self._misprint: int | None = 0  # labels left to smudge; None: every label
        self._stream = ZplStream()
        self._answers: asyncio.Queue[None] = asyncio.Queue()
        self._formats: asyncio.Queue[bytes] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self.port = PtyPort(name, link=link, on_data=self._on_data, baud=baud, pace=pace)

    # -- lifecycle ---------------------------------------------------------------

    async def _enter(self) -> None:
        await self.port.open()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._answer_status(), name=f"{self.name}-status"),
                       loop.create_task(self._print_formats(), name=f"{self.name}-print")]

    async def _close(self) -> None:
        """Stop and close the port."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        await self.port.aclose()

    # -- faults and modes --------------------------------------------------------

    def set_fault(self, fault: PrinterFaultMode, active: bool = True) -> None:
        """Show (or clear) one fault; several may be shown at once."""
        if fault not in PRINTER_FAULTS:
            raise ValueError(f"unknown printer fault {fault!r}; known: {PRINTER_FAULTS}")
        if active:
            self._faults.add(fault)
        else:
            self._faults.discard(fault)

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def faults(self) -> frozenset[str]:
        return frozenset(self._faults)

    def set_misprint(self, enabled: bool = True, *, labels: int | None = 1) -> None:
        """Smudge the barcode of the next ``labels`` labels (None: every label until off)."""
        if labels is not None and labels < 1:
            raise ValueError("labels must be at least 1 (or None for every label)")
        self._misprint = (labels if enabled else 0)

    @property
    def misprinting(self) -> bool:
        return self._misprint != 0

    @property
    def last_printed(self) -> ParsedLabel | None:
        """The latest label printed (None if none yet, or it was unreadable)."""
        return self.printed[-1] if self.printed else None

    def stats(self) -> dict[str, int]:
        return asdict(self.counters)

    # -- protocol ----------------------------------------------------------------

    def _on_data(self, chunk: bytes) -> None:
        overflows = self._stream.overflows
        for request in self._stream.feed(chunk):
            if request == ZplStream.STATUS:
                self.counters.status_requests += 1
                if "silent" not in self._faults:
                    self._answers.put_nowait(None)
            else:
                self.counters.formats += 1
                if not self.print_delay and self._formats.empty():
                    # printed as it arrives: a reader triggered after it sees the label
                    self._take_format(request)
                else:
                    self._formats.put_nowait(request)
        self.counters.overflows += self._stream.overflows - overflows

    async def _answer_status(self) -> None:
        while True:
            await self._answers.get()
            await asyncio.sleep(self._rng.uniform(*self.answer_delay))
            if "silent" in self._faults:
                continue
            f = self._faults
            answer = format_host_status(
                paper_out="paper_out" in f, paused="paused" in f, head_open="head_open" in f,
                ribbon_out="ribbon_out" in f, formats_waiting=min(self._formats.qsize(), 999))
            await self.port.write(answer)
            self.counters.status_answers += 1

    async def _print_formats(self) -> None:
        while True:
            zpl = await self._formats.get()
            if self.print_delay:
                await asyncio.sleep(self.print_delay)
            self._take_format(zpl)

    def _take_format(self, zpl: bytes) -> None:
        if self._faults:
            self.counters.not_printed += 1
            log.info("%s: format taken while faulted (%s), nothing printed", self.name,
                     ", ".join(sorted(self._faults)))
            return
        self._print(zpl)

    def _print(self, zpl: bytes) -> None:
        label: ParsedLabel | None
        try:
            label = parse_label(zpl)
        except ProtocolError as err:
            log.warning("%s: unreadable format printed: %s", self.name, err)
            label = None
            self.counters.unreadable += 1
        if label is not None and self._misprint != 0:
            label = replace(label, barcode=None)
            self.counters.misprinted += 1
            if self._misprint is not None:
                self._misprint -= 1
        self.counters.printed += 1
        self.printed.append(label)
        if self._on_print is not None:
            try:
                self._on_print(label)
            except Exception:
                log.exception("%s: on_print failed", self.name)


# -- standalone runner -----------------------------------------------------------


async def _run(args: argparse.Namespace) -> None:
    def show(label: ParsedLabel | None) -> None:
        print(f"{args.name}: printed {label!r}", flush=True)

    sim = PrinterSim(args.name, link=args.link, on_print=show, pace=args.pace, baud=args.baud)
    for fault in args.fault or ():
        sim.set_fault(fault)
    await runner.serve_until_stopped(
        args.name, sim, lambda: f"ZPL printer on {runner.pty_where(sim, args.link)}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = runner.simulator_parser(
        "printer", "Simulated ZPL label printer on a pseudo-terminal, without a plant.", "P1")
    runner.add_pty_arguments(parser, "P1")
    parser.add_argument("--fault", action="append", choices=PRINTER_FAULTS)
    runner.add_line_arguments(parser)
    runner.run_main(parser, argv, _run)


if __name__ == "__main__":
    main()
