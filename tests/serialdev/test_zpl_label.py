"""Waybill labels: ZPL building, escaping and reading back (property-based)."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from plateline.drivers.zpl import (
    ParsedLabel,
    WaybillLabel,
    build_label_zpl,
    clean_text,
    escape_field,
    parse_label,
    unescape_field,
)
from plateline.errors import ProtocolError
from plateline.records.privacy import mask_phone

LABEL = WaybillLabel(order_id="ORD-2026-000042", waybill_no="SF1234567890",
                     recipient_name="张三丰", recipient_phone="13812345678",
                     recipient_address="广东省广州市天河区体育西路123号")

any_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
order_ids = st.from_regex(r"\A[A-Z0-9-]{6,32}\Z")
waybills = st.from_regex(r"\A[A-Z0-9]{10,20}\Z")
phones = st.from_regex(r"\A1[3-9][0-9]{9}\Z") | st.from_regex(r"\A\+86 ?[0-9]{6,12}\Z")
names = any_text.filter(lambda s: bool(clean_text(s)))


def test_label_content() -> None:
    zpl = build_label_zpl(LABEL)
    assert zpl.isascii()
    assert zpl.startswith("^XA") and zpl.rstrip().endswith("^XZ")
    assert zpl.count("^XA") == 1 and zpl.count("^XZ") == 1
    assert "^CI28" in zpl and "^A@N,48,48,E:ANMDS.TTF" in zpl
    assert re.search(r"\^BCN,\d+,N,N,N,A\^FH\^FDSF1234567890\^FS", zpl)
    assert "13812345678" not in zpl
    parsed = parse_label(zpl)
    assert parsed == ParsedLabel(barcode="SF1234567890", texts=(
        "WAYBILL", "SF1234567890", "TO", "张三丰", "138****5678",
        "广东省广州市天河区体育西路123号", "ORDER", "ORD-2026-000042"))


def test_personal_data_stays_out_of_repr() -> None:
    shown = repr(LABEL)
    assert "SF1234567890" in shown and "ORD-2026-000042" in shown
    for secret in ("张三丰", "13812345678", "广东省"):
        assert secret not in shown


@pytest.mark.parametrize(("field", "value"), [
    ("order_id", "ord-1"), ("order_id", "ORD 000042"), ("waybill_no", "SF12345"),
    ("waybill_no", "SF12345678>:"), ("waybill_no", "sf1234567890"), ("template", "a4"),
    ("recipient_name", " \n "), ("recipient_phone", "")])
def test_bad_labels_are_refused(field: str, value: str) -> None:
    fields = {"order_id": LABEL.order_id, "waybill_no": LABEL.waybill_no,
              "recipient_name": LABEL.recipient_name, "recipient_phone": LABEL.recipient_phone,
              "recipient_address": LABEL.recipient_address, field: value}
    with pytest.raises(ValueError):
        WaybillLabel(**fields)


def test_bad_font_name_is_refused() -> None:
    with pytest.raises(ValueError, match="font"):
        build_label_zpl(LABEL, cjk_font="E:SIM^FDSUN.TTF")
    assert "^A@N,48,48,E:SIMSUN.TTF" in build_label_zpl(LABEL, cjk_font="E:SIMSUN.TTF")


def test_control_characters_cannot_inject_commands() -> None:
    label = WaybillLabel(order_id="ORD-000001", waybill_no="YT0000000001",
                         recipient_name="Bob^XZ^XA~JA_41", recipient_phone="13800000000",
                         recipient_address="Line 1\r\nLine\t2\x00\x07")
    zpl = build_label_zpl(label)
    assert zpl.count("^XZ") == 1 and "~JA" not in zpl
    texts = parse_label(zpl).texts
    assert "Bob^XZ^XA~JA_41" in texts and "Line 1 Line 2" in texts


@given(any_text)
def test_escape_round_trip(text: str) -> None:
    escaped = escape_field(text)
    assert escaped.isascii() and "^" not in escaped and "~" not in escaped
    assert all(ch >= " " for ch in escaped)
    assert unescape_field(escaped) == text


@given(order_ids, waybills, names, phones, any_text)
def test_build_then_parse_gives_back_the_label(order_id: str, waybill: str, name: str,
                                               phone: str, address: str) -> None:
    for other in (order_id, waybill, name, address):
        assume(phone not in other)
    label = WaybillLabel(order_id, waybill, name, phone, address)
    zpl = build_label_zpl(label)
    assert zpl.isascii()
    assert phone not in zpl  # never the full phone number
    parsed = parse_label(zpl)
    assert parsed.barcode == waybill
    masked = mask_phone(phone)
    assert masked != phone and masked in parsed.texts
    assert waybill in parsed.texts and order_id in parsed.texts
    assert clean_text(name) in parsed.texts
    assert (clean_text(address) in parsed.texts) == bool(clean_text(address))


@pytest.mark.parametrize("zpl", [
    "", "hello", "^XA^FDopen field^XZ", "^XA^FO1,1^FH^FDbad _G1 escape^FS^XZ",
    "^XA^FH^FD_E5_BC^FS^XZ", "^XA^FDa^FS^XZ^XA^FDb^FS^XZ", "^XA^FDone^FDtwo^FS^XZ",
    "^XA^fo1,1^XZ", "^XA^FDx^FS", "^FDx^FS^XZ", b"^XA^FD\xff^FS^XZ"])
def test_malformed_formats_are_refused(zpl: str | bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_label(zpl)


def test_barcodes_read_as_a_scanner_would() -> None:
    assert parse_label("^XA^FO1,1^A0N,20,20^FDjust text^FS^XZ") == ParsedLabel(None, ("just text",))
    # a Code 128 that cannot carry its data is unreadable
    assert parse_label("^XA^BCN,100^FH^FD_E5_BC_A0^FS^XZ").barcode is None
    # other symbologies are not the waybill barcode; the first Code 128 is
    two = "^XA^B3N,N,100^FDCODE39^FS^BCN,100^FDFIRST^FS^BCN,100^FDSECOND^FS^XZ"
    assert parse_label(two) == ParsedLabel("FIRST", ())
    # no ^FH: data is taken literally; CR LF between commands are ignored
    assert parse_label(b"^XA\r\n^BY2^BCN,100,N\r\n^FDA_1^FS\r\n^XZ\r\n").barcode == "A_1"
    assert parse_label("^XA^FH#^FD#41#5F^FS^XZ").texts == ("A_",)
