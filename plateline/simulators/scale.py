"""Simulated check-weigher ``W1`` on a pseudo-terminal: MT-SICS level 0 subset.

Answers from what is on the platform at the moment a command is executed
(``view()``): ``SI`` gives ``S D`` while the load is dynamic (with seeded noise)
and ``S S`` once it is stable; ``S`` waits for stability up to ``stable_timeout``
and then answers ``S I``. Commands run one at a time in the order received, each
answered after a short delay; ``@`` drops pending commands (as a real reset does).

Run alone: ``python -m plateline.simulators.scale --name W1 --link var/sim/W1
--weight 385``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from plateline.drivers.lifecycle import ClosedOnce
from plateline.drivers.scale_mtsics import format_weight
from plateline.simulators import runner
from plateline.simulators.pty import LineSplitter, PtyPort

log = logging.getLogger(__name__)

ScaleFaultMode = Literal["silent", "busy", "overload", "underload", "ET", "EL"]
SCALE_FAULTS: tuple[str, ...] = ("silent", "busy", "overload", "underload", "ET", "EL")
SERIAL_NUMBER = "0123456789"


@dataclass(frozen=True)
class ScaleView:
    """What is on the weighing platform now.

    ``weight_g`` is the gross load (None: empty platform, which weighs 0);
    ``dynamic`` is True while the load moves or settles; ``fault`` a fault the
    scale shows now.
    """

    weight_g: float | None
    dynamic: bool = False
    fault: ScaleFaultMode | None = None


@dataclass
class ScaleCounters:
    """Diagnostics of one simulated scale."""

    commands: int = 0  # command lines received
    weights: int = 0  # S S / S D answers
    refused: int = 0  # S I, S +, S -, Z I, ES, ET, EL answers
    zeroed: int = 0  # Z A answers
    resets: int = 0  # @ answered
    cancelled: int = 0  # commands dropped by a reset
    silent: int = 0  # answers withheld by the silent fault


class ScaleSim(ClosedOnce):
    """An MT-SICS scale on a pty answering from ``view()`` (async context manager)."""

    def __init__(
        self,
        name: str,
        view: Callable[[], ScaleView],
        *,
        link: Path | None = None,
        seed: int = 0,
        answer_delay: tuple[float, float] = (0.002, 0.008),
        stable_timeout: float = 0.5,
        poll: float = 0.01,
        dynamic_noise_g: float = 1.5,
        capacity_g: float = 6000.0,
        serial_number: str = SERIAL_NUMBER,
        pace: bool = False,
        baud: int = 115200,
    ) -> None:
        lo, hi = answer_delay
        if not 0 <= lo <= hi:
            raise ValueError("answer_delay must be (low, high) with 0 <= low <= high")
        if stable_timeout <= 0 or poll <= 0 or capacity_g <= 0 or dynamic_noise_g < 0:
            raise ValueError("stable_timeout, poll, capacity_g must be positive, noise >= 0")
        self.name = name
        self.answer_delay = answer_delay
        self.stable_timeout = stable_timeout
        self.poll = poll
        self.dynamic_noise_g = dynamic_noise_g
        self.capacity_g = capacity_g
        self.zero_range_g = 0.02 * capacity_g
        self.serial_number = serial_number
        self.counters = ScaleCounters()
        self.zero_offset_g = 0.0
        self._view = view
        self._rng = random.Random(seed)
        self._fault: ScaleFaultMode | None = None
        self._lines = LineSplitter(b"\r\n", max_line=64)
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._current: asyncio.Task[None] | None = None
        self.port = PtyPort(name, link=link, on_data=self._on_data, baud=baud, pace=pace)

    # -- lifecycle ---------------------------------------------------------------

    async def _enter(self) -> None:
        await self.port.open()
        self._worker = asyncio.get_running_loop().create_task(
            self._work(), name=f"{self.name}-commands")

    async def _close(self) -> None:
        """Stop executing commands and close the port."""
        for task in (self._current, self._worker):
            if task is not None:
                task.cancel()
                await asyncio.wait([task])
        await self.port.aclose()

    # -- faults ------------------------------------------------------------------

    def set_fault(self, fault: ScaleFaultMode | None) -> None:
        """Force a fault regardless of the view (None: the view decides)."""
        if fault is not None and fault not in SCALE_FAULTS:
            raise ValueError(f"unknown scale fault {fault!r}; known: {SCALE_FAULTS}")
        self._fault = fault

    @property
    def fault(self) -> ScaleFaultMode | None:
        return self._fault

    def stats(self) -> dict[str, int]:
        return asdict(self.counters)

    # -- command intake ----------------------------------------------------------

    def _on_data(self, chunk: bytes) -> None:
        for line in self._lines.feed(chunk):
            self.counters.commands += 1
            cmd = line.strip(b" \t")
            if cmd == b"@":
                self._cancel_pending()
            self._queue.put_nowait(cmd)

    def _cancel_pending(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()
            self.counters.cancelled += 1
        if self._current is not None and not self._current.done():
            self._current.cancel()
            self.counters.cancelled += 1

    async def _work(self) -> None:
        while True:
            cmd = await self._queue.get()
            self._current = asyncio.get_running_loop().create_task(
                self._execute(cmd), name=f"{self.name}-{cmd[:8]!r}")
            await asyncio.wait([self._current])
            task, self._current = self._current, None
            if not task.cancelled() and task.exception() is not None:
                log.error("%s: command %r failed", self.name, cmd, exc_info=task.exception())

    # -- execution ---------------------------------------------------------------

    async def _execute(self, cmd: bytes) -> None:
        answer = await self._answer(cmd)
        if answer is None:
            self.counters.silent += 1
            return
        await asyncio.sleep(self._rng.uniform(*self.answer_delay))
        await self.port.write(answer.encode("ascii") + b"\r\n")

    def _look(self) -> tuple[ScaleView, ScaleFaultMode | None]:
        try:
            seen = self._view()
        except Exception:
            log.exception("%s: plant view failed; the scale shows a logical error", self.name)
            return ScaleView(weight_g=None), "EL"
        return seen, self._fault or seen.fault

    async def _answer(self, cmd: bytes) -> str | None:
        seen, fault = self._look()
        if fault == "silent":
            return None
        if fault == "ET":
            return self._refuse("ET")
        if cmd not in (b"S", b"SI", b"Z", b"@"):
            return self._refuse("ES")
        if fault == "EL":
            return self._refuse("EL")
        if cmd == b"@":
            self.counters.resets += 1
            return f'I4 A "{self.serial_number}"'
        if cmd == b"SI":
            return self._weight_answer(seen, fault)
        if fault is None:  # S and Z wait for a stable load
            seen, fault = await self._settle(seen, fault)
            if fault == "silent":
                return None
            if fault in ("ET", "EL"):
                return self._refuse(fault)
        if cmd == b"Z":
            return self._zero(seen, fault)
        if seen.dynamic and fault is None:
            return self._refuse("S I")
        return self._weight_answer(seen, fault)

    async def _settle(self, seen: ScaleView, fault: ScaleFaultMode | None,
                      ) -> tuple[ScaleView, ScaleFaultMode | None]:
        """Look again every ``poll`` until the load is stable or a fault shows (or time is up)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.stable_timeout
        while seen.dynamic and fault is None and loop.time() < deadline:
            await asyncio.sleep(self.poll)
            seen, fault = self._look()
        return seen, fault

    def _weight_answer(self, seen: ScaleView, fault: ScaleFaultMode | None) -> str:
        if fault == "busy":
            return self._refuse("S I")
        net = (seen.weight_g or 0.0) - self.zero_offset_g
        if seen.dynamic:
            net += self._rng.gauss(0.0, self.dynamic_noise_g)
        if fault == "overload" or net > self.capacity_g:
            return self._refuse("S +")
        if fault == "underload" or net < -self.zero_range_g:
            return self._refuse("S -")
        self.counters.weights += 1
        return format_weight(net, stable=not seen.dynamic)

    def _zero(self, seen: ScaleView, fault: ScaleFaultMode | None) -> str:
        gross = seen.weight_g or 0.0
        if fault is not None or seen.dynamic or abs(gross) > self.zero_range_g:
            return self._refuse("Z I")
        self.zero_offset_g = gross
        self.counters.zeroed += 1
        return "Z A"

    def _refuse(self, answer: str) -> str:
        self.counters.refused += 1
        return answer


# -- standalone runner -----------------------------------------------------------


async def _run(args: argparse.Namespace) -> None:
    fixed = ScaleView(weight_g=args.weight, dynamic=args.dynamic, fault=args.fault)
    sim = ScaleSim(args.name, lambda: fixed, link=args.link, seed=args.seed, pace=args.pace,
                   baud=args.baud)
    await runner.serve_until_stopped(
        args.name, sim, lambda: f"MT-SICS scale on {runner.pty_where(sim, args.link)}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = runner.simulator_parser(
        "scale", "Simulated MT-SICS check-weigher on a pseudo-terminal, without a plant.", "W1")
    runner.add_pty_arguments(parser, "W1")
    parser.add_argument("--weight", type=float, default=None, help="grams on the platform")
    parser.add_argument("--dynamic", action="store_true", help="the load never settles")
    parser.add_argument("--fault", choices=SCALE_FAULTS, default=None)
    parser.add_argument("--seed", type=int, default=0)
    runner.add_line_arguments(parser)
    runner.run_main(parser, argv, _run)


if __name__ == "__main__":
    main()
