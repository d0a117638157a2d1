"""Order import (``orders.md``): CSV or JSON Lines in, all or nothing per file.

``parse_order_file`` checks a file without touching the database; ``import_orders``
stores it in one transaction, refusing the whole file if any row is bad (including
changes to orders already on the line) and doing nothing for a file it has seen before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from plateline.errors import OrderImportError, RowProblem
from plateline.recipes import Recipe
from plateline.records.models import ImportBatch, OperatorAction, Order, utcnow
from plateline.records.orderfile import (
    COLUMNS,
    REQUIRED_COLUMNS,
    OrderRow,
    check_order_data,
    read_order_file,
    refused,
)

FROZEN = "order is on the line; its fields are frozen"


@dataclass(frozen=True)
class ImportReport:
    """What an import did; ``rows`` = created + updated + cancelled + unchanged.

    ``cancelled`` counts orders this file cancelled, including ones it is the first to
    name; ``updated`` counts corrections (also re-opening a cancelled order not yet on
    the line). An ``already_imported`` file reports all its rows unchanged.
    """

    file: str
    rows: int
    created: int
    updated: int
    cancelled: int
    unchanged: int
    already_imported: bool = False


def parse_order_file(
    path: Path, *, recipes: Mapping[str, Recipe], ebike_pattern: str
) -> list[OrderRow]:
    """Read and check an order file; OrderImportError lists every bad row.

    ConfigError if ``ebike_pattern`` is not a usable regular expression.
    """
    rows, problems = check_order_data(path, read_order_file(path), recipes, ebike_pattern)
    if problems:
        raise refused(path, problems)
    return rows


def import_orders(
    session: Session,
    path: Path,
    *,
    recipes: Mapping[str, Recipe],
    ebike_pattern: str,
    user: str = "system",
    line_id: str | None = None,
) -> ImportReport:
    """Import an order file in one transaction and commit it; the report says what changed.

    A file whose bytes were imported before changes nothing (``already_imported``). Any
    bad row, including a change to an order already on the line, refuses the whole file
    with OrderImportError and rolls the session back. The import is recorded as an
    OperatorAction ``import_orders`` (``line_id`` None: ``*``, all lines).
    """
    data = read_order_file(path)
    digest = hashlib.sha256(data).hexdigest()
    try:
        report, batch_id = _store(session, path, data, digest, recipes, ebike_pattern)
        detail = {**asdict(report), "sha256": digest, "batch_id": batch_id}
        session.add(OperatorAction(line_id=line_id or "*", user=user, action="import_orders",
                                   detail=detail))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return report


def _store(session: Session, path: Path, data: bytes, digest: str,
           recipes: Mapping[str, Recipe], ebike_pattern: str) -> tuple[ImportReport, int | None]:
    prior = session.scalars(
        select(ImportBatch).where(ImportBatch.sha256 == digest).order_by(ImportBatch.id).limit(1)
    ).first()
    if prior is not None:
        return ImportReport(str(path), prior.rows, 0, 0, 0, prior.rows, True), prior.id
    rows, problems = check_order_data(path, data, recipes, ebike_pattern)
    stored = _existing(session, [r.order_id for r in rows])
    plan = [(row, _plan(row, stored.get(row.order_id), problems)) for row in rows]
    if problems:
        raise refused(path, problems)
    counts = {"created": 0, "updated": 0, "cancelled": 0, "unchanged": 0}
    for _row, kind in plan:
        counts[kind] += 1
    name = str(path) if len(str(path)) <= 500 else path.name
    batch = ImportBatch(filename=name, sha256=digest, rows=len(rows), **counts)
    session.add(batch)
    session.flush()
    for row, kind in plan:
        if kind != "unchanged":
            _apply(session, row, stored.get(row.order_id), batch.id)
    report = ImportReport(str(path), len(rows), counts["created"], counts["updated"],
                          counts["cancelled"], counts["unchanged"])
    return report, batch.id


def _existing(session: Session, order_ids: Sequence[str]) -> dict[str, Order]:
    found: dict[str, Order] = {}
    for i in range(0, len(order_ids), 500):
        chunk = order_ids[i:i + 500]
        found.update((o.order_id, o) for o in
                     session.scalars(select(Order).where(Order.order_id.in_(chunk))))
    return found


def _plan(row: OrderRow, order: Order | None, problems: list[RowProblem]) -> str:
    """created / updated / cancelled / unchanged; a problem if a frozen order would change."""
    if order is None:
        return "cancelled" if row.status == "cancelled" else "created"
    changed = [k for k, v in row.values().items() if getattr(order, k) != v]
    if not changed:
        return "unchanged"
    if order.frozen and (changed != ["status"] or row.status != "cancelled"):
        problems.extend(RowProblem(row.line, k, FROZEN) for k in changed)
        return "unchanged"
    return "cancelled" if "status" in changed and row.status == "cancelled" else "updated"


def _apply(session: Session, row: OrderRow, order: Order | None, batch_id: int) -> None:
    if order is None:
        session.add(Order(order_id=row.order_id, batch_id=batch_id, updated_at=utcnow(),
                          frozen=False, **row.values()))
        return
    where = [Order.order_id == row.order_id]
    if order.frozen:
        # A frozen order may still be cancelled; its other fields stay as they are.
        values: dict[str, object] = {"status": "cancelled"}
    else:
        # The controller may freeze the order meanwhile: then it must not change.
        values = row.values()
        where.append(Order.frozen.is_(False))
    result = session.execute(
        update(Order).where(*where).values(**values, batch_id=batch_id, updated_at=utcnow())
        .execution_options(synchronize_session="fetch"))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise OrderImportError(
            "order file refused, nothing imported: an order went on the line during the import",
            [RowProblem(row.line, "order_id", FROZEN)])


__all__ = [
    "COLUMNS", "FROZEN", "REQUIRED_COLUMNS", "ImportReport", "OrderRow", "import_orders",
    "parse_order_file",
]
