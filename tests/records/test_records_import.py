"""Order import into the database: all or nothing, idempotent, cancellation, correction, frozen."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from records_helpers import GOOD_ROWS, csv_to_dicts, snapshot, write_csv, write_jsonl
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from plateline.errors import OrderImportError, RowProblem
from plateline.recipes import Recipe
from plateline.records.models import ImportBatch, OperatorAction, Order
from plateline.records.orders import FROZEN, ImportReport, import_orders

Importer = Callable[..., ImportReport]


@pytest.fixture
def do_import(session: Session, recipes: dict[str, Recipe], ebike: str) -> Importer:
    def run(path: Path, *, user: str = "system", line_id: str | None = None) -> ImportReport:
        return import_orders(session, path, recipes=recipes, ebike_pattern=ebike, user=user,
                             line_id=line_id)
    return run


def order(engine: Engine, order_id: str) -> Order:
    with Session(engine) as s:
        found = s.get(Order, order_id)
        assert found is not None
        return found


def freeze(engine: Engine, *order_ids: str) -> None:
    with Session(engine) as s, s.begin():
        s.execute(update(Order).where(Order.order_id.in_(order_ids)).values(frozen=True))


def test_csv_import(tmp_path: Path, engine: Engine, session: Session, do_import: Importer) -> None:
    path = write_csv(tmp_path / "day1.csv", GOOD_ROWS, bom=True)
    report = do_import(path, user="anna", line_id="L1")
    assert report == ImportReport(str(path), 8, 8, 0, 0, 0, False)
    first = order(engine, "ORD-000001")
    assert (first.product, first.plate_no, first.plate_type, first.plate_count, first.waybill_no,
            first.recipient_name, first.status, first.frozen) == (
        "plate-pair", "粤A12345", "blue", 2, "SF1234567890", "张三丰", "open", False)
    doc = order(engine, "ORD-000008")
    assert (doc.plate_no, doc.plate_type, doc.plate_count) == (None, None, 0)
    with Session(engine) as s:
        [batch] = s.scalars(select(ImportBatch)).all()
        assert (batch.rows, batch.created, len(batch.sha256)) == (8, 8, 64)
        assert first.batch_id == batch.id
        [action] = s.scalars(select(OperatorAction)).all()
        assert (action.action, action.user, action.line_id) == ("import_orders", "anna", "L1")
        assert action.detail["created"] == 8 and action.detail["already_imported"] is False
        assert action.detail["sha256"] == batch.sha256


def test_jsonl_import(tmp_path: Path, engine: Engine, do_import: Importer) -> None:
    report = do_import(write_jsonl(tmp_path / "o.ndjson", csv_to_dicts(GOOD_ROWS[:3])))
    assert (report.rows, report.created) == (3, 3)
    assert order(engine, "ORD-000003").plate_no == "京A12345D"


def test_same_file_again_changes_nothing(tmp_path: Path, engine: Engine, do_import: Importer) -> None:
    path = write_csv(tmp_path / "o.csv", GOOD_ROWS)
    do_import(path)
    before = snapshot(engine)
    copy = tmp_path / "copy-of-o.csv"
    copy.write_bytes(path.read_bytes())
    for again in (path, copy):
        report = do_import(again)
        assert report == ImportReport(str(again), 8, 0, 0, 0, 8, True)
    after = snapshot(engine)
    assert after["orders"] == before["orders"] and after["batches"] == before["batches"]
    # The attempts themselves are on record.
    assert len(after["actions"]) == len(before["actions"]) + 2


def test_bad_file_is_refused_whole(tmp_path: Path, engine: Engine, do_import: Importer) -> None:
    do_import(write_csv(tmp_path / "day1.csv", GOOD_ROWS[:2]))
    before = snapshot(engine)
    rows = [GOOD_ROWS[2], GOOD_ROWS[3].replace("沪A1234警", "沪A12I4警"),
            GOOD_ROWS[0].replace("张三丰", "张三"),  # a correction, good in itself
            GOOD_ROWS[4].replace("YT1234567894", "yt1")]
    with pytest.raises(OrderImportError) as info:
        do_import(write_csv(tmp_path / "day2.csv", rows))
    assert [(p.row, p.field) for p in info.value.problems] == [(3, "plate_no"), (5, "waybill_no")]
    assert snapshot(engine) == before
    assert order(engine, "ORD-000001").recipient_name == "张三丰"


def test_cancellation_and_correction(tmp_path: Path, engine: Engine, do_import: Importer) -> None:
    do_import(write_csv(tmp_path / "day1.csv", GOOD_ROWS[:3]))
    rows = [
        GOOD_ROWS[0].replace(",open", ",cancelled"),
        GOOD_ROWS[1].replace("13912345678", "13900000000").replace("粤BD12345", "粤BF12346"),
        GOOD_ROWS[2],
        GOOD_ROWS[3],
        GOOD_ROWS[4].replace(",open", ",cancelled"),  # never seen: stored as cancelled
    ]
    report = do_import(write_csv(tmp_path / "day2.csv", rows))
    assert (report.rows, report.created, report.updated, report.cancelled, report.unchanged) == (
        5, 1, 1, 2, 1)
    assert order(engine, "ORD-000001").status == "cancelled"
    corrected = order(engine, "ORD-000002")
    assert (corrected.plate_no, corrected.recipient_phone) == ("粤BF12346", "13900000000")
    assert order(engine, "ORD-000005").status == "cancelled"
    # A cancelled order that is not on the line yet may be opened again.
    report = do_import(write_csv(tmp_path / "day3.csv", [GOOD_ROWS[0]]))
    assert report.updated == 1 and order(engine, "ORD-000001").status == "open"


def test_frozen_orders(tmp_path: Path, engine: Engine, do_import: Importer) -> None:
    do_import(write_csv(tmp_path / "day1.csv", GOOD_ROWS[:3]))
    freeze(engine, "ORD-000001", "ORD-000002")
    before = snapshot(engine)
    changed = [
        GOOD_ROWS[0].replace("粤A12345", "粤A12346").replace("广州市", "深圳市"),
        GOOD_ROWS[1],                                    # identical: fine
        GOOD_ROWS[2].replace("王五", "王六"),             # not frozen: fine
    ]
    with pytest.raises(OrderImportError) as info:
        do_import(write_csv(tmp_path / "day2.csv", changed))
    assert info.value.problems == [RowProblem(2, "plate_no", FROZEN),
                                   RowProblem(2, "recipient_address", FROZEN)]
    assert snapshot(engine) == before
    # Identical rows of frozen orders are fine.
    report = do_import(write_csv(tmp_path / "day3.csv", GOOD_ROWS[:2] + GOOD_ROWS[3:4]))
    assert (report.unchanged, report.created) == (2, 1)


def test_frozen_order_can_still_be_cancelled(tmp_path: Path, engine: Engine,
                                             do_import: Importer) -> None:
    do_import(write_csv(tmp_path / "day1.csv", GOOD_ROWS[:1]))
    freeze(engine, "ORD-000001")
    cancel = GOOD_ROWS[0].replace(",open", ",cancelled")
    with pytest.raises(OrderImportError) as info:  # cancelling while changing a field: refused
        do_import(write_csv(tmp_path / "x.csv", [cancel.replace("SF1234567890", "SF0000000000")]))
    assert info.value.problems == [RowProblem(2, "waybill_no", FROZEN),
                                   RowProblem(2, "status", FROZEN)]
    report = do_import(write_csv(tmp_path / "day2.csv", [cancel]))
    assert report.cancelled == 1
    stored = order(engine, "ORD-000001")
    assert (stored.status, stored.frozen, stored.plate_no) == ("cancelled", True, "粤A12345")
    # The very bytes of day 1 again: already imported, nothing changes.
    assert do_import(tmp_path / "day1.csv").already_imported
    assert order(engine, "ORD-000001").status == "cancelled"
    # Once frozen, a cancellation is final.
    with pytest.raises(OrderImportError) as info:
        do_import(write_csv(tmp_path / "day3.csv", [GOOD_ROWS[0]], bom=True))
    assert info.value.problems == [RowProblem(2, "status", FROZEN)]


def test_row_and_frozen_problems_are_listed_together(tmp_path: Path, engine: Engine,
                                                     do_import: Importer) -> None:
    do_import(write_csv(tmp_path / "day1.csv", GOOD_ROWS[:1]))
    freeze(engine, "ORD-000001")
    rows = [GOOD_ROWS[1].replace("plate-pair", "plate-quad"),
            GOOD_ROWS[0].replace("SF1234567890", "SF0000000000")]
    with pytest.raises(OrderImportError) as info:
        do_import(write_csv(tmp_path / "day2.csv", rows))
    assert [(p.row, p.field) for p in info.value.problems] == [(2, "product"), (3, "waybill_no")]


def test_order_frozen_during_the_import_is_not_changed(tmp_path: Path, engine: Engine,
                                                      session: Session, recipes: dict[str, Recipe],
                                                      do_import: Importer) -> None:
    from plateline.records import orders as mod
    do_import(write_csv(tmp_path / "day1.csv", GOOD_ROWS[:1]))
    freeze(engine, "ORD-000001")
    before = snapshot(engine)
    rows = mod.parse_order_file(
        write_csv(tmp_path / "day2.csv", [GOOD_ROWS[0].replace("张三丰", "张三")]),
        recipes=recipes, ebike_pattern="^[0-9]{6}$")
    stale = Order(order_id="ORD-000001", frozen=False)  # what the import read before the freeze
    with pytest.raises(OrderImportError, match="went on the line"):
        mod._apply(session, rows[0], stale, batch_id=1)
    session.rollback()
    assert snapshot(engine) == before
