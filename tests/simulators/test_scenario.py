"""Scenario files: loading (JSON, TOML), validation, derived expectations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plateline.contract import Reason
from plateline.errors import ConfigError
from plateline.simulators.orderfile import SimOrder, orders_csv
from plateline.simulators.scenario import (
    FaultSpec,
    Scenario,
    TraySpec,
    derive_expected,
    load_scenario,
    save_scenario,
    scenario_from_dict,
)
from plateline.simulators.views import PlateOnTray

TOML = """
format = "plateline-scenario/1"
name = "small"
seed = 4
orders = ["orders.csv"]

[[trays]]
ticket = "ORD-000001"
plates = [{text = "粤A12345", type = "blue"}, {text = "粤A12345", type = "blue"}]

[[trays]]
ticket = "ORD-000001"
gap_before = 1
plates = [{text = "粤A12345", type = "blue"}, {text = "粤A12345", type = "blue"}]

[[trays]]
ticket = "ORD-000002"
readable = false
gap_before = 12

[[trays]]
ticket = "ORD-000003"
plates = [{text = "粤B1234挂", type = "yellow", rows = 2}]
note = "trailer"

[[trays]]
ticket = "ORD-000003"
gap_before = 12
plates = [{text = "粤B1234挂", type = "yellow", rows = 2}]

[[faults]]
kind = "estop"
tray = 1
at_mm = 1800
duration_s = 0.3

[[faults]]
kind = "camera_timeout"
tray = 4
"""


def order(oid: str, plate: str, ptype: str = "blue", product: str = "plate-pair",
          count: int = 2) -> SimOrder:
    return SimOrder(oid, product, plate, ptype, count, "SF1234567890", "张三", "13800000000",
                    "北京市朝阳区人民路1号")


def write_orders(tmp: Path) -> None:
    rows = [order("ORD-000001", "粤A12345"), order("ORD-000002", "粤A22222"),
            order("ORD-000003", "粤B1234挂", "yellow", "plate-single", 1)]
    (tmp / "orders.csv").write_text(orders_csv(rows), encoding="utf-8")


def test_load_toml_derives_expectations(tmp_path):
    write_orders(tmp_path)
    path = tmp_path / "s.toml"
    path.write_text(TOML, encoding="utf-8")
    s = load_scenario(path)
    assert s.name == "small" and s.seed == 4 and len(s.trays) == 5
    assert [t.expect for t in s.trays] == [Reason.NONE, Reason.DUPLICATE_ORDER, Reason.NOREAD,
                                           Reason.VISION_FAULT, Reason.NONE]
    assert s.trays[3].plates == (PlateOnTray("粤B1234挂", "yellow", 2),)
    assert s.faults[0] == FaultSpec("estop", 1, at_mm=1800.0, duration_s=0.3)
    assert s.camera_fault(4) == "timeout" and s.camera_fault(1) == "none"
    # Entry positions: pitch 400 mm, empty pitches counted.
    assert [s.entry_mm(n) for n in range(1, 6)] == [400.0, 1200.0, 6400.0, 6800.0, 12000.0]


def test_json_round_trip(tmp_path):
    write_orders(tmp_path)
    src = tmp_path / "s.toml"
    src.write_text(TOML, encoding="utf-8")
    s = load_scenario(src)
    out = tmp_path / "s.json"
    save_scenario(s, out)
    again = load_scenario(out)
    assert again == s
    assert json.loads(out.read_text(encoding="utf-8"))["trays"][3]["note"] == "trailer"


@pytest.mark.parametrize("bad", [
    {"trays": []},
    {"trays": [{"ticket": "A", "plates": [{"text": "粤A12345", "type": "purple"}]}]},
    {"trays": [{"ticket": "A", "plates": [{"text": "粤A12345", "type": "blue", "rows": 3}]}]},
    {"trays": [{"ticket": "A", "colour": "red"}]},
    {"trays": [{"ticket": "A", "expect": "MAYBE"}]},
    {"trays": [{"ticket": "A", "gap_before": -1}]},
    {"trays": [{"ticket": "A"}], "faults": [{"kind": "meteor", "tray": 1, "at_mm": 1}]},
    {"trays": [{"ticket": "A"}], "faults": [{"kind": "estop", "tray": 2, "at_mm": 1}]},
    {"trays": [{"ticket": "A"}], "faults": [{"kind": "estop", "tray": 1}]},
    {"trays": [{"ticket": "A"}], "faults": [{"kind": "verdict_stall", "tray": 1, "at_mm": 0}]},
    {"format": "other/2", "trays": [{"ticket": "A"}]},
])
def test_bad_scenarios_are_refused(bad):
    with pytest.raises(ConfigError):
        scenario_from_dict(bad)


def test_unreadable_file_is_a_config_error(tmp_path):
    (tmp_path / "x.json").write_text("{nope", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_scenario(tmp_path / "x.json")
    with pytest.raises(ConfigError):
        load_scenario(tmp_path / "missing.json")


def test_missing_expectation_is_reported():
    s = Scenario(trays=(TraySpec("A"),))
    with pytest.raises(ConfigError):
        s.expected(1)


def test_derive_each_check():
    orders = {o.order_id: o for o in [
        order("ORD-1", "粤A11111"), order("ORD-2", "粤A22222"),
        order("ORD-3", "粤A33333").cancelled(), order("ORD-4", "粤A44444"),
        SimOrder("ORD-5", "licence-doc", "", "", 0, "SF1234567890", "李四", "1", "x"),
    ]}
    pair = lambda text, t="blue": (PlateOnTray(text, t), PlateOnTray(text, t))
    trays = (
        TraySpec("ORD-1", True, pair("粤A11111")),                       # NONE
        TraySpec(None, True, pair("粤A22222")),                          # NOREAD
        TraySpec("ORD-9", True, pair("粤A22222")),                       # UNKNOWN_ORDER
        TraySpec("ORD-3", True, pair("粤A33333")),                       # ORDER_CANCELLED
        TraySpec("ORD-2", True, pair("粤A22222")[:1]),                   # PLATE_COUNT
        TraySpec("ORD-4", True, pair("粤A44445")),                       # PLATE_MISMATCH
        TraySpec("ORD-4", True, pair("粤A44444", "green"), gap_before=12),  # PLATE_TYPE
        TraySpec("ORD-1", True, pair("粤A11111"), gap_before=12),        # DUPLICATE (packed)
        TraySpec("ORD-4", True, pair("粤A44444"), gap_before=12),        # NONE: re-run
        TraySpec("ORD-5", True, ()),                                     # NONE: document
        TraySpec("ORD-2", True, pair("粤A22222"), gap_before=12),        # VISION_FAULT
    )
    s = Scenario(trays=trays, faults=(FaultSpec("camera_corrupt", 11),))
    R = Reason
    assert derive_expected(s, orders) == [
        R.NONE, R.NOREAD, R.UNKNOWN_ORDER, R.ORDER_CANCELLED, R.PLATE_COUNT, R.PLATE_MISMATCH,
        R.PLATE_TYPE, R.DUPLICATE_ORDER, R.NONE, R.NONE, R.VISION_FAULT]
