"""The seal-result bookkeeping on its own: gaps, resets, restarts, duplicates."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plateline.drivers.packer_results import (
    MissingPack,
    PackerReset,
    PackerRestarted,
    PackEvent,
    PackResult,
    PackResultTracker,
    decode_pack,
    decode_recent,
)
from plateline.errors import ProtocolError

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
ME = object()
ZERO4 = [0] * 4


def pack(seq: int, tray: int | None = None, ok: bool = True, temp: int = 1800) -> PackResult:
    return PackResult(seq, seq % 999 + 1 if tray is None else tray, ok, temp)


def recent(packs: list[PackResult]) -> list[int]:
    newest = packs[-32:]
    values = [0] * (4 * (32 - len(newest)))
    for p in newest:
        values += [p.sequence, p.tray, int(p.seal_ok), p.seal_temp_deci_c]
    return values


def drain(tracker: PackResultTracker) -> list[PackEvent]:
    out = []
    while True:
        try:
            out.append(tracker.get_nowait())
        except asyncio.QueueEmpty:
            return out


def deliver(tracker: PackResultTracker, p: PackResult, truth: list[PackResult]) -> None:
    plan = tracker.plan(ME, p)
    if plan == "fill":
        tracker.fill(ME, recent(truth), p.sequence - 1)
    if plan != "ignore":
        tracker.accept(ME, p)


def seqs(events: list[PackEvent]) -> list[str]:
    return [f"{type(e).__name__}:{getattr(e, 'sequence', getattr(e, 'last_sequence', ''))}"
            for e in events]


def fresh(last: int | None = None) -> PackResultTracker:
    tracker = PackResultTracker(start_time=T0 if last is not None else None, last_sequence=last)
    tracker.attach(ME)
    return tracker


def test_first_connect_takes_a_baseline_and_reports_what_follows() -> None:
    tracker = fresh()
    truth = [pack(i) for i in range(1, 6)]
    tracker.connected(ME, T0, recent(truth)[-4:], recent(truth))
    assert drain(tracker) == [] and tracker.last_sequence == 5 and tracker.start_time == T0
    deliver(tracker, truth[-1], truth)  # the subscription's first value: a duplicate
    truth.append(pack(6, ok=False))
    deliver(tracker, truth[-1], truth)
    assert drain(tracker) == [pack(6, ok=False)]


def test_gap_is_filled_from_recent_and_the_rest_reported_missing() -> None:
    tracker = fresh(last=2)
    truth = [pack(i) for i in range(1, 41)]
    deliver(tracker, truth[39], truth)  # 3..39 missed by the subscription
    events = drain(tracker)
    assert seqs(events) == [f"MissingPack:{s}" for s in range(3, 9)] + \
        [f"PackResult:{s}" for s in range(9, 41)]
    assert all(e.backfilled for e in events[6:-1] if isinstance(e, PackResult))
    assert not events[-1].backfilled  # type: ignore[union-attr]
    assert events[6] == truth[8]
    # a missing SEQUENCE that turns up later is not reported twice
    assert tracker.plan(ME, truth[3]) == "ignore"


def test_zeroed_last_pack_is_a_reset_and_sequence_starts_again() -> None:
    tracker = fresh(last=7)
    assert tracker.plan(ME, decode_pack(ZERO4)) == "ignore"
    truth = [pack(1, tray=50)]
    deliver(tracker, truth[0], truth)
    assert drain(tracker) == [PackerReset(7), truth[0]]


def test_missed_reset_is_seen_from_a_contradicting_sequence() -> None:
    tracker = fresh(last=0)
    old = [pack(i) for i in range(1, 4)]
    for p in old:
        deliver(tracker, p, old)
    drain(tracker)
    new = [pack(1, tray=900), pack(2, tray=901)]  # Reset, then 2 packs; zero notification lost
    deliver(tracker, new[1], new)
    assert seqs(drain(tracker)) == ["PackerReset:3", "PackResult:1", "PackResult:2"]


def test_reconnect_backfills_and_detects_reset_or_restart_while_away() -> None:
    tracker = fresh(last=0)
    run = [pack(i) for i in range(1, 4)]
    for p in run:
        deliver(tracker, p, run)
    drain(tracker)
    run += [pack(4), pack(5)]
    tracker.connected(ME, T0, recent(run)[-4:], recent(run))
    assert seqs(drain(tracker)) == ["PackResult:4", "PackResult:5"]
    reset = [pack(1, tray=700)]  # Reset and one pack while away
    tracker.connected(ME, T0, recent(reset)[-4:], recent(reset))
    assert seqs(drain(tracker)) == ["PackerReset:5", "PackResult:1"]
    again = [pack(i, tray=800 + i) for i in range(1, 5)]  # Reset again, more packs than before
    tracker.connected(ME, T0, recent(again)[-4:], recent(again))
    assert seqs(drain(tracker)) == ["PackerReset:1"] + [f"PackResult:{s}" for s in range(1, 5)]
    after_restart = [pack(1, tray=5)]
    tracker.connected(ME, T1, recent(after_restart)[-4:], recent(after_restart))
    events = drain(tracker)
    assert events[0] == PackerRestarted(4, T0, T1) and events[1:] == after_restart
    assert tracker.start_time == T1 and tracker.last_sequence == 1


def test_only_the_attached_client_feeds_the_tracker() -> None:
    tracker = fresh(last=0)
    other = object()
    tracker.attach(other)
    tracker.accept(ME, pack(1))
    tracker.connected(ME, T1, ZERO4, [0] * 128)
    assert tracker.plan(ME, pack(1)) == "ignore" and drain(tracker) == []
    tracker.detach(ME)  # not the owner: no effect
    assert tracker.owned_by(other)


def test_decoding() -> None:
    assert decode_pack([3, 12, 2, 1750]) == PackResult(3, 12, False, 1750)  # odd SEAL_OK: bad
    assert decode_pack(ZERO4) is None
    with pytest.raises(ProtocolError, match="3 values"):
        decode_pack([1, 2, 3])
    with pytest.raises(ProtocolError, match="SEQUENCE 0"):
        decode_pack([0, 5, 1, 1800])
    with pytest.raises(ProtocolError, match="twice"):
        decode_recent([0] * 120 + [1, 1, 1, 1] + [1, 2, 1, 1])
    with pytest.raises(ProtocolError, match="expected 128"):
        decode_recent([0] * 4)
    assert list(decode_recent(recent([pack(1), pack(2)]))) == [1, 2]


@settings(max_examples=150, deadline=None)
@given(data=st.data(), n=st.integers(1, 90))
def test_every_sequence_accounted_for_in_order(data: st.DataObject, n: int) -> None:
    """Whatever subset of notifications arrives, and however late, each SEQUENCE 1..n is
    reported once, in order: its true result, or MissingPack only if Recent had lost it."""
    truth = [pack(i, tray=(7 * i) % 999 + 1, ok=i % 5 != 0, temp=1700 + i) for i in range(1, n + 1)]
    delivered = sorted(set(data.draw(st.lists(st.integers(1, n), max_size=n))) | {n})
    tracker = fresh(last=0)
    expected: list[PackEvent] = []
    made = 0
    previous = 0
    for k in delivered:
        made = data.draw(st.integers(max(made, k), min(n, k + 40)))
        for _ in range(data.draw(st.integers(0, 1))):  # a duplicate of the previous value
            if previous:
                deliver(tracker, truth[previous - 1], truth[:made])
        deliver(tracker, truth[k - 1], truth[:made])
        window = range(made - 31, made + 1)
        expected += [truth[s - 1] if s in window else MissingPack(s) for s in range(previous + 1, k)]
        expected.append(truth[k - 1])
        previous = k
    events = drain(tracker)
    assert events == expected
    assert [e.sequence for e in events if isinstance(e, PackResult | MissingPack)] == list(
        range(1, n + 1))
    assert tracker.last_sequence == n
