"""Plate-number grammar: generated valid plates pass, every kind of mutation is refused."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from plateline.errors import ConfigError
from plateline.records.plates import DEFAULT_EBIKE_PATTERN, compile_ebike_pattern, plate_problem

# Written out here, independently of the module under test.
PROV = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
SERIAL = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
DIGITS = "0123456789"
ALLOWED_SUFFIX = {"blue": "", "yellow": "挂学", "white": "警", "black": "港澳领使"}
ALL_SUFFIXES = "挂学警港澳领使"
MOTOR = ("blue", "yellow", "white", "black", "green", "yellow_green")
EB = DEFAULT_EBIKE_PATTERN

provinces = st.sampled_from(PROV)
letters = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
serial_chars = st.sampled_from(SERIAL)
digits = st.sampled_from(DIGITS)


def chars(strategy: st.SearchStrategy[str], n: int) -> st.SearchStrategy[str]:
    return st.lists(strategy, min_size=n, max_size=n).map("".join)


@st.composite
def ordinary(draw: st.DrawFn, kind: str) -> str:
    head = draw(provinces) + draw(letters)
    if ALLOWED_SUFFIX[kind] and draw(st.booleans()):
        return head + draw(chars(serial_chars, 4)) + draw(st.sampled_from(ALLOWED_SUFFIX[kind]))
    return head + draw(chars(serial_chars, 5))


@st.composite
def valid_plate(draw: st.DrawFn, kind: str) -> str:
    head = draw(provinces) + draw(letters)
    if kind == "green":
        return (head + draw(st.sampled_from("DABCEFGHJK")) + draw(serial_chars)
                + draw(chars(digits, 4)))
    if kind == "yellow_green":
        return head + draw(chars(digits, 5)) + draw(st.sampled_from("DF"))
    if kind == "ebike":
        return head + draw(chars(digits, 6))
    return draw(ordinary(kind))


any_valid = st.sampled_from((*MOTOR, "ebike")).flatmap(
    lambda k: st.tuples(st.just(k), valid_plate(k)))


@given(any_valid)
def test_valid_plates_are_accepted(case: tuple[str, str]) -> None:
    kind, plate = case
    assert plate_problem(plate, kind, ebike_pattern=EB) is None


@given(any_valid, st.data())
def test_i_or_o_in_the_serial_is_refused(case: tuple[str, str], data: st.DataObject) -> None:
    kind, plate = case
    pos = data.draw(st.integers(2, len(plate) - 1))
    bad = plate[:pos] + data.draw(st.sampled_from("IO")) + plate[pos + 1:]
    reason = plate_problem(bad, kind, ebike_pattern=EB)
    assert reason is not None
    if kind in MOTOR and bad[-1] not in ALL_SUFFIXES:
        assert "I and O" in reason


@given(any_valid, st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF) | letters)
def test_unknown_province_is_refused(case: tuple[str, str], first: str) -> None:
    assume(first not in PROV)
    kind, plate = case
    reason = plate_problem(first + plate[1:], kind, ebike_pattern=EB)
    assert reason is not None
    if kind in MOTOR:
        assert "province" in reason


@given(any_valid, st.data())
def test_wrong_length_is_refused(case: tuple[str, str], data: st.DataObject) -> None:
    kind, plate = case
    pos = data.draw(st.integers(2, len(plate)))
    if data.draw(st.booleans()):
        bad = plate[:pos] + data.draw(digits) + plate[pos:]
    else:
        bad = plate[: pos - 1] + plate[pos:]
    assert plate_problem(bad, kind, ebike_pattern=EB) is not None
    assert plate_problem(plate[:2], kind, ebike_pattern=EB) is not None


@given(st.sampled_from(MOTOR).flatmap(lambda k: st.tuples(st.just(k), valid_plate(k))),
       st.sampled_from(ALL_SUFFIXES))
def test_suffix_on_the_wrong_type_is_refused(case: tuple[str, str], suffix: str) -> None:
    kind, plate = case
    assume(suffix not in ALLOWED_SUFFIX.get(kind, ""))
    reason = plate_problem(plate[:-1] + suffix, kind, ebike_pattern=EB)
    assert reason is not None
    if kind in ALLOWED_SUFFIX:
        assert "suffix" in reason and suffix in reason


@given(valid_plate("green"), st.sampled_from("LMNPQRSTUVWXYZ0123456789"))
def test_green_serial_must_start_with_an_energy_letter(plate: str, first: str) -> None:
    reason = plate_problem(plate[:2] + first + plate[3:], "green", ebike_pattern=EB)
    assert reason is not None and "D A B C E F G H J K" in reason


@given(valid_plate("green"), st.integers(4, 7), st.sampled_from("ABCDEFGHJKLMNPQRSTUVWXYZ"))
def test_green_serial_must_end_with_four_digits(plate: str, pos: int, letter: str) -> None:
    assert plate_problem(plate[:pos] + letter + plate[pos + 1:], "green", ebike_pattern=EB)


@given(valid_plate("yellow_green"), st.sampled_from("ABCEGHJKLMNPQRSTUVWXYZ0123456789"))
def test_yellow_green_must_end_with_d_or_f(plate: str, last: str) -> None:
    reason = plate_problem(plate[:-1] + last, "yellow_green", ebike_pattern=EB)
    assert reason is not None and "D or F" in reason


@given(valid_plate("yellow_green"), st.integers(2, 6), st.sampled_from("ABCDEFGHJKLMNPQRSTUVWXYZ"))
def test_yellow_green_serial_starts_with_five_digits(plate: str, pos: int, letter: str) -> None:
    assert plate_problem(plate[:pos] + letter + plate[pos + 1:], "yellow_green", ebike_pattern=EB)


REFERENCE = {
    **{k: f"[{PROV}][A-Z](?:[{SERIAL}]{{5}}|[{SERIAL}]{{4}}[{s}])" if s else
       f"[{PROV}][A-Z][{SERIAL}]{{5}}" for k, s in ALLOWED_SUFFIX.items()},
    "green": f"[{PROV}][A-Z][DABCEFGHJK][{SERIAL}][0-9]{{4}}",
    "yellow_green": f"[{PROV}][A-Z][0-9]{{5}}[DF]",
}


@given(st.sampled_from(MOTOR),
       st.text(alphabet="粤京港AZDFIO019挂学警港使 a", min_size=0, max_size=10)
       | any_valid.map(lambda c: c[1]))
def test_grammar_agrees_with_an_independent_reference(kind: str, plate: str) -> None:
    expected_ok = re.fullmatch(REFERENCE[kind], plate) is not None
    assert (plate_problem(plate, kind, ebike_pattern=EB) is None) == expected_ok


@pytest.mark.parametrize(("plate", "kind", "words"), [
    ("粤A12345", "white", None),
    ("粤A1234警", "blue", "suffix '警' is allowed only on white plates"),
    ("粤A1234学", "black", "only on yellow"),
    ("粤A1234使", "yellow", "only on black"),
    ("粤A1O345", "blue", "I and O"),
    ("台A12345", "blue", "province"),
    ("粤a12345", "blue", "issuing-authority letter"),
    ("粤A1234", "blue", "7 characters"),
    ("粤A12345", "green", "8 characters"),
    ("粤A12345\n", "blue", "characters"),
    ("粤A12345", "purple", "unknown plate type"),
    ("", "blue", "empty"),
    ("粤A12345", "ebike", "e-bike"),
])
def test_reasons_are_readable(plate: str, kind: str, words: str | None) -> None:
    reason = plate_problem(plate, kind, ebike_pattern=EB)
    if words is None:
        assert reason is None
    else:
        assert reason is not None and words in reason


def test_site_ebike_rule_is_configuration() -> None:
    assert plate_problem("1234567", "ebike", ebike_pattern=r"^[0-9]{7}$") is None
    assert plate_problem("粤A123456", "ebike", ebike_pattern=r"^[0-9]{7}$") is not None
    # \d means ASCII digits only, and the pattern must cover the whole number.
    assert plate_problem("١٢٣٤٥٦٧", "ebike", ebike_pattern=r"\d{7}") is not None
    assert plate_problem("12345678", "ebike", ebike_pattern=r"\d{7}") is not None
    assert plate_problem("1234567\n", "ebike", ebike_pattern=r"^\d{7}$") is not None


@pytest.mark.parametrize(("pattern", "words"), [
    ("^[0-9{6}$", "not a valid regular expression"),
    ("", "empty"),
    (".*", "accepts an empty"),
])
def test_a_bad_site_rule_is_a_config_error(pattern: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        compile_ebike_pattern(pattern)
    with pytest.raises(ConfigError):
        plate_problem("粤A12345", "blue", ebike_pattern=pattern)
