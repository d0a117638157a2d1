"""Random plate numbers obey the grammar of orders.md; near misses are one substitution away."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plateline.contract import PLATE_TYPES
from plateline.simulators.render import near_miss, obeys_grammar, random_plate

# Written from orders.md ("Plate numbers"), independently of the renderer's own patterns.
PROV = "[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼]"
SER = "[ABCDEFGHJKLMNPQRSTUVWXYZ0-9]"
GRAMMAR = {
    "blue": rf"{PROV}[A-Z]{SER}{{5}}",
    "yellow": rf"{PROV}[A-Z]{SER}{{4}}({SER}|挂|学)",
    "white": rf"{PROV}[A-Z]{SER}{{4}}({SER}|警)",
    "black": rf"{PROV}[A-Z]{SER}{{4}}({SER}|港|澳|领|使)",
    "green": rf"{PROV}[A-Z][DABCEFGHJK]{SER}[0-9]{{4}}",
    "yellow_green": rf"{PROV}[A-Z][0-9]{{5}}[DF]",
    "ebike": rf"{PROV}[A-Z][0-9]{{6}}",  # the reference site's rule
}
GROUPS = ("8B", "0DQ", "17", "2Z", "5S", "6G")


def test_every_type_has_a_grammar() -> None:
    assert set(GRAMMAR) == set(PLATE_TYPES)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), plate_type=st.sampled_from(PLATE_TYPES))
def test_random_plate_obeys_the_grammar(seed: int, plate_type: str) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(20):
        text = random_plate(rng, plate_type)
        assert re.fullmatch(GRAMMAR[plate_type], text), (plate_type, text)
        assert obeys_grammar(text, plate_type)


def test_random_plates_use_suffixes_and_vary() -> None:
    rng = np.random.default_rng(1)
    whites = {random_plate(rng, "white") for _ in range(200)}
    yellows = {random_plate(rng, "yellow") for _ in range(300)}
    assert len(whites) > 150
    assert any(t.endswith("警") for t in whites)
    assert any(t.endswith("挂") for t in yellows) and any(t.endswith("学") for t in yellows)


@pytest.mark.parametrize("text, plate_type", [
    ("粤A12345", "green"), ("粤AD12345", "blue"), ("粤A1234警", "blue"), ("XA12345", "blue"),
    ("粤A12345D", "green"), ("粤AI2345", "blue"), ("粤A12345", "ebike"),
])
def test_grammar_refuses_bad_numbers(text: str, plate_type: str) -> None:
    assert not obeys_grammar(text, plate_type)


def _differs_by_one_near_miss(a: str, b: str) -> str:
    assert len(a) == len(b)
    diffs = [i for i in range(len(a)) if a[i] != b[i]]
    assert len(diffs) == 1
    i = diffs[0]
    if i == 0:
        assert re.fullmatch(PROV, a[0]) and re.fullmatch(PROV, b[0])
        return "province"
    assert any(a[i] in g and b[i] in g for g in GROUPS), (a, b)
    return f"{a[i]}/{b[i]}"


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), plate_type=st.sampled_from(PLATE_TYPES))
def test_near_miss_is_one_confusable_substitution(seed: int, plate_type: str) -> None:
    rng = np.random.default_rng(seed)
    text = random_plate(rng, plate_type)
    missed, kind = near_miss(rng, text, plate_type)
    assert missed != text
    assert _differs_by_one_near_miss(text, missed) == kind
    assert obeys_grammar(missed, plate_type)  # a valid alternative exists for every type


def test_near_miss_covers_characters_and_provinces() -> None:
    rng = np.random.default_rng(3)
    kinds = {near_miss(rng, "粤B80125", "blue")[1] for _ in range(200)}
    assert "province" in kinds
    assert {"8/B", "0/D", "1/7", "2/Z", "5/S"} <= kinds


def test_near_miss_may_break_the_grammar_when_it_must() -> None:
    # A blue number claimed as green: no substitution makes it a valid green number.
    missed, kind = near_miss(np.random.default_rng(0), "粤A12345", "green")
    assert _differs_by_one_near_miss("粤A12345", missed) == kind
    assert not obeys_grammar(missed, "green")
    with pytest.raises(ValueError):
        near_miss(np.random.default_rng(0), "XX", "blue")


def test_unknown_type_is_refused() -> None:
    with pytest.raises(ValueError):
        random_plate(np.random.default_rng(0), "red")
    with pytest.raises(ValueError):
        near_miss(np.random.default_rng(0), "粤A12345", "red")
