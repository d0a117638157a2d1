"""Traceability export (``orders.md``): JSON Lines per item, and GS1 EPCIS 2.0 JSON-LD.

Only closed items are exported (their outcome is final), in the order they were closed;
``since`` (inclusive) and ``until`` (exclusive) select on the closing time, so that
consecutive windows export every item exactly once. Items are read in batches by keyset
pagination and written as they come. No personal data is exported.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, TextIO
from urllib.parse import quote, urlsplit

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, selectinload

from plateline.errors import ConfigError
from plateline.records.models import Item, Order, StationResult

BATCH_SIZE = 500
EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
#: Stations whose results are inspections; PACK is the packing step, GATE the final event.
CHECK_STATIONS = ("INFEED", "VISION", "WEIGH", "LABEL")


@dataclass(frozen=True)
class _OrderRef:
    plate_no: str | None
    waybill_no: str


# ---------------------------------------------------------------- reading


def _check_window(since: datetime | None, until: datetime | None) -> None:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ValueError(f"{name} must be a timezone-aware datetime")


def _batches(
    session: Session, line_id: str | None, since: datetime | None, until: datetime | None,
    batch_size: int,
) -> Iterator[list[tuple[Item, _OrderRef | None]]]:
    """Closed items in closing order, a batch at a time, each with its order (if known)."""
    _check_window(since, until)
    base = select(Item).where(Item.closed_at.is_not(None))
    if line_id is not None:
        base = base.where(Item.line_id == line_id)
    if since is not None:
        base = base.where(Item.closed_at >= since)
    if until is not None:
        base = base.where(Item.closed_at < until)
    base = base.order_by(Item.closed_at, Item.id).options(selectinload(Item.results))
    last: tuple[datetime, int] | None = None
    while True:
        query = base
        if last is not None:
            query = query.where(or_(Item.closed_at > last[0],
                                    and_(Item.closed_at == last[0], Item.id > last[1])))
        items = list(session.scalars(query.limit(batch_size)))
        if not items:
            return
        orders = _orders(session, {i.order_id for i in items if i.order_id})
        yield [(i, orders.get(i.order_id) if i.order_id else None) for i in items]
        closed = items[-1].closed_at
        assert closed is not None
        last = (closed, items[-1].id)


def _orders(session: Session, order_ids: set[str]) -> dict[str, _OrderRef]:
    if not order_ids:
        return {}
    rows = session.execute(select(Order.order_id, Order.plate_no, Order.waybill_no)
                           .where(Order.order_id.in_(order_ids)))
    return {r.order_id: _OrderRef(r.plate_no, r.waybill_no) for r in rows}


def _iso(dt: datetime | None, tz: tzinfo = UTC) -> str | None:
    return dt.astimezone(tz).isoformat(timespec="milliseconds") if dt is not None else None


def _data(item: Item, station: str) -> dict[str, Any]:
    for r in item.results:
        if r.station == station:
            return r.data or {}
    return {}


# ---------------------------------------------------------------- JSON Lines


def item_record(item: Item, order: _OrderRef | None) -> dict[str, Any]:
    """The JSON Lines object of one item (``orders.md``)."""
    plates = _data(item, "VISION").get("plates") or []
    reason = item.reason if item.reason else ("NONE" if item.verdict == "pass" else None)
    return {
        "item_id": item.public_id(),
        "line_id": item.line_id,
        "tray": item.tray,
        "order_id": item.order_id,
        "verdict": item.verdict,
        "reason": reason,
        "outcome": item.outcome,
        "plate_expected": order.plate_no if order else None,
        "plates_read": [{"text": p.get("text"), "type": p.get("type"), "score": p.get("score")}
                        for p in plates if isinstance(p, dict)],
        "weight_g": _data(item, "WEIGH").get("weight_g"),
        "seal_ok": _data(item, "PACK").get("seal_ok"),
        "waybill_no": order.waybill_no if order else None,
        "label_read": _data(item, "LABEL").get("label_read"),
        "recipe_id": item.recipe_id,
        "recipe_version": item.recipe_version,
        "entered_at": _iso(item.entered_at),
        "closed_at": _iso(item.closed_at),
        "plc_boot": item.plc_boot,
        "enter_seq": item.enter_seq,
    }


def export_jsonl(
    session: Session, out: TextIO, *, line_id: str | None = None,
    since: datetime | None = None, until: datetime | None = None, batch_size: int = BATCH_SIZE,
) -> int:
    """Write one JSON object per closed item (UTF-8 text, one a line); returns how many."""
    count = 0
    for batch in _batches(session, line_id, since, until, batch_size):
        for item, order in batch:
            out.write(json.dumps(item_record(item, order), ensure_ascii=False) + "\n")
            count += 1
    return count


# ---------------------------------------------------------------- EPCIS 2.0


@dataclass(frozen=True)
class EpcisConfig:
    """Identifiers and time zone of the EPCIS export.

    Items, the line and its stations, orders and waybills are named by HTTP(S) URIs under
    ``id_base`` (EPCIS 2.0 accepts any URI for instance-level identifiers): a site sets a
    base under a domain it controls. The default uses the reserved ``.invalid`` domain so
    that it can never clash with a real identifier. ``tz`` is the zone of ``eventTime``
    and ``eventTimeZoneOffset`` (the line's local time).
    """

    id_base: str = "https://plateline.invalid/"
    tz: tzinfo = field(default=UTC)

    def __post_init__(self) -> None:
        parts = urlsplit(self.id_base)
        if parts.scheme not in ("http", "https") or not parts.netloc or self.id_base[-1] != "/":
            raise ConfigError(f"EPCIS id_base {self.id_base!r} must be an http(s) URL ending in /")

    def uri(self, kind: str, *names: str) -> str:
        return self.id_base + kind + "/" + "/".join(quote(n, safe="") for n in names)


def _offset(dt: datetime) -> str:
    offset = dt.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def item_events(item: Item, order: _OrderRef | None, cfg: EpcisConfig) -> list[dict[str, Any]]:
    """The ObjectEvents of one closed item: checks, pack, and shipping or rejection."""
    item_uri = cfg.uri("item", item.public_id())
    transactions = []
    if item.order_id:
        transactions.append({"type": "po", "bizTransaction": cfg.uri("order", item.order_id)})
    if order is not None:
        transactions.append({"type": "bol", "bizTransaction": cfg.uri("waybill", order.waybill_no)})

    def event(key: str, at: datetime, step: str, ok: bool, read_point: str,
              extra: dict[str, Any]) -> dict[str, Any]:
        local = at.astimezone(cfg.tz)
        ev: dict[str, Any] = {
            "type": "ObjectEvent",
            "eventID": "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"{item_uri}#{key}")),
            "eventTime": local.isoformat(timespec="milliseconds"),
            "eventTimeZoneOffset": _offset(local),
            "action": "OBSERVE",
            "epcList": [item_uri],
            "bizStep": step,
            "disposition": "conformant" if ok else "non_conformant",
            "readPoint": {"id": read_point},
            "bizLocation": {"id": cfg.uri("line", item.line_id)},
        }
        if transactions:
            ev["bizTransactionList"] = transactions
        ev.update(extra)
        return ev

    events = []
    results: list[StationResult] = sorted(item.results, key=lambda r: (r.finished_at, r.id))
    for r in results:
        if r.station not in CHECK_STATIONS and r.station != "PACK":
            continue
        if (r.data or {}).get("skipped"):  # a check not done (the tray had failed before)
            continue
        step = "packing" if r.station == "PACK" else "inspecting"
        extra = {} if r.ok else {"plateline:reason": r.reason}
        events.append(event(r.station, r.finished_at, step, r.ok,
                            cfg.uri("line", item.line_id, r.station), extra))
    assert item.closed_at is not None
    shipped = item.outcome == "outfeed"
    passed = shipped and item.verdict == "pass"
    final_extra: dict[str, Any] = {"plateline:outcome": item.outcome}
    if not passed and item.reason:
        final_extra["plateline:reason"] = item.reason
    point = cfg.uri("line", item.line_id) if item.outcome == "lost" else cfg.uri(
        "line", item.line_id, "GATE")
    events.append(event("final", item.closed_at, "shipping" if shipped else "inspecting",
                        passed, point, final_extra))
    return events


def export_epcis(
    session: Session, out: TextIO, *, line_id: str | None = None,
    since: datetime | None = None, until: datetime | None = None,
    config: EpcisConfig | None = None, batch_size: int = BATCH_SIZE,
) -> int:
    """Write one EPCISDocument with the events of every closed item; returns how many items."""
    cfg = config or EpcisConfig()
    head = {
        "@context": [EPCIS_CONTEXT, {"plateline": cfg.id_base + "vocab/"}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": _iso(datetime.now(UTC)),
    }
    out.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "epcisBody": {"eventList": [')
    count = 0
    sep = "\n"
    for batch in _batches(session, line_id, since, until, batch_size):
        for item, order in batch:
            for ev in item_events(item, order, cfg):
                out.write(sep + json.dumps(ev, ensure_ascii=False))
                sep = ",\n"
            count += 1
    out.write("\n]}}\n")
    return count
