"""The demo scenario: mostly good trays, plus one of every reason this slice can produce.

Layout rules (``docs/scenario.md`` lists the expected reason of each kind):
- E-stop, jam and dropped connection happen while the belt is empty (the last
  tray before them has left at the gate, the next has not entered); the gap
  after a dropped connection is long enough for the heartbeat hold even at x20;
- the verdict stall covers the whole trip of two trays and nothing else;
- the PLC restart catches three trays on the belt, none near a window edge;
- trays that reuse an order (already packed, re-run after a reject, corrected
  order) enter at least 12 pitches after the tray they depend on;
- with the stations after the first slice (``stations``): the packer restarts just
  before a tray leaves it (no pack in flight before it, a long gap after it for the
  packer to be back in Execute), its sessions drop with the Modbus connection on an
  empty belt, and a printer fault covers exactly one tray's arrival at the labeler.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from functools import partial

from plateline.contract import Reason
from plateline.simulators.demo_data import plates_for
from plateline.simulators.layout import GATE_MM, LABELER_MM, PACKER_MM, PITCH_MM
from plateline.simulators.orderfile import SimOrder
from plateline.simulators.plates import make_plate, near_miss
from plateline.simulators.products import product_window
from plateline.simulators.scenario import FaultSpec, Scenario, TraySpec
from plateline.simulators.views import PlateOnTray

R = Reason
NEAR_MISS_KINDS = ("8/B", "0/D", "1/7", "2/Z", "5/S", "6/G", "province")
MIN_TRAYS = 30
#: Empty pitches that leave the belt empty around a fault (see the module docstring).
EMPTY_BELT_GAP = 11
DROP_GAP = 32
SEPARATION = 12
#: Empty pitches before and after the tray that catches the packer restart.
PACK_QUIET_GAP = 3
PACK_RECOVERY_GAP = 48
_AFTER_GATE_MM = GATE_MM + 200.0


def _blue_pair(o: SimOrder) -> bool:
    return o.product == "plate-pair" and o.plate_type == "blue"


def _blue_pair_with(kind: str, o: SimOrder) -> bool:
    return _blue_pair(o) and near_miss(o.plate_no, kind) is not None


class _Demo:
    def __init__(self, orders: Mapping[str, SimOrder], superseded: Mapping[str, SimOrder],
                 n_trays: int, seed: int, stations: frozenset[str] = frozenset()):
        self.rng = random.Random(seed)
        self.stations = stations
        self.orders = orders
        self.superseded = superseded
        self.pool = sorted((o for o in orders.values()
                            if o.status == "open" and o.order_id not in superseded),
                           key=lambda o: o.order_id)
        self.rng.shuffle(self.pool)
        self.near = NEAR_MISS_KINDS if n_trays >= 60 else ("8/B", "province")
        self.trays: list[TraySpec] = []
        self.faults: list[FaultSpec] = []
        self.slots: list[int] = []
        self.gap = 0
        self.rerun: tuple[str, int] | None = None
        self.corrected: tuple[str, int] | None = None

    # ---- building blocks ---------------------------------------------------------------
    def take(self, test: Callable[[SimOrder], bool] = lambda o: True) -> SimOrder:
        for i, order in enumerate(self.pool):
            if test(order):
                return self.pool.pop(i)
        raise ValueError("not enough suitable open orders for this demo scenario; "
                         "generate more with demo_data.write_demo_order_files")

    def add(self, ticket: str | None, plates: tuple[PlateOnTray, ...], expect: Reason, note: str,
            *, readable: bool = True, after: int | None = None,
            weight_g: float | None = None) -> int:
        """Append a tray; ``after``: the serial it must follow by SEPARATION pitches."""
        last = self.slots[-1] if self.slots else -1
        slot = last + 1 + self.gap
        if after is not None:
            slot = max(slot, self.slots[after - 1] + SEPARATION)
        order = self.orders.get(ticket) if ticket is not None else None
        product = order.product if order is not None else None
        self.trays.append(TraySpec(ticket, readable, plates, slot - last - 1, expect, note,
                                   product, weight_g))
        self.slots.append(slot)
        self.gap = 0
        return len(self.trays)

    def good(self, note: str = "good", expect: Reason = R.NONE, *, plates: bool = False) -> int:
        o = self.take(lambda x: x.plate_count > 0) if plates else self.take()
        return self.add(o.order_id, plates_for(o), expect, note)

    def unreadable(self, note: str) -> int:
        o = self.take()
        return self.add(o.order_id, plates_for(o), R.NOREAD, note, readable=False)

    # ---- special trays (early) -------------------------------------------------------------
    def noread(self) -> None:
        self.unreadable("ticket unreadable")

    def no_ticket(self) -> None:
        o = self.take()
        self.add(None, plates_for(o), R.NOREAD, "no job ticket")

    def unknown(self) -> None:
        n = 900000 + self.rng.randrange(99999)
        while f"ORD-2026-{n:06d}" in self.orders:
            n += 1
        plate = make_plate(self.rng, "blue")
        self.add(f"ORD-2026-{n:06d}", (PlateOnTray(plate, "blue"), PlateOnTray(plate, "blue")),
                 R.UNKNOWN_ORDER, "ticket of an order not in the files")

    def dup_at_once(self) -> None:
        o = self.take()
        self.add(o.order_id, plates_for(o), R.NONE, "good, its order comes again 2 pitches later")
        self.gap = 1
        self.add(o.order_id, plates_for(o), R.DUPLICATE_ORDER,
                 "same order as a tray still on the line")

    def other_plate(self) -> None:
        o, other = self.take(_blue_pair), self.take(_blue_pair)
        self.add(o.order_id, plates_for(o, other.plate_no), R.PLATE_MISMATCH,
                 f"plates of order {other.order_id}")

    def near_misses(self) -> None:
        for i, kind in enumerate(self.near):
            o = self.take(partial(_blue_pair_with, kind))
            wrong = near_miss(o.plate_no, kind)
            assert wrong is not None
            plates = plates_for(o, wrong)
            if i % 2:
                plates = (plates_for(o)[0], plates[1])
            self.add(o.order_id, plates, R.PLATE_MISMATCH,
                     f"near miss {kind}: {wrong}" + (" (rear plate only)" if i % 2 else ""))

    def count_missing(self) -> None:
        o = self.take(_blue_pair)
        self.rerun = (o.order_id, self.add(o.order_id, plates_for(o)[:1], R.PLATE_COUNT,
                                           "rear plate missing"))

    def count_extra(self) -> None:
        o = self.take(lambda x: x.product == "plate-single")
        self.add(o.order_id, plates_for(o) * 2, R.PLATE_COUNT, "one plate too many")

    def wrong_type(self) -> None:
        o = self.take(_blue_pair)
        self.add(o.order_id, plates_for(o, plate_type="yellow"), R.PLATE_TYPE,
                 "same number, yellow plates instead of blue")

    def camera_timeout(self) -> None:
        serial = self.good("camera times out", R.VISION_FAULT, plates=True)
        self.faults.append(FaultSpec("camera_timeout", serial))

    def camera_corrupt(self) -> None:
        serial = self.good("camera sends a corrupt frame", R.VISION_FAULT, plates=True)
        self.faults.append(FaultSpec("camera_corrupt", serial))

    def cancelled(self) -> None:
        o = next(x for x in sorted(self.orders.values(), key=lambda x: x.order_id)
                 if x.status == "cancelled")
        self.add(o.order_id, plates_for(o), R.ORDER_CANCELLED, "order cancelled by a later file")

    def corrected_old(self) -> None:
        oid = min(self.superseded)
        self.corrected = (oid, self.add(oid, plates_for(self.superseded[oid]), R.PLATE_MISMATCH,
                                        "plates of the order as it was before its correction"))

    # ---- the stations after the first slice (reasons come from the truth rules) -----------
    def bad_seal(self) -> None:
        serial = self.good("bad seal")
        self.faults.append(FaultSpec("bad_seal", serial))

    def seal_and_misprint(self) -> None:
        serial = self.good("bad seal; a misprint planned on it never shows (no label)")
        self.faults += [FaultSpec("bad_seal", serial), FaultSpec("misprint", serial)]

    def pack_restart(self) -> None:
        self.gap = max(self.gap, PACK_QUIET_GAP)
        serial = self.good("the packer restarts as it leaves the packer: its seal result is lost")
        self.faults.append(FaultSpec("packer_restart", serial, at_mm=PACKER_MM - 5.0,
                                     duration_s=0.5))
        self.gap = PACK_RECOVERY_GAP

    def light(self) -> None:
        o = self.take(lambda x: x.product == "plate-pair")
        weight = product_window(o.product).min_g - 18.0
        self.add(o.order_id, plates_for(o), R.NONE, f"light pack ({weight:g} g)",
                 weight_g=weight)

    def heavy(self) -> None:
        o = self.take(lambda x: x.product == "licence-doc")
        weight = product_window(o.product).max_g + 24.0
        self.add(o.order_id, plates_for(o), R.NONE, f"heavy pack: two envelopes ({weight:g} g)",
                 weight_g=weight)

    def light_and_bad_seal(self) -> None:
        o = self.take(lambda x: x.product == "plate-pair")
        weight = product_window(o.product).min_g - 30.0
        serial = self.add(o.order_id, plates_for(o), R.NONE,
                          f"bad seal and a light pack ({weight:g} g): the seal comes first",
                          weight_g=weight)
        self.faults.append(FaultSpec("bad_seal", serial))

    def scale_fault(self, kind: str) -> None:
        serial = self.good(f"scale {kind} while it rests on the platform")
        self.faults.append(FaultSpec(f"scale_{kind}", serial))

    def printer_fault(self, kind: str) -> None:
        serial = self.good(f"printer {kind.replace('_', ' ')} as it reaches the labeler")
        self.faults.append(FaultSpec(f"printer_{kind}", serial, at_mm=LABELER_MM - 100.0,
                                     length_mm=300.0))

    def misprint(self) -> None:
        serial = self.good("label misprinted (smudged barcode)")
        self.faults.append(FaultSpec("misprint", serial))

    def operator_reject(self) -> None:
        serial = self.good("rejected by the operator at 1800 mm")
        self.faults.append(FaultSpec("operator_reject", serial, at_mm=1800.0))

    def station_steps(self) -> list[tuple[Callable[[], None], int]]:
        """Steps of the stations in ``stations`` (none for the first slice alone)."""
        st, more = self.stations, len(self.near) > 2
        steps: list[tuple[Callable[[], None], int]] = []
        if "PACK" in st:
            steps += [(self.pack_restart, 1), (self.bad_seal, 1)]
        if "W1" in st:
            steps += [(self.light, 1), (partial(self.scale_fault, "silent"), 1)]
            if more:
                steps += [(self.heavy, 1), (partial(self.scale_fault, "busy"), 1),
                          (partial(self.scale_fault, "overload"), 1)]
            if more and "PACK" in st:
                steps.append((self.light_and_bad_seal, 1))
        if "P1" in st:
            steps.append((partial(self.printer_fault, "paper_out"), 1))
            if more:
                steps += [(partial(self.printer_fault, "head_open"), 1),
                          (partial(self.printer_fault, "paused"), 1)]
            if "S2" in st:
                steps.append((self.misprint, 1))
                if more and "PACK" in st:
                    steps.append((self.seal_and_misprint, 1))
        if st:
            steps.append((self.operator_reject, 1))
        return steps

    # ---- faults -----------------------------------------------------------------------------
    def removed(self) -> None:
        serial = self.good("removed by hand at 1800 mm")
        self.faults.append(FaultSpec("remove_tray", serial, at_mm=1800.0))

    def _empty_belt(self, kind: str, gap: int, duration_s: float) -> None:
        self.faults.append(FaultSpec(kind, len(self.trays), at_mm=_AFTER_GATE_MM,
                                     duration_s=duration_s))
        self.gap = max(self.gap, gap)

    def estop(self) -> None:
        self._empty_belt("estop", EMPTY_BELT_GAP, 0.4)

    def jam(self) -> None:
        self._empty_belt("jam", EMPTY_BELT_GAP, 0.4)

    def drop(self) -> None:
        self._empty_belt("drop_connection", DROP_GAP, 0.5)
        if "PACK" in self.stations:
            self.faults.append(FaultSpec("packer_drop_session", len(self.trays),
                                         at_mm=_AFTER_GATE_MM))

    def stall(self) -> None:
        self.gap = max(self.gap, EMPTY_BELT_GAP)
        first = self.good("verdict stall: reaches the gate without a verdict")
        self.unreadable("verdict stall, ticket unreadable")
        # From before the first enters until the second has passed the gate.
        self.faults.append(FaultSpec("verdict_stall", first, at_mm=-200.0,
                                     length_mm=GATE_MM + PITCH_MM + 400.0))
        self.gap = 3

    def restart(self) -> None:
        self.gap = max(self.gap, 5)
        first = self.good("on the belt at the PLC restart (3500 mm)")
        self.unreadable("on the belt at the PLC restart (3100 mm), ticket unreadable")
        self.good("on the belt at the PLC restart (2700 mm)")
        self.faults.append(FaultSpec("plc_restart", first, at_mm=3500.0, duration_s=1.0))
        self.gap = 8

    # ---- trays that depend on earlier ones -------------------------------------------------
    def dup_packed(self) -> None:
        first = self.trays[0]
        self.add(first.ticket, first.plates, R.DUPLICATE_ORDER, "order already packed on tray 1",
                 after=1)

    def rerun_after_reject(self) -> None:
        assert self.rerun is not None
        oid, serial = self.rerun
        self.add(oid, plates_for(self.orders[oid]), R.NONE,
                 f"order re-run after tray {serial} was rejected", after=serial)

    def corrected_new(self) -> None:
        assert self.corrected is not None
        oid, serial = self.corrected
        self.add(oid, plates_for(self.orders[oid]), R.NONE,
                 "corrected order with the right plates", after=serial)

    # ---- plan -------------------------------------------------------------------------------
    def plan(self) -> list[tuple[Callable[[], None], int]]:
        """Steps in order, with the number of trays each adds."""
        plan = [(self.noread, 1), (self.unknown, 1), (self.dup_at_once, 2), (self.other_plate, 1),
                (self.count_missing, 1), (self.removed, 1), (self.near_misses, len(self.near)),
                (self.count_extra, 1), (self.wrong_type, 1), (self.camera_timeout, 1),
                (self.camera_corrupt, 1), (self.cancelled, 1), *self.station_steps(),
                (self.estop, 0), (self.stall, 2)]
        if len(self.near) > 2:
            plan.append((self.no_ticket, 1))
        if self.superseded:
            plan.append((self.corrected_old, 1))
        plan += [(self.jam, 0), (self.dup_packed, 1), (self.drop, 0), (self.restart, 3),
                 (self.rerun_after_reject, 1)]
        if self.superseded:
            plan.append((self.corrected_new, 1))
        return plan


def build_demo_scenario(orders: Mapping[str, SimOrder], n_trays: int, seed: int, *,
                        superseded: Mapping[str, SimOrder],
                        stations: Iterable[str] = ()) -> Scenario:
    """``n_trays`` trays (at least 30; 35 with every station) over ``orders``;
    deterministic for a seed.

    ``superseded``: rows of an earlier order file that a later one corrected (the
    plates made before the correction); without it the correction trays are left out.
    ``stations``: devices the line runs; only PACK, W1, P1 and S2 matter.
    """
    if n_trays < MIN_TRAYS:
        raise ValueError(f"the demo scenario needs at least {MIN_TRAYS} trays")
    wanted = frozenset(d.upper() for d in stations) & {"PACK", "W1", "P1", "S2"}
    demo = _Demo(orders, superseded, n_trays, seed, wanted)
    plan = demo.plan()
    fillers = n_trays - 2 - sum(n for _, n in plan)
    if fillers < 0:
        raise ValueError(f"{n_trays} trays are too few for this demo")
    demo.good("good (its order comes again later: already packed)")
    demo.good()
    buckets = len(plan) + 1  # good trays before each step, and after the last
    for i, (step, _) in enumerate(plan):
        for _ in range(fillers * (i + 1) // buckets - fillers * i // buckets):
            demo.good()
        step()
    while len(demo.trays) < n_trays:
        demo.good()
    return Scenario(trays=tuple(demo.trays), faults=tuple(demo.faults),
                    name=f"demo-{n_trays}-{seed}", seed=seed)
