"""Traceability export: JSON Lines fields, batching, windows, no personal data; EPCIS 2.0."""

from __future__ import annotations

import io
import json
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from records_helpers import GOOD_ROWS, add_item, csv_to_dicts, write_csv
from referencing import Registry
from sqlalchemy.orm import Session

from plateline.errors import ConfigError
from plateline.recipes import Recipe
from plateline.records.export import EpcisConfig, export_epcis, export_jsonl
from plateline.records.orders import import_orders

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
PLATES = [{"text": "粤A12345", "type": "blue", "score": 0.98, "box": [1, 2, 3, 4]},
          {"text": "粤A12345", "type": "blue", "score": 0.95, "box": [5, 6, 7, 8]}]
PERSONAL = [v for row in csv_to_dicts(GOOD_ROWS)
            for k, v in row.items() if k.startswith("recipient_")]
# The contract's reference data lies beside the checkout, in ../shared/data/epcis.
SCHEMA = Path(os.environ.get(
    "PLATELINE_EPCIS_SCHEMA",
    Path(__file__).resolve().parents[3] / "shared/data/epcis/EPCIS-JSON-Schema.json"))


@pytest.fixture
def records(tmp_path: Path, session: Session, recipes: dict[str, Recipe], ebike: str) -> Session:
    """Orders with personal data, and items closed in this order: 1, 5, 2, 6, 3 (4 is open)."""
    import_orders(session, write_csv(tmp_path / "o.csv", GOOD_ROWS), recipes=recipes,
                  ebike_pattern=ebike)
    add_item(session, id=1, tray=11, enter_seq=101, entered_at=T0,
             closed_at=T0 + timedelta(seconds=10), results={
                 "INFEED": (True, "NONE", {"order_id": "ORD-000001"}),
                 "VISION": (True, "NONE", {"plates": PLATES}),
                 "PACK": (True, "NONE", {"seal_ok": True}),
                 "WEIGH": (True, "NONE", {"weight_g": 385.2}),
                 "LABEL": (True, "NONE", {"label_read": "SF1234567890"})})
    add_item(session, id=2, tray=12, enter_seq=102, order_id="ORD-000002", verdict="reject",
             reason="PLATE_MISMATCH", outcome="reject_bin", entered_at=T0 + timedelta(seconds=1),
             closed_at=T0 + timedelta(seconds=12), results={
                 "INFEED": (True, "NONE", {}),
                 "VISION": (False, "PLATE_MISMATCH", {"plates": PLATES[:1]}),
                 "PACK": (True, "NONE", {"seal_ok": True}),
                 "WEIGH": (True, "NONE", {"weight_g": 381})})
    add_item(session, id=3, tray=13, enter_seq=103, order_id=None, verdict="reject",
             reason="NOREAD", outcome="lost", entered_at=T0 + timedelta(seconds=2),
             closed_at=T0 + timedelta(seconds=14), results={"INFEED": (False, "NOREAD", {})})
    add_item(session, id=4, tray=14, enter_seq=104, verdict=None, reason=None, outcome=None,
             entered_at=T0 + timedelta(seconds=3), closed_at=None)
    add_item(session, id=5, line_id="L2", tray=1, enter_seq=7, order_id="ORD-000008",
             entered_at=T0, closed_at=T0 + timedelta(seconds=11))
    add_item(session, id=6, tray=15, enter_seq=105, order_id="ORD-999999", verdict="reject",
             reason="UNKNOWN_ORDER", outcome="reject_bin", entered_at=T0 + timedelta(seconds=4),
             closed_at=T0 + timedelta(seconds=13))
    session.commit()
    return session


def jsonl(session: Session, **kw: Any) -> list[dict[str, Any]]:
    out = io.StringIO()
    count = export_jsonl(session, out, **kw)
    lines = out.getvalue().splitlines()
    assert count == len(lines)
    return [json.loads(line) for line in lines]


def test_jsonl_fields(records: Session) -> None:
    got = jsonl(records)
    assert [r["item_id"] for r in got] == [
        "L1-00000001", "L2-00000005", "L1-00000002", "L1-00000006", "L1-00000003"]
    assert got[0] == {
        "item_id": "L1-00000001", "line_id": "L1", "tray": 11, "order_id": "ORD-000001",
        "verdict": "pass", "reason": "NONE", "outcome": "outfeed", "plate_expected": "粤A12345",
        "plates_read": [{"text": "粤A12345", "type": "blue", "score": 0.98},
                        {"text": "粤A12345", "type": "blue", "score": 0.95}],
        "weight_g": 385.2, "seal_ok": True, "waybill_no": "SF1234567890",
        "label_read": "SF1234567890", "recipe_id": "plate-pair", "recipe_version": "1.0",
        "entered_at": "2026-03-01T08:00:00.000+00:00",
        "closed_at": "2026-03-01T08:00:10.000+00:00", "plc_boot": 1, "enter_seq": 101,
    }
    doc, unknown, noread = got[1], got[3], got[4]
    assert (doc["plate_expected"], doc["waybill_no"], doc["plates_read"]) == (
        None, "ZT1234567897", [])
    assert (unknown["order_id"], unknown["plate_expected"], unknown["waybill_no"]) == (
        "ORD-999999", None, None)
    assert (noread["order_id"], noread["reason"], noread["outcome"]) == (None, "NOREAD", "lost")
    assert (noread["plates_read"], noread["weight_g"], noread["seal_ok"],
            noread["label_read"]) == ([], None, None, None)
    for r in got:
        for key in ("entered_at", "closed_at"):
            assert datetime.fromisoformat(r[key]).utcoffset() is not None


def test_no_personal_data_in_exports(records: Session) -> None:
    for export in (export_jsonl, export_epcis):
        out = io.StringIO()
        export(records, out)
        text = out.getvalue()
        assert PERSONAL and not [v for v in PERSONAL if v in text]
        assert "recipient" not in text


def test_line_and_time_window(records: Session) -> None:
    assert [r["item_id"] for r in jsonl(records, line_id="L2")] == ["L2-00000005"]
    cut = T0 + timedelta(seconds=12)
    early = jsonl(records, until=cut)
    late = jsonl(records, since=cut)
    assert [r["item_id"] for r in early] == ["L1-00000001", "L2-00000005"]
    assert [r["item_id"] for r in late] == ["L1-00000002", "L1-00000006", "L1-00000003"]
    assert jsonl(records, line_id="L1", since=cut, until=cut + timedelta(seconds=1)) == late[:1]
    with pytest.raises(ValueError, match="timezone-aware"):
        jsonl(records, since=datetime(2026, 3, 1))


def test_batches_cover_every_item_once(session: Session) -> None:
    same = T0 + timedelta(minutes=5)
    for n in range(1, 12):  # many items closed in the same instant: the tie needs the id
        add_item(session, id=n, tray=n, enter_seq=n, order_id=None, entered_at=T0,
                 closed_at=same if n % 3 else T0 + timedelta(seconds=n))
    session.commit()
    one_go = [r["item_id"] for r in jsonl(session, batch_size=1000)]
    for size in (1, 2, 5):
        assert [r["item_id"] for r in jsonl(session, batch_size=size)] == one_go
    assert sorted(one_go) == [f"L1-{n:08d}" for n in range(1, 12)]
    assert one_go[:3] == ["L1-00000003", "L1-00000006", "L1-00000009"]


# ---------------------------------------------------------------- EPCIS


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    if not SCHEMA.exists():
        pytest.fail(f"EPCIS 2.0 JSON schema not found at {SCHEMA} (set PLATELINE_EPCIS_SCHEMA)")

    def offline(uri: str) -> Any:
        raise LookupError(f"remote schema {uri} requested; the tests run offline")

    checker = Draft7Validator.FORMAT_CHECKER
    assert {"uri", "date-time"} <= set(checker.checkers)  # else formats pass unchecked
    return Draft7Validator(json.loads(SCHEMA.read_text(encoding="utf-8")),
                           registry=Registry(retrieve=offline),  # type: ignore[call-arg]
                           format_checker=checker)


def epcis(session: Session, **kw: Any) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    count = export_epcis(session, out, **kw)
    return count, json.loads(out.getvalue())


def test_validator_is_strict(validator: Draft7Validator) -> None:
    example = json.loads((SCHEMA.parent / "Example_9.6.1-ObjectEvent.jsonld").read_text())
    # The example names the document by a JSON-LD blank node, no URI by RFC 3986.
    assert not validator.is_valid(example)
    del example["id"]
    validator.validate(example)
    event = example["epcisBody"]["eventList"][0]
    for key, bad in (("epcList", ["not a uri"]), ("bizStep", "wrapping"),
                     ("eventTime", "2005-04-03T20:33:31"), ("disposition", 3)):
        broken = json.loads(json.dumps(example))
        broken["epcisBody"]["eventList"][0] = {**event, key: bad}
        assert not validator.is_valid(broken), key


def test_epcis_document_is_valid(records: Session, validator: Draft7Validator) -> None:
    count, doc = epcis(records)
    assert count == 5
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    assert (doc["type"], doc["schemaVersion"]) == ("EPCISDocument", "2.0")
    assert doc["@context"][0] == "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
    events = doc["epcisBody"]["eventList"]
    assert all(e["type"] == "ObjectEvent" and e["action"] == "OBSERVE" for e in events)
    ids = [e["eventID"] for e in events]
    assert len(set(ids)) == len(ids)
    _, again = epcis(records)
    assert [e["eventID"] for e in again["epcisBody"]["eventList"]] == ids  # stable


def by_item(doc: dict[str, Any], public_id: str) -> list[dict[str, Any]]:
    return [e for e in doc["epcisBody"]["eventList"]
            if e["epcList"] == [f"https://plateline.invalid/item/{public_id}"]]


def test_epcis_events_of_a_pass_and_rejects(records: Session) -> None:
    _, doc = epcis(records)
    passed = by_item(doc, "L1-00000001")
    assert [(e["bizStep"], e["readPoint"]["id"].rsplit("/", 1)[1], e["disposition"])
            for e in passed] == [
        ("inspecting", "INFEED", "conformant"), ("inspecting", "VISION", "conformant"),
        ("packing", "PACK", "conformant"), ("inspecting", "WEIGH", "conformant"),
        ("inspecting", "LABEL", "conformant"), ("shipping", "GATE", "conformant")]
    assert passed[-1]["bizTransactionList"] == [
        {"type": "po", "bizTransaction": "https://plateline.invalid/order/ORD-000001"},
        {"type": "bol", "bizTransaction": "https://plateline.invalid/waybill/SF1234567890"}]
    assert passed[-1]["bizLocation"] == {"id": "https://plateline.invalid/line/L1"}
    assert passed[-1]["eventTime"] == "2026-03-01T08:00:10.000+00:00"
    assert passed[-1]["eventTimeZoneOffset"] == "+00:00"

    mismatch = by_item(doc, "L1-00000002")
    vision, final = mismatch[1], mismatch[-1]
    assert (vision["disposition"], vision["plateline:reason"]) == (
        "non_conformant", "PLATE_MISMATCH")
    assert (final["bizStep"], final["disposition"], final["plateline:reason"],
            final["plateline:outcome"]) == (
        "inspecting", "non_conformant", "PLATE_MISMATCH", "reject_bin")

    noread = by_item(doc, "L1-00000003")
    assert [e["disposition"] for e in noread] == ["non_conformant", "non_conformant"]
    assert "bizTransactionList" not in noread[-1]
    assert noread[-1]["readPoint"] == {"id": "https://plateline.invalid/line/L1"}  # lost
    unknown = by_item(doc, "L1-00000006")
    assert [t["type"] for t in unknown[-1]["bizTransactionList"]] == ["po"]
    assert not by_item(doc, "L1-00000004")  # still on the line


def test_epcis_configuration(records: Session, validator: Draft7Validator) -> None:
    cfg = EpcisConfig(id_base="https://trace.example.org/plates/",
                      tz=timezone(timedelta(hours=8)))
    count, doc = epcis(records, config=cfg, line_id="L2")
    validator.validate(doc)
    [*_, final] = doc["epcisBody"]["eventList"]
    assert count == 1
    assert final["epcList"] == ["https://trace.example.org/plates/item/L2-00000005"]
    assert (final["eventTime"], final["eventTimeZoneOffset"]) == (
        "2026-03-01T16:00:11.000+08:00", "+08:00")
    for bad in ("trace.example.org/", "https://trace.example.org", "urn:x:"):
        with pytest.raises(ConfigError, match="id_base"):
            EpcisConfig(id_base=bad)


def test_epcis_empty_document_is_valid(session: Session, validator: Draft7Validator) -> None:
    count, doc = epcis(session)
    assert count == 0 and doc["epcisBody"]["eventList"] == []
    validator.validate(doc)


def test_epcis_leaves_out_checks_that_were_skipped(session: Session) -> None:
    add_item(session, id=7, tray=7, enter_seq=7, verdict="reject", reason="NOREAD",
             outcome="reject_bin", order_id=None, entered_at=T0,
             closed_at=T0 + timedelta(seconds=5), results={
                 "INFEED": (False, "NOREAD", {"barcode": None}),
                 "VISION": (False, "SKIPPED", {"skipped": True, "because": "NOREAD"})})
    session.commit()
    _, doc = epcis(session)
    events = by_item(doc, "L1-00000007")
    assert [e["readPoint"]["id"].rsplit("/", 1)[1] for e in events] == ["INFEED", "GATE"]
