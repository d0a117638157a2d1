"""Order files without a database: formats, every rule of orders.md, all problems listed."""

from __future__ import annotations

from pathlib import Path

import pytest
from records_helpers import GOOD_ROWS, HEADER, csv_to_dicts, write_csv, write_jsonl

from plateline.errors import ConfigError, OrderImportError, RowProblem
from plateline.recipes import Recipe
from plateline.records.orders import OrderRow, parse_order_file


def parse(path: Path, recipes: dict[str, Recipe], ebike: str) -> list[OrderRow]:
    return parse_order_file(path, recipes=recipes, ebike_pattern=ebike)


def problems_of(path: Path, recipes: dict[str, Recipe], ebike: str) -> list[RowProblem]:
    with pytest.raises(OrderImportError) as info:
        parse(path, recipes, ebike)
    return info.value.problems


def test_csv_with_every_product(tmp_path: Path, recipes: dict[str, Recipe], ebike: str) -> None:
    rows = parse(write_csv(tmp_path / "o.csv", GOOD_ROWS), recipes, ebike)
    assert [r.order_id for r in rows] == [f"ORD-00000{i}" for i in range(1, 9)]
    assert [r.line for r in rows] == list(range(2, 10))
    first, doc = rows[0], rows[-1]
    assert (first.product, first.plate_no, first.plate_type, first.plate_count) == (
        "plate-pair", "粤A12345", "blue", 2)
    assert (first.recipient_name, first.recipient_phone) == ("张三丰", "13812345678")
    assert (doc.plate_no, doc.plate_type, doc.plate_count) == (None, None, 0)
    assert rows[1].status == "open"  # empty status
    assert rows[4].recipient_address == "广东省深圳市福田区, 皇岗口岸"  # quoted comma


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_csv_with_bom_and_crlf(tmp_path: Path, recipes: dict[str, Recipe], ebike: str,
                               newline: str) -> None:
    path = write_csv(tmp_path / "o.csv", GOOD_ROWS[:2], bom=True, newline=newline)
    assert path.read_bytes().startswith(b"\xef\xbb\xbforder_id")
    rows = parse(path, recipes, ebike)
    assert [(r.line, r.order_id, r.status) for r in rows] == [
        (2, "ORD-000001", "open"), (3, "ORD-000002", "open")]


def test_csv_columns_in_any_order_and_blank_lines(tmp_path: Path, recipes: dict[str, Recipe],
                                                  ebike: str) -> None:
    header = ("status,waybill_no,order_id,product,plate_no,plate_type,plate_count,"
              "recipient_name,recipient_phone,recipient_address")
    rows = ["cancelled,SF1234567890,ORD-000001,plate-pair,粤A12345,blue,2,张三,13812345678,某地",
            "", ",,,,,,,,,",
            ",SF1234567891,ORD-000002,licence-doc,,,0,李四,13912345678,某地"]
    got = parse(write_csv(tmp_path / "o.csv", rows, header=header), recipes, ebike)
    assert [(r.line, r.order_id, r.status) for r in got] == [
        (2, "ORD-000001", "cancelled"), (5, "ORD-000002", "open")]


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson", ".JSONL"])
def test_jsonl(tmp_path: Path, recipes: dict[str, Recipe], ebike: str, suffix: str) -> None:
    objs = csv_to_dicts(GOOD_ROWS)
    objs[0]["plate_count"] = 2  # a number in JSON
    del objs[1]["status"]  # status is optional
    objs[7]["plate_no"] = None  # documents: null or empty
    rows = parse(write_jsonl(tmp_path / f"o{suffix}", [*objs[:4], "", *objs[4:]]), recipes, ebike)
    assert len(rows) == 8
    assert [r.line for r in rows] == [1, 2, 3, 4, 6, 7, 8, 9]
    assert rows[0].plate_count == 2 and rows[1].status == "open"
    assert rows[7].plate_no is None


def test_unsupported_file_type(tmp_path: Path, recipes: dict[str, Recipe], ebike: str) -> None:
    path = tmp_path / "orders.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(OrderImportError, match=r"unsupported file type '\.xlsx'.*\.csv"):
        parse(path, recipes, ebike)


def test_missing_file(tmp_path: Path, recipes: dict[str, Recipe], ebike: str) -> None:
    with pytest.raises(OrderImportError, match="cannot read"):
        parse(tmp_path / "nope.csv", recipes, ebike)


def test_bad_csv_lists_every_problem(tmp_path: Path, recipes: dict[str, Recipe],
                                     ebike: str) -> None:
    rows = [
        GOOD_ROWS[0],                                                                  # 2 ok
        "ord-1,plate-pair,粤A12345,blue,2,SF1234567890,张三,13812345678,某地,open",     # 3
        "ORD-000003,plate-triple,粤A12345,blue,2,SF1234567890,张三,13812345678,某地,",  # 4
        "ORD-000004,plate-pair,粤A1234警,blue,1,SF12,张三,138,某地,done",               # 5
        "ORD-000005,plate-pair,粤A12345,white,2,SF1234567890,,13812345678,,open",      # 6
        "ORD-000006,licence-doc,粤A12345,blue,0,SF1234567890,张三,13812345678,某地,",   # 7
        "ORD-000007,plate-single,粤A12345,blue,1,SF1234567890,张三,13812345678",        # 8
        "ORD-000001,licence-doc,,,0,SF1234567890,张三,13812345678,某地,open",           # 9
        "ORD-000009,plate-pair,粤BI12345,green,2,SF1234567890,张三,13812345678,某地,",  # 10
        "ORD-000010,ebike-plate,粤A12345,ebike,3,SF1234567890,张三,1381234567X,某地,",  # 11
    ]
    problems = problems_of(write_csv(tmp_path / "bad.csv", rows), recipes, ebike)
    assert [(p.row, p.field) for p in problems] == [
        (3, "order_id"),
        (4, "product"),
        (5, "plate_count"), (5, "plate_no"), (5, "waybill_no"), (5, "recipient_phone"),
        (5, "status"),
        (6, "plate_type"), (6, "recipient_name"), (6, "recipient_address"),
        (7, "plate_no"), (7, "plate_type"),
        (8, "(row)"),
        (9, "order_id"),
        (10, "plate_no"),
        (11, "plate_count"), (11, "plate_no"), (11, "recipient_phone"),
    ]
    reasons = {(p.row, p.field): p.reason for p in problems}
    assert "6-32 characters" in reasons[(3, "order_id")]
    assert "unknown product 'plate-triple'" in reasons[(4, "product")]
    assert "has 2 plate(s), not 1" in reasons[(5, "plate_count")]
    assert "only on white" in reasons[(5, "plate_no")]
    assert "open or cancelled" in reasons[(5, "status")]
    assert "takes blue, green, yellow, yellow_green plates, not white" in reasons[(6, "plate_type")]
    assert "missing" in reasons[(6, "recipient_name")]
    assert "must be empty" in reasons[(7, "plate_no")]
    assert "8 fields where the header has 10" in reasons[(8, "(row)")]
    assert "already on row 2" in reasons[(9, "order_id")]
    assert "I and O" in reasons[(10, "plate_no")]
    assert "must be 0, 1 or 2" in reasons[(11, "plate_count")]
    assert "e-bike" in reasons[(11, "plate_no")]
    # The phone number is never echoed whole.
    assert "1381234567X" not in reasons[(11, "recipient_phone")]
    with pytest.raises(OrderImportError) as info:
        parse(tmp_path / "bad.csv", recipes, ebike)
    assert "18 problem(s) in 9 row(s)" in str(info.value)
    assert "row 10: plate_no:" in str(info.value)


def test_bad_header(tmp_path: Path, recipes: dict[str, Recipe], ebike: str) -> None:
    header = HEADER.replace("waybill_no", "waybill").replace(",status", ",status,notes,status")
    row = GOOD_ROWS[0].replace(",open", ",open,fragile,open")
    problems = problems_of(write_csv(tmp_path / "h.csv", [row], header=header), recipes, ebike)
    assert [(p.row, p.field, p.reason) for p in problems] == [
        (1, "waybill", "unknown column"),
        (1, "notes", "unknown column"),
        (1, "status", "column appears twice"),
        (1, "waybill_no", "missing column"),
    ]


def test_bad_jsonl_lists_every_problem(tmp_path: Path, recipes: dict[str, Recipe],
                                       ebike: str) -> None:
    good = csv_to_dicts(GOOD_ROWS)
    objs: list[dict[str, object] | str] = [
        good[0],
        "{not json",
        "[1, 2]",
        {**good[1], "colour": "blue"},
        {k: v for k, v in good[2].items() if k != "waybill_no"},
        {**good[3], "plate_count": True, "waybill_no": 1234567890},
        '{"order_id": "ORD-000005", "order_id": "ORD-000005"}',
    ]
    problems = problems_of(write_jsonl(tmp_path / "bad.jsonl", objs), recipes, ebike)
    got = [(p.row, p.field) for p in problems]
    assert got[:6] == [(2, "(line)"), (3, "(line)"), (4, "colour"), (5, "waybill_no"),
                       (6, "plate_count"), (6, "waybill_no")]
    assert (7, "order_id") in got and (7, "product") in got
    reasons = [p.reason for p in problems]
    assert reasons[:6] == ["not valid JSON: Expecting property name enclosed in double quotes",
                           "not a JSON object", "unknown field", "missing field",
                           "must be 0, 1 or 2", "must be a string"]
    assert RowProblem(7, "order_id", "field appears twice") in problems


def test_not_utf8_and_empty(tmp_path: Path, recipes: dict[str, Recipe], ebike: str) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes((HEADER + "\n" + GOOD_ROWS[0] + "\n").encode("gb18030"))
    [problem] = problems_of(path, recipes, ebike)
    assert (problem.row, problem.field) == (2, "(file)") and "UTF-8" in problem.reason
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"\n")
    assert problems_of(empty, recipes, ebike) == [RowProblem(1, "(file)", "the file holds no orders")]
    header_only = write_csv(tmp_path / "h.csv", [])
    assert problems_of(header_only, recipes, ebike)[0].reason == "the file holds no orders"


def test_bad_ebike_rule_is_a_config_error(tmp_path: Path, recipes: dict[str, Recipe]) -> None:
    with pytest.raises(ConfigError, match="not a valid regular expression"):
        parse(write_csv(tmp_path / "o.csv", GOOD_ROWS), recipes, "[A-Z")


def test_row_repr_masks_personal_data(tmp_path: Path, recipes: dict[str, Recipe],
                                      ebike: str) -> None:
    row = parse(write_csv(tmp_path / "o.csv", GOOD_ROWS[:1]), recipes, ebike)[0]
    text = repr(row)
    assert "张**" in text and "138****5678" in text and "广东省广州市****" in text
    assert "张三丰" not in text and "13812345678" not in text and "体育西路" not in text
