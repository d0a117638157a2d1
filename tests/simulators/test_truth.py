"""Truth rules, the truth file, and compare() against records."""

from __future__ import annotations

import copy

import pytest

from plateline.contract import Reason
from plateline.simulators.scenario import Scenario, TraySpec
from plateline.simulators.truth import (
    Mismatch,
    TruthRecorder,
    compare,
    final_expectation,
    read_truth,
)

R = Reason


@pytest.mark.parametrize("reason,outcome,lost_at,taken,want", [
    (R.NONE, "outfeed", None, True, (R.NONE, "outfeed")),
    (R.PLATE_TYPE, "reject_bin", None, True, (R.PLATE_TYPE, "reject_bin")),
    (R.NONE, "reject_bin", None, False, (R.NO_VERDICT, "reject_bin")),
    (R.NOREAD, "reject_bin", None, False, (R.NOREAD, "reject_bin")),
    (R.NONE, "lost", 3000.0, False, (R.TRACKING_ERROR, "lost")),
    (R.NOREAD, "lost", 100.0, False, (R.TRACKING_ERROR, "lost")),   # scan window still open
    (R.NOREAD, "lost", 150.0, False, (R.NOREAD, "lost")),
    (R.DUPLICATE_ORDER, "lost", 700.0, True, (R.DUPLICATE_ORDER, "lost")),
    (R.PLATE_MISMATCH, "lost", 700.0, True, (R.TRACKING_ERROR, "lost")),  # camera window open
    (R.PLATE_MISMATCH, "lost", 750.0, True, (R.PLATE_MISMATCH, "lost")),
    (R.VISION_FAULT, "lost", 1800.0, True, (R.VISION_FAULT, "lost")),
])
def test_final_expectation(reason, outcome, lost_at, taken, want):
    assert final_expectation(reason, outcome, lost_at, taken) == want


class Ev:
    def __init__(self, number):
        self.number = number


def recorded(tmp_path):
    s = Scenario(trays=(TraySpec("ORD-A", True, (), expect=R.NONE),
                        TraySpec("ORD-B", False, (), expect=R.NOREAD),
                        TraySpec("ORD-C", True, (), expect=R.NONE),
                        TraySpec("ORD-D", True, (), expect=R.PLATE_COUNT)))
    truth = TruthRecorder(s, tmp_path / "truth.jsonl")
    truth.open()
    for serial, seq in [(1, 0), (2, 1), (3, 3), (4, 5)]:
        truth.entered(serial, serial, 1, Ev(seq))
    truth.closed(1, "outfeed", (1, 0))
    truth.closed(2, "reject_bin", None)
    truth.closed(4, "lost", None, "plc_restart", 900.0)
    truth.closed(3, "reject_bin", None)
    truth.close()
    return truth


def records():
    return [
        {"item_id": 1, "tray": 1, "plc_boot": 1, "enter_seq": 0, "order_id": "ORD-A",
         "verdict": "pass", "reason": "NONE", "outcome": "outfeed"},
        {"item_id": 2, "tray": 2, "plc_boot": 1, "enter_seq": 1, "order_id": None,
         "verdict": "reject", "reason": "NOREAD", "outcome": "reject_bin"},
        {"item_id": 3, "tray": 3, "plc_boot": 1, "enter_seq": 3, "order_id": "ORD-C",
         "verdict": "pass", "reason": "NO_VERDICT", "outcome": "reject_bin"},
        {"item_id": 4, "tray": 4, "plc_boot": 1, "enter_seq": 5, "order_id": "ORD-D",
         "verdict": "reject", "reason": "PLATE_COUNT", "outcome": "lost"},
    ]


def test_truth_rows_and_file(tmp_path):
    truth = recorded(tmp_path)
    rows = truth.rows()
    assert [r["serial"] for r in rows] == [1, 2, 3, 4]
    assert read_truth(tmp_path / "truth.jsonl") == [rows[0], rows[1], rows[3], rows[2]]  # closing order
    assert rows[1]["order_id"] is None and rows[1]["reason"] == "NOREAD"
    assert rows[2]["reason"] == "NO_VERDICT" and rows[2]["verdict"] == "reject"
    assert rows[3]["reason"] == "PLATE_COUNT" and rows[3]["expected_outcome"] == "lost"
    assert rows[0]["plc_verdict"] == {"verdict": "pass", "reason": "NONE"}


def test_compare_matching_records_is_clean(tmp_path):
    assert compare(recorded(tmp_path).rows(), records()) == []


def test_compare_by_entry_order_without_keys(tmp_path):
    recs = records()
    for r in recs:
        del r["plc_boot"], r["enter_seq"]
        r["entered_at"] = f"2026-01-01T00:00:0{r['item_id']}+00:00"
    assert compare(recorded(tmp_path).rows(), list(reversed(recs))) == []


def test_compare_finds_each_difference(tmp_path):
    rows = recorded(tmp_path).rows()
    recs = records()
    recs[0]["reason"] = "PLATE_TYPE"
    recs[0]["verdict"] = "reject"
    recs[1]["order_id"] = "ORD-B"
    recs[2]["outcome"] = "outfeed"
    del recs[3]
    recs.append({"item_id": 9, "tray": 7, "plc_boot": 1, "enter_seq": 9, "order_id": "X",
                 "verdict": "pass", "reason": "NONE", "outcome": "outfeed"})
    found = {(m.serial, m.field) for m in compare(rows, recs)}
    assert found == {(1, "reason"), (1, "verdict"), (2, "order_id"), (3, "outcome"),
                     (4, "record"), (None, "record")}
    assert "expected" in str(Mismatch(1, 1, "reason", "NONE", "NOREAD"))


def test_compare_flags_a_wrong_divert(tmp_path):
    rows = copy.deepcopy(recorded(tmp_path).rows())
    rows[1]["outcome"] = "outfeed"  # the PLC shipped a NOREAD tray
    recs = records()
    recs[1]["outcome"] = "outfeed"
    fields = {m.field for m in compare(rows, recs)}
    assert fields == {"plc_outcome", "outcome"}
