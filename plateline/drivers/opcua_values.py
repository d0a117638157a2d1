"""Python values <-> OPC UA variants, by the data type a node map gives each tag.

Writes are checked before anything is sent: a value that does not fit the tag's
type is a TypeError / ValueError here, not a BadTypeMismatch from the server.
"""

from __future__ import annotations

import math
from typing import Any

from asyncua import ua

from plateline.drivers.opcua_nodes import NodeSpec
from plateline.errors import ProtocolError

_INTEGERS: dict[str, tuple[ua.VariantType, int, int]] = {
    "Int32": (ua.VariantType.Int32, -(2**31), 2**31 - 1),
    "UInt32": (ua.VariantType.UInt32, 0, 2**32 - 1),
    "Int16": (ua.VariantType.Int16, -(2**15), 2**15 - 1),
    "UInt16": (ua.VariantType.UInt16, 0, 2**16 - 1),
}
_FLOATS = {"Float": ua.VariantType.Float, "Double": ua.VariantType.Double}
_FLOAT32_MAX = 3.4028234663852886e38


def from_datavalue(spec: NodeSpec, dv: ua.DataValue) -> Any:
    """The Python value of a read (a list for arrays); ProtocolError if it has none."""
    value = dv.Value.Value if dv.Value is not None else None
    if spec.is_array:
        if not isinstance(value, list) or len(value) != spec.length:
            raise ProtocolError(f"{spec.name}: expected {spec.length} values, got {value!r}")
        return list(value)
    if value is None:
        raise ProtocolError(f"{spec.name}: node has no value")
    return value


def to_variant(spec: NodeSpec, value: Any) -> ua.Variant:
    """The OPC UA variant for ``value`` as the map says; TypeError / ValueError if it cannot be."""
    kind = spec.type
    if kind == "Boolean":
        if not isinstance(value, bool):
            raise TypeError(f"{spec.name}: {value!r} is not a bool")
        return ua.Variant(value, ua.VariantType.Boolean)
    if kind == "String":
        if not isinstance(value, str):
            raise TypeError(f"{spec.name}: {value!r} is not a str")
        return ua.Variant(value, ua.VariantType.String)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{spec.name}: {value!r} is not a number")
    if kind in ("Float", "Double"):
        number = float(value)
        if not math.isfinite(number) or (kind == "Float" and abs(number) > _FLOAT32_MAX):
            raise ValueError(f"{spec.name}: {value!r} does not fit a {kind}")
        return ua.Variant(number, _FLOATS[kind])
    if not isinstance(value, int):
        raise TypeError(f"{spec.name}: {value!r} is not an integer")
    vtype, lo, hi = _INTEGERS[kind]
    if not lo <= value <= hi:
        raise ValueError(f"{spec.name}: {value} outside {lo}..{hi} ({kind})")
    return ua.Variant(value, vtype)


__all__ = ["from_datavalue", "to_variant"]
