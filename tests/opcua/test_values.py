"""Python values to OPC UA variants: checked before anything is sent."""

from __future__ import annotations

import math
from typing import Any

import pytest
from asyncua import ua
from hypothesis import given
from hypothesis import strategies as st

from plateline.drivers.opcua_nodes import NodeSpec
from plateline.drivers.opcua_values import from_datavalue, to_variant
from plateline.errors import ProtocolError


def spec(kind: str, length: int | None = None) -> NodeSpec:
    return NodeSpec(name="T", id="x", type=kind, access="rw" if length is None else "r",  # type: ignore[arg-type]
                    namespace="urn:x", length=length)


@pytest.mark.parametrize("kind, value, vtype", [
    ("Int32", -(2**31), ua.VariantType.Int32), ("UInt32", 2**32 - 1, ua.VariantType.UInt32),
    ("Int16", 7, ua.VariantType.Int16), ("UInt16", 0, ua.VariantType.UInt16),
    ("Float", 3, ua.VariantType.Float), ("Double", 1e300, ua.VariantType.Double),
    ("Boolean", False, ua.VariantType.Boolean), ("String", "", ua.VariantType.String),
])
def test_each_type_gets_its_variant(kind: str, value: Any, vtype: ua.VariantType) -> None:
    variant = to_variant(spec(kind), value)
    assert variant.VariantType == vtype and variant.Value == value


@pytest.mark.parametrize("kind, value, error", [
    ("Int32", 2**31, ValueError), ("UInt32", -1, ValueError), ("Int16", 1.0, TypeError),
    ("Int32", True, TypeError), ("Float", math.inf, ValueError), ("Float", 1e39, ValueError),
    ("Float", "1", TypeError), ("Boolean", 1, TypeError), ("String", 5, TypeError),
])
def test_values_that_do_not_fit_are_refused(kind: str, value: Any,
                                            error: type[Exception]) -> None:
    with pytest.raises(error):
        to_variant(spec(kind), value)


@given(st.integers())
def test_int32_accepts_exactly_its_range(value: int) -> None:
    if -(2**31) <= value < 2**31:
        assert to_variant(spec("Int32"), value).Value == value
    else:
        with pytest.raises(ValueError):
            to_variant(spec("Int32"), value)


def test_reads_check_array_length_and_presence() -> None:
    dv = ua.DataValue(ua.Variant([1, 2, 3, 4], ua.VariantType.Int32))
    assert from_datavalue(spec("Int32", 4), dv) == [1, 2, 3, 4]
    with pytest.raises(ProtocolError, match="expected 128 values"):
        from_datavalue(spec("Int32", 128), dv)
    with pytest.raises(ProtocolError, match="no value"):
        from_datavalue(spec("Int32"), ua.DataValue())
