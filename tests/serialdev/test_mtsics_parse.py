"""MT-SICS answers parsed strictly (pure functions, property-based)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plateline.drivers.scale_mtsics import (
    ScaleBusy,
    ScaleFault,
    Weight,
    format_weight,
    parse_reset_answer,
    parse_weight_answer,
    parse_zero_answer,
)
from plateline.errors import DeviceError, DeviceFault, ProtocolError

weights = st.decimals(min_value=-99999, max_value=999999, places=2, allow_nan=False,
                      allow_infinity=False)


def test_the_spec_examples() -> None:
    assert parse_weight_answer("S S     123.45 g", command="S") == Weight(123.45, True)
    assert parse_weight_answer(b"S D     123.40 g") == Weight(123.40, False)
    assert parse_weight_answer("S S       0.00 g") == Weight(0.0, True)
    assert parse_weight_answer("S S     -12.30 g") == Weight(-12.30, True)
    assert format_weight(123.45) == "S S     123.45 g"
    assert format_weight(123.4, stable=False) == "S D     123.40 g"
    assert format_weight(-0.001) == "S S       0.00 g"


@given(weights, st.booleans())
def test_round_trip_of_formatted_answers(value, stable: bool) -> None:
    line = format_weight(float(value), stable=stable)
    assert len(line) == 16 and line[4:14] == f"{float(value):.2f}".rjust(10).replace(" -0.00", "  0.00")
    got = parse_weight_answer(line.encode(), command="SI")
    assert got == Weight(float(value) + 0.0, stable)


@pytest.mark.parametrize(("line", "grams"), [
    ("S S    0.38512 kg", 385.12), ("S S   385120.0 mg", 385.12), ("S S        385 g", 385.0)])
def test_metric_units_are_converted(line: str, grams: float) -> None:
    assert parse_weight_answer(line).value_g == pytest.approx(grams)


@pytest.mark.parametrize("unit", ["lb", "oz", "ct", "dwt"])
def test_other_units_are_refused(unit: str) -> None:
    with pytest.raises(ScaleFault) as err:
        parse_weight_answer(f"S S       0.85 {unit}")
    assert err.value.kind == "unit"


@pytest.mark.parametrize(("line", "kind"), [
    ("S +", "overload"), ("S -", "underload"), ("ES", "syntax"), ("ET", "transmission"),
    ("EL", "logical")])
def test_fault_answers_have_a_kind(line: str, kind: str) -> None:
    with pytest.raises(ScaleFault) as err:
        parse_weight_answer(line)
    assert err.value.kind == kind
    assert isinstance(err.value, DeviceFault)
    assert not isinstance(err.value, ScaleBusy)


def test_busy_is_a_device_fault() -> None:
    with pytest.raises(ScaleBusy) as err:
        parse_weight_answer("S I", command="S")
    assert err.value.kind == "busy" and isinstance(err.value, DeviceFault)
    with pytest.raises(ScaleBusy):
        parse_zero_answer(b"Z I")


def test_dynamic_is_not_an_answer_to_s() -> None:
    with pytest.raises(ProtocolError, match="dynamic"):
        parse_weight_answer("S D     123.40 g", command="S")


@pytest.mark.parametrize("line", [
    "", "S", "S S", "S S 123.45 g", "S S    123.45 g", "S S      123.45 g", "S S     123.45g",
    "S S     123.45  g", "S X     123.45 g", "s S     123.45 g", "S S     123.4x g",
    "S S    1,234.5 g", "S S     12.3.4 g", "S S    +123.45 g", "S S     123.   g",
    "S S     123.45 ", "S S     .12345 g", "S S     123.45 g\r", "Z A", "I4 A \"1\"",
    "S S     123.45 g ", " S S     123.45 g", "S S    -  1.00 g", "S I ", "EST"])
def test_malformed_answers_are_protocol_errors(line: str) -> None:
    with pytest.raises(ProtocolError):
        parse_weight_answer(line)


def test_non_ascii_is_refused() -> None:
    with pytest.raises(ProtocolError, match="ASCII"):
        parse_weight_answer(b"S S     123.45 g" + b"\xff")
    with pytest.raises(ProtocolError):
        parse_weight_answer("S S     123.45 克")


@given(st.binary(max_size=40))
def test_random_bytes_never_parse_as_a_weight(raw: bytes) -> None:
    try:
        weight = parse_weight_answer(raw)
    except DeviceError:
        return
    # only a well-formed answer may get here: format it back and compare
    text = raw.decode("ascii")
    assert text.startswith(("S S ", "S D ")) and len(text) >= 16
    assert parse_weight_answer(text) == weight


@given(st.text(st.characters(min_codepoint=0, max_codepoint=0x7F), max_size=24)
       .map(lambda s: "S S " + s))
def test_random_text_after_the_prefix_is_refused_or_well_formed(line: str) -> None:
    try:
        weight = parse_weight_answer(line)
    except DeviceError:
        return
    field, unit = line[4:14], line[15:]
    assert len(field) == 10 and not field.endswith(" ") and line[14] == " "
    factor = {"g": 1.0, "kg": 1000.0, "mg": 0.001}[unit]
    assert weight.value_g == pytest.approx(float(field) * factor)


def test_zero_answers() -> None:
    parse_zero_answer("Z A")
    for line, exc in (("Z I", ScaleBusy), ("EL", ScaleFault), ("Z", ProtocolError),
                      ("Z A ", ProtocolError), ("S S     123.45 g", ProtocolError)):
        with pytest.raises(exc):
            parse_zero_answer(line)


def test_reset_answer_gives_the_serial_number() -> None:
    assert parse_reset_answer('I4 A "0123456789"') == "0123456789"
    for line in ('I4 A "0123"456"', "I4 A 0123456789", 'I4 A ""', 'I4 I "0123456789"', "ES"):
        with pytest.raises(DeviceError):
            parse_reset_answer(line)
