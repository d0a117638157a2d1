"""Demo orders (grammar of orders.md) and the demo scenario (every reason, repeatable)."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plateline.contract import PROVINCES, Reason
from plateline.simulators.demo_data import (
    ORDERS_FILE,
    UPDATE_FILE,
    generate_demo_orders,
    load_demo_orders,
    make_demo_scenario,
    orders_csv,
    superseded_rows,
)
from plateline.simulators.orderfile import merge_orders, read_order_file
from plateline.simulators.plates import PLATE_PATTERNS, make_plate, near_miss, plate_ok
from plateline.simulators.scenario import derive_expected
from plateline.simulators.truth import predict

ALL_REASONS = {"NONE", "NOREAD", "UNKNOWN_ORDER", "DUPLICATE_ORDER", "PLATE_MISMATCH",
               "PLATE_COUNT", "PLATE_TYPE", "VISION_FAULT", "NO_VERDICT", "TRACKING_ERROR",
               "ORDER_CANCELLED"}


def test_bundled_files_are_the_generated_ones():
    orders, update = generate_demo_orders()
    assert ORDERS_FILE.read_text(encoding="utf-8") == orders_csv(orders)
    assert UPDATE_FILE.read_text(encoding="utf-8") == orders_csv(update)


def test_bundled_files_follow_the_grammar():
    orders = read_order_file(ORDERS_FILE)  # refuses the whole file on any bad row
    update = read_order_file(UPDATE_FILE)
    assert len(orders) == 600 and len({o.order_id for o in orders}) == 600
    assert len({o.waybill_no for o in orders}) == 600
    plates = [o.plate_no for o in orders if o.plate_no]
    assert len(set(plates)) == len(plates)
    kinds = Counter((o.product, o.plate_type) for o in orders)
    for kind in [("plate-pair", "blue"), ("plate-pair", "green"), ("plate-pair", "yellow"),
                 ("plate-pair", "yellow_green"), ("plate-single", "yellow"),
                 ("plate-single", "white"), ("plate-single", "black"),
                 ("ebike-plate", "ebike"), ("licence-doc", "")]:
        assert kinds[kind] >= 10, kind
    suffixes = {o.plate_no[-1] for o in orders if o.plate_no}
    assert set("挂学警港澳领使") <= suffixes
    assert all(re.fullmatch(r"[A-Z0-9-]{6,32}", o.order_id) for o in orders)
    assert Counter(o.status for o in update) == {"cancelled": 6, "open": 2}
    book = merge_orders([orders, update])
    assert sum(o.status == "cancelled" for o in book.values()) == 6
    assert len(superseded_rows()) == 1


def test_ebike_rule_of_the_reference_site():
    assert PLATE_PATTERNS["ebike"].fullmatch("粤A123456")
    assert not PLATE_PATTERNS["ebike"].fullmatch("粤A12345")
    assert not plate_ok("粤A1234警", "blue") and plate_ok("粤A1234警", "white")
    assert plate_ok("粤AD12345", "green") and not plate_ok("粤AI12345", "green")
    assert plate_ok("粤A12345D", "yellow_green") and not plate_ok("粤A1234I", "blue")


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32), ptype=st.sampled_from(sorted(PLATE_PATTERNS)))
def test_generated_plates_follow_their_grammar(seed, ptype):
    text = make_plate(random.Random(seed), ptype)
    assert plate_ok(text, ptype)
    assert text[0] in PROVINCES
    assert "I" not in text[2:] and "O" not in text[2:]


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32),
       kind=st.sampled_from(["8/B", "0/D", "1/7", "2/Z", "5/S", "6/G", "province"]))
def test_near_miss_changes_one_look_alike(seed, kind):
    text = make_plate(random.Random(seed), "blue")
    wrong = near_miss(text, kind)
    if wrong is None:
        assert kind != "province" and not set(kind.split("/")) & set(text[2:])
        return
    diffs = [(a, b) for a, b in zip(text, wrong) if a != b]
    assert len(wrong) == len(text) and len(diffs) == 1
    if kind == "province":
        assert diffs[0][0] in PROVINCES and diffs[0][1] in PROVINCES
    else:
        assert set(diffs[0]) == set(kind.split("/"))


@pytest.mark.parametrize("n", [30, 60, 300])
def test_demo_scenario_covers_every_reason(n):
    s = make_demo_scenario(n_trays=n, seed=7)
    assert len(s.trays) == n
    pred = predict(s)
    assert all(p.certain for p in pred.values())
    reasons = Counter(p.reason.name for p in pred.values())
    assert set(reasons) == ALL_REASONS
    assert {p.outcome for p in pred.values()} == {"outfeed", "reject_bin", "lost"}
    kinds = {f.kind for f in s.faults}
    assert kinds == {"estop", "jam", "plc_restart", "drop_connection", "camera_timeout",
                     "camera_corrupt", "remove_tray", "verdict_stall"}
    # The explicit expectations agree with what the order files say.
    assert [t.expect for t in s.trays] == derive_expected(s, load_demo_orders())
    if n >= 60:
        notes = " ".join(t.note for t in s.trays)
        for kind in ["8/B", "0/D", "1/7", "2/Z", "5/S", "6/G", "province"]:
            assert f"near miss {kind}" in notes
        assert reasons["NONE"] > n / 2


def test_demo_scenario_is_repeatable_and_seeded():
    assert make_demo_scenario(n_trays=40, seed=3) == make_demo_scenario(n_trays=40, seed=3)
    assert make_demo_scenario(n_trays=40, seed=3) != make_demo_scenario(n_trays=40, seed=4)


def test_orders_are_reused_only_on_purpose():
    s = make_demo_scenario(n_trays=200, seed=2)
    uses = Counter(t.ticket for t in s.trays if t.ticket)
    repeated = {oid for oid, k in uses.items() if k > 1}
    repeat_notes = [t.note for t in s.trays if t.ticket in repeated]
    assert len(repeated) == 4  # duplicate on the line, already packed, re-run, corrected
    assert all(note for note in repeat_notes)


def test_faults_that_stop_things_happen_on_an_empty_belt():
    s = make_demo_scenario(n_trays=100, seed=5)
    for f in s.faults:
        if f.kind not in ("estop", "jam", "drop_connection"):
            continue
        at = s.entry_mm(f.tray) + f.at_mm
        on_belt = [n for n in range(1, 101) if s.entry_mm(n) <= at < s.entry_mm(n) + 4000]
        assert on_belt == [], f
        if f.kind == "drop_connection":
            next_entry = min(s.entry_mm(n) for n in range(1, 101) if s.entry_mm(n) > at)
            assert next_entry - at > 1.3 * 6000  # heartbeat hold at x20 comes first


def test_thousand_trays_with_more_orders():
    orders, update = generate_demo_orders(1200, seed=11)
    book = merge_orders([orders, update])
    s = make_demo_scenario(book, 1000, seed=1, superseded={})
    pred = predict(s)
    assert {p.reason.name for p in pred.values()} == ALL_REASONS
    assert Counter(p.reason for p in pred.values())[Reason.NONE] > 900


def test_too_few_orders_or_trays():
    with pytest.raises(ValueError):
        make_demo_scenario(n_trays=20, seed=1)
    with pytest.raises(ValueError, match="not enough"):
        make_demo_scenario(n_trays=1000, seed=1)
