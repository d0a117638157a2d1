"""Order files as the simulators see them (``orders.md``): rows, grammar, CSV in and out.

This is the plant's own small reader and writer, independent of the
controller's importer, so that the demo data and the importer are both checked
against the contract rather than against each other.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from plateline.contract import PLATE_TYPES
from plateline.errors import OrderImportError, RowProblem
from plateline.simulators.plates import ORDER_ID_RE, WAYBILL_RE, plate_ok

FIELDS: tuple[str, ...] = (
    "order_id", "product", "plate_no", "plate_type", "plate_count", "waybill_no",
    "recipient_name", "recipient_phone", "recipient_address", "status",
)

#: Plates per reference product (``line.md``).
PRODUCT_PLATES: dict[str, int] = {"plate-pair": 2, "plate-single": 1, "ebike-plate": 1, "licence-doc": 0}


@dataclass(frozen=True)
class SimOrder:
    """One order row."""

    order_id: str
    product: str
    plate_no: str
    plate_type: str
    plate_count: int
    waybill_no: str
    recipient_name: str
    recipient_phone: str
    recipient_address: str
    status: str = "open"

    def cancelled(self) -> SimOrder:
        return replace(self, status="cancelled")

    def as_row(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}


def row_problems(row: Mapping[str, str], rownum: int) -> list[RowProblem]:
    """Every way ``row`` breaks the grammar of ``orders.md``."""
    bad: list[RowProblem] = []

    def fail(field: str, why: str) -> None:
        bad.append(RowProblem(rownum, field, why))

    if not ORDER_ID_RE.fullmatch(row.get("order_id", "")):
        fail("order_id", "6-32 characters of A-Z 0-9 -")
    product = row.get("product", "")
    if product not in PRODUCT_PLATES:
        fail("product", f"unknown product {product!r}")
    count_text = row.get("plate_count", "")
    count = int(count_text) if count_text in ("0", "1", "2") else None
    if count is None:
        fail("plate_count", "0, 1 or 2")
    elif product in PRODUCT_PLATES and PRODUCT_PLATES[product] != count:
        fail("plate_count", f"{product} has {PRODUCT_PLATES[product]} plates")
    plate_no, plate_type = row.get("plate_no", ""), row.get("plate_type", "")
    if count == 0:
        if plate_no or plate_type:
            fail("plate_no", "must be empty for documents")
    elif plate_type not in PLATE_TYPES:
        fail("plate_type", f"unknown plate type {plate_type!r}")
    elif not plate_ok(plate_no, plate_type):
        fail("plate_no", f"{plate_no!r} is not a {plate_type} plate")
    if not WAYBILL_RE.fullmatch(row.get("waybill_no", "")):
        fail("waybill_no", "10-20 characters of A-Z 0-9")
    for field in ("recipient_name", "recipient_phone", "recipient_address"):
        if not row.get(field):
            fail(field, "required")
    if row.get("status", "open") not in ("open", "cancelled"):
        fail("status", "open or cancelled")
    return bad


def parse_rows(rows: Iterable[Mapping[str, str]], source: str) -> list[SimOrder]:
    """Rows to orders; the whole file is refused when any row is bad."""
    orders: list[SimOrder] = []
    problems: list[RowProblem] = []
    seen: set[str] = set()
    for n, row in enumerate(rows, start=1):
        clean = {k: (row.get(k) or "").strip() for k in FIELDS}
        bad = row_problems(clean, n)
        if clean["order_id"] in seen:
            bad.append(RowProblem(n, "order_id", "repeated within the file"))
        seen.add(clean["order_id"])
        problems.extend(bad)
        if not bad:
            orders.append(SimOrder(
                order_id=clean["order_id"], product=clean["product"], plate_no=clean["plate_no"],
                plate_type=clean["plate_type"], plate_count=int(clean["plate_count"]),
                waybill_no=clean["waybill_no"], recipient_name=clean["recipient_name"],
                recipient_phone=clean["recipient_phone"],
                recipient_address=clean["recipient_address"], status=clean["status"] or "open"))
    if problems:
        raise OrderImportError(f"{source}: refused", problems)
    return orders


def read_order_file(path: Path) -> list[SimOrder]:
    """Read one CSV or JSON Lines order file."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        rows = [{k: str(v) for k, v in json.loads(line).items()}
                for line in text.splitlines() if line.strip()]
    else:
        rows = list(csv.DictReader(io.StringIO(text)))
    return parse_rows(rows, str(path))


def merge_orders(files: Sequence[Sequence[SimOrder]]) -> dict[str, SimOrder]:
    """Orders as they stand after importing ``files`` in order (later rows win)."""
    book: dict[str, SimOrder] = {}
    for rows in files:
        for order in rows:
            book[order.order_id] = order
    return book


def read_orders(paths: Sequence[Path]) -> dict[str, SimOrder]:
    """Read and merge several order files, in order."""
    return merge_orders([read_order_file(p) for p in paths])


def orders_csv(orders: Iterable[SimOrder]) -> str:
    """Orders as CSV text with the header of ``orders.md``."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(FIELDS), lineterminator="\n")
    writer.writeheader()
    for order in orders:
        writer.writerow(order.as_row())
    return out.getvalue()
