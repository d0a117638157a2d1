"""Helpers of the records tests: order files and database snapshots."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from plateline.records.models import ImportBatch, Item, OperatorAction, Order, StationResult

HEADER = ("order_id,product,plate_no,plate_type,plate_count,waybill_no,"
          "recipient_name,recipient_phone,recipient_address,status")

# One good order per product / plate kind; CSV rows matching HEADER.
GOOD_ROWS = [
    "ORD-000001,plate-pair,粤A12345,blue,2,SF1234567890,张三丰,13812345678,广东省广州市天河区体育西路123号,open",
    "ORD-000002,plate-pair,粤BD12345,green,2,SF1234567891,李四,13912345678,广东省深圳市南山区科技园1栋,",
    "ORD-000003,plate-pair,京A12345D,yellow_green,2,SF1234567892,王五,13712345678,北京市朝阳区建国路8号,open",
    "ORD-000004,plate-single,沪A1234警,white,1,YT1234567893,赵六,13612345678,上海市浦东新区世纪大道100号,open",
    "ORD-000005,plate-single,粤Z1234港,black,1,YT1234567894,钱七,13512345678,\"广东省深圳市福田区, 皇岗口岸\",open",
    "ORD-000006,plate-single,苏E1234挂,yellow,1,YT1234567895,孙八,13412345678,江苏省苏州市工业园区星湖街328号,open",
    "ORD-000007,ebike-plate,粤A123456,ebike,1,ZT1234567896,周九,13312345678,广东省广州市越秀区北京路1号,open",
    "ORD-000008,licence-doc,,,0,ZT1234567897,吴十,13212345678,广东省佛山市禅城区祖庙路2号,open",
]


def write_csv(path: Path, rows: Sequence[str], *, header: str = HEADER, bom: bool = False,
              newline: str = "\n") -> Path:
    text = newline.join([header, *rows]) + newline
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def csv_to_dicts(rows: Sequence[str]) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO("\n".join([HEADER, *rows])))
    return [dict(r) for r in reader]


def write_jsonl(path: Path, objs: Sequence[dict[str, Any] | str]) -> Path:
    lines = [o if isinstance(o, str) else json.dumps(o, ensure_ascii=False) for o in objs]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def snapshot(engine: Engine) -> dict[str, Any]:
    """Everything an import may change, as plain values."""
    with Session(engine) as s:
        orders = [tuple(getattr(o, c.key) for c in Order.__table__.columns)
                  for o in s.scalars(select(Order).order_by(Order.order_id))]
        batches = [(b.id, b.sha256, b.rows) for b in s.scalars(select(ImportBatch))]
        actions = [(a.id, a.action) for a in s.scalars(select(OperatorAction))]
    return {"orders": orders, "batches": batches, "actions": actions}


def add_item(
    session: Session, *, id: int | None = None, line_id: str = "L1", tray: int = 1,
    plc_boot: int = 1, enter_seq: int = 1, order_id: str | None = "ORD-000001",
    verdict: str | None = "pass", reason: str | None = "NONE", outcome: str | None = "outfeed",
    entered_at: datetime, closed_at: datetime | None,
    results: dict[str, tuple[bool, str, dict[str, Any]]] | None = None,
) -> Item:
    """An item with station results finishing one second apart after ``entered_at``."""
    item = Item(id=id, line_id=line_id, tray=tray, plc_boot=plc_boot, enter_seq=enter_seq,
                order_id=order_id, recipe_id="plate-pair", recipe_version="1.0",
                entered_at=entered_at, verdict=verdict, reason=reason, outcome=outcome,
                closed_at=closed_at)
    for n, (station, (ok, why, data)) in enumerate((results or {}).items(), start=1):
        item.results.append(StationResult(station=station, ok=ok, reason=why, data=data,
                                          finished_at=entered_at + timedelta(seconds=n)))
    session.add(item)
    session.flush()
    return item
