"""Seal results of the packer: every SEQUENCE accounted for, across sessions.

Pure bookkeeping, no I/O: the OPC UA client feeds it what it saw (``LastPack``
notifications, ``Recent`` snapshots, the server's ``StartTime`` at each connect)
and it turns that into an ordered stream of events:

* :class:`PackResult` for each pack, in SEQUENCE order (``backfilled`` when it
  came from ``Recent`` rather than from the subscription);
* :class:`MissingPack` for a SEQUENCE that is in neither (its tray gets SEAL_FAIL);
* :class:`PackerReset` when a PackML Reset zeroed the results (SEQUENCE restarts at 1);
* :class:`PackerRestarted` when the server's StartTime changed: the results of the
  old run that were not seen are gone, and nobody can say how many there were.

One tracker outlives the clients a supervisor makes: only the client it is
attached to may feed it, so a dying session cannot interleave with its successor.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from plateline.errors import ProtocolError

log = logging.getLogger(__name__)

PACK_FIELDS = 4  # SEQUENCE, TRAY, SEAL_OK, SEAL_TEMP_DECI_C
RECENT_PACKS = 32
RECENT_LENGTH = PACK_FIELDS * RECENT_PACKS
_HISTORY = 2 * RECENT_PACKS


@dataclass(frozen=True, slots=True)
class PackResult:
    """One pack: its SEQUENCE, the tray, whether the seal is good, and the jaw temperature."""

    sequence: int
    tray: int
    seal_ok: bool
    seal_temp_deci_c: int
    backfilled: bool = field(default=False, compare=False)

    def same_pack(self, other: PackResult) -> bool:
        return (self.sequence, self.tray, self.seal_ok, self.seal_temp_deci_c) == (
            other.sequence, other.tray, other.seal_ok, other.seal_temp_deci_c)


@dataclass(frozen=True, slots=True)
class MissingPack:
    """A SEQUENCE whose result is neither in a notification nor in ``Recent``."""

    sequence: int


@dataclass(frozen=True, slots=True)
class PackerReset:
    """A PackML Reset zeroed the results; ``last_sequence`` was the last one accounted for."""

    last_sequence: int


@dataclass(frozen=True, slots=True)
class PackerRestarted:
    """The packer's server restarted (new StartTime); unseen results of the old run are lost."""

    last_sequence: int | None
    previous_start: datetime
    start_time: datetime


PackEvent = PackResult | MissingPack | PackerReset | PackerRestarted
Plan = Literal["ignore", "accept", "fill"]


def decode_pack(values: Sequence[int], *, where: str = "LastPack") -> PackResult | None:
    """``[SEQUENCE, TRAY, SEAL_OK, SEAL_TEMP_DECI_C]``; None for an all-zero (unused) slot.

    A SEAL_OK other than 0 or 1 counts as a bad seal (fail safe).
    """
    if len(values) != PACK_FIELDS:
        raise ProtocolError(f"{where} has {len(values)} values, expected {PACK_FIELDS}")
    seq, tray, seal, temp = (int(v) for v in values)
    if seq == tray == seal == temp == 0:
        return None
    if seq < 1:
        raise ProtocolError(f"{where}: SEQUENCE {seq} in a used slot {list(values)}")
    if seal not in (0, 1):
        log.warning("%s: SEQUENCE %d has SEAL_OK %d, counted as a bad seal", where, seq, seal)
    return PackResult(seq, tray, seal == 1, temp)


def decode_recent(values: Sequence[int]) -> dict[int, PackResult]:
    """The packs in ``Recent`` by SEQUENCE (unused zero slots left out)."""
    if len(values) != RECENT_LENGTH:
        raise ProtocolError(f"Recent has {len(values)} values, expected {RECENT_LENGTH}")
    packs: dict[int, PackResult] = {}
    for i in range(RECENT_PACKS):
        pack = decode_pack(values[i * PACK_FIELDS:(i + 1) * PACK_FIELDS], where=f"Recent[{i}]")
        if pack is None:
            continue
        if pack.sequence in packs and not packs[pack.sequence].same_pack(pack):
            raise ProtocolError(f"Recent holds SEQUENCE {pack.sequence} twice, differently")
        packs[pack.sequence] = pack
    return packs


class PackResultTracker:
    """Turns what a client sees into an ordered stream of :data:`PackEvent`; async iterable.

    ``start_time`` and ``last_sequence`` may be restored from storage after a controller
    restart. Without them, the first connect only takes a baseline: packs made before
    the controller was there are not reported.
    """

    def __init__(self, *, start_time: datetime | None = None,
                 last_sequence: int | None = None) -> None:
        self._start_time = start_time
        self._last = last_sequence
        self._history: OrderedDict[int, PackResult] = OrderedDict()
        self._missing: set[int] = set()
        self._queue: asyncio.Queue[PackEvent] = asyncio.Queue()
        self._owner: object | None = None

    # -- consumer side ---------------------------------------------------------

    @property
    def start_time(self) -> datetime | None:
        """StartTime of the packer run the sequence numbers belong to."""
        return self._start_time

    @property
    def last_sequence(self) -> int | None:
        """Last SEQUENCE accounted for (reported or reported missing); None before a baseline."""
        return self._last

    def __aiter__(self) -> PackResultTracker:
        return self

    async def __anext__(self) -> PackEvent:
        return await self._queue.get()

    async def get(self) -> PackEvent:
        """The next event (wait for it: wrap in a timeout)."""
        return await self._queue.get()

    def get_nowait(self) -> PackEvent:
        """The next event; ``asyncio.QueueEmpty`` when there is none."""
        return self._queue.get_nowait()

    def pending(self) -> int:
        """Events not yet taken."""
        return self._queue.qsize()

    # -- feeding side (the attached client) ------------------------------------

    def attach(self, owner: object) -> None:
        """Make ``owner`` the only client allowed to feed the tracker."""
        self._owner = owner

    def detach(self, owner: object) -> None:
        if self._owner is owner:
            self._owner = None

    def owned_by(self, owner: object) -> bool:
        return self._owner is owner

    def connected(self, owner: object, start_time: datetime, last_pack: Sequence[int],
                  recent: Sequence[int]) -> None:
        """After a (re)connect: detect a restart or reset, then back-fill from ``Recent``."""
        if not self.owned_by(owner):
            return
        packs = decode_recent(recent)
        newest_pack = decode_pack(last_pack)
        if newest_pack is not None:
            packs.setdefault(newest_pack.sequence, newest_pack)
        newest = max(packs, default=0)
        if self._start_time is not None and start_time != self._start_time:
            log.warning("packer restarted (StartTime %s, was %s); last SEQUENCE seen %s",
                        start_time, self._start_time, self._last)
            self._emit(PackerRestarted(self._last, self._start_time, start_time))
            self._clear(0)
        self._start_time = start_time
        if self._last is None:
            self._clear(newest)
            for seq in sorted(packs):
                self._remember(packs[seq])
            return
        if newest < self._last or self._contradicts(packs):
            self._reset()
        self._fill(packs, newest)

    def plan(self, owner: object, pack: PackResult | None) -> Plan:
        """What to do with a ``LastPack`` notification: ignore it, accept it, or fill a gap first.

        Reports a PackML Reset (zeroed LastPack, or a SEQUENCE that contradicts what was
        seen) on the way.
        """
        if not self.owned_by(owner) or self._last is None:
            return "ignore"
        if pack is None:
            if self._last > 0:
                self._reset()
            return "ignore"
        seq = pack.sequence
        if seq <= self._last:
            known = self._history.get(seq)
            if known is not None and known.same_pack(pack):
                return "ignore"
            if known is None and seq in self._missing:
                log.warning("SEQUENCE %d arrived after it was reported missing; ignored", seq)
                return "ignore"
            self._reset()
        return "accept" if seq == self._last + 1 else "fill"

    def fill(self, owner: object, recent: Sequence[int], upto: int) -> None:
        """Account for every SEQUENCE up to ``upto`` from a ``Recent`` snapshot."""
        if not self.owned_by(owner):
            return
        self._fill(decode_recent(recent), upto)

    def accept(self, owner: object, pack: PackResult) -> None:
        """Report ``pack``, which comes right after the last SEQUENCE accounted for."""
        if not self.owned_by(owner) or self._last is None or pack.sequence != self._last + 1:
            return
        self._emit(pack)
        self._remember(pack)
        self._last = pack.sequence

    # -- internals -------------------------------------------------------------

    def _fill(self, packs: Mapping[int, PackResult], upto: int) -> None:
        assert self._last is not None
        lost = []
        for seq in range(self._last + 1, upto + 1):
            pack = packs.get(seq)
            if pack is None:
                lost.append(seq)
                self._missing.add(seq)
                self._emit(MissingPack(seq))
            else:
                pack = replace(pack, backfilled=True)
                self._emit(pack)
                self._remember(pack)
        if lost:
            log.error("seal results lost: SEQUENCE %s", _ranges(lost))
        self._last = max(self._last, upto)

    def _contradicts(self, packs: Mapping[int, PackResult]) -> bool:
        return any(seq in self._history and not self._history[seq].same_pack(pack)
                   for seq, pack in packs.items())

    def _reset(self) -> None:
        assert self._last is not None
        log.warning("packer results were reset after SEQUENCE %d", self._last)
        self._emit(PackerReset(self._last))
        self._clear(0)

    def _clear(self, last: int) -> None:
        self._last = last
        self._history.clear()
        self._missing.clear()

    def _remember(self, pack: PackResult) -> None:
        self._history[pack.sequence] = pack
        while len(self._history) > _HISTORY:
            self._history.popitem(last=False)
        if len(self._missing) > _HISTORY:
            self._missing = {s for s in self._missing if s > pack.sequence - _HISTORY}

    def _emit(self, event: PackEvent) -> None:
        self._queue.put_nowait(event)


def _ranges(numbers: list[int]) -> str:
    parts, start, prev = [], numbers[0], numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(parts)


__all__ = ["MissingPack", "PackEvent", "PackResult", "PackResultTracker", "PackerReset",
           "PackerRestarted", "decode_pack", "decode_recent"]
