"""Plate-number grammar of ``orders.md`` (GA 36-2018 motor-vehicle plates, site e-bike rule).

``plate_problem`` tells why a number breaks the grammar of its type, or returns None.
Motor-vehicle rules are code; the electric-bicycle rule is the issuing city's and comes
from the site configuration as a regular expression.
"""

from __future__ import annotations

import re
from functools import lru_cache

from plateline.contract import PLATE_SUFFIXES, PLATE_TYPES, PROVINCES
from plateline.errors import ConfigError

#: Serial characters of ordinary plates: A-Z and 0-9 without I and O.
SERIAL_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
_SERIAL = "[A-HJ-NP-Z0-9]"

#: Which suffix (last serial character) each ordinary plate type may carry.
SUFFIXES_BY_TYPE: dict[str, str] = {"blue": "", "yellow": "挂学", "white": "警", "black": "港澳领使"}

#: Full-number patterns of the motor-vehicle plate types (use with ``fullmatch``).
PLATE_PATTERNS: dict[str, re.Pattern[str]] = {
    **{
        t: re.compile(
            f"[{PROVINCES}][A-Z]" + (f"(?:{_SERIAL}{{5}}|{_SERIAL}{{4}}[{s}])" if s else f"{_SERIAL}{{5}}")
        )
        for t, s in SUFFIXES_BY_TYPE.items()
    },
    "green": re.compile(f"[{PROVINCES}][A-Z][DABCEFGHJK]{_SERIAL}[0-9]{{4}}"),
    "yellow_green": re.compile(f"[{PROVINCES}][A-Z][0-9]{{5}}[DF]"),
}

#: The reference site's electric-bicycle rule: province, city letter, six digits.
DEFAULT_EBIKE_PATTERN = f"^[{PROVINCES}][A-Z][0-9]{{6}}$"

_SERIAL_LENGTH = {"green": 6, "yellow_green": 6, **{t: 5 for t in SUFFIXES_BY_TYPE}}


@lru_cache(maxsize=16)
def compile_ebike_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a site's e-bike plate rule; ConfigError if it is no usable regular expression.

    The pattern must match the whole number (it is applied with ``fullmatch``); ``\\d`` and
    ``\\w`` mean ASCII only.
    """
    if not isinstance(pattern, str) or not pattern:
        raise ConfigError("e-bike plate pattern is empty; set the issuing city's rule")
    try:
        compiled = re.compile(pattern, re.ASCII)
    except re.error as err:
        where = f" at position {err.pos}" if err.pos is not None else ""
        raise ConfigError(
            f"e-bike plate pattern {pattern!r} is not a valid regular expression: {err.msg}{where}"
        ) from err
    if compiled.fullmatch(""):
        raise ConfigError(f"e-bike plate pattern {pattern!r} accepts an empty plate number")
    return compiled


def plate_problem(plate_no: str, plate_type: str, *, ebike_pattern: str) -> str | None:
    """Why ``plate_no`` breaks the grammar of ``plate_type``, or None when it is valid.

    Raises ConfigError when ``ebike_pattern`` is not a usable regular expression.
    """
    ebike = compile_ebike_pattern(ebike_pattern)
    if plate_type not in PLATE_TYPES:
        return f"unknown plate type {plate_type!r}; known: {', '.join(PLATE_TYPES)}"
    if not plate_no:
        return "plate number is empty"
    if plate_type == "ebike":
        if ebike.fullmatch(plate_no):
            return None
        return f"{plate_no!r} does not follow the site's e-bike plate rule {ebike_pattern!r}"
    return _motor_problem(plate_no, plate_type)


def _motor_problem(plate_no: str, plate_type: str) -> str | None:
    if PLATE_PATTERNS[plate_type].fullmatch(plate_no):
        return None
    expected = 2 + _SERIAL_LENGTH[plate_type]
    if plate_no[0] not in PROVINCES:
        return f"{plate_no[0]!r} is not a province abbreviation"
    if len(plate_no) != expected:
        return f"a {plate_type} plate has {expected} characters, {plate_no!r} has {len(plate_no)}"
    if not ("A" <= plate_no[1] <= "Z"):
        return f"issuing-authority letter {plate_no[1]!r} is not one of A-Z"
    serial = plate_no[2:]
    if "I" in serial or "O" in serial:
        return "letters I and O are not used in plate serials"
    detail = _serial_problem(serial, plate_type)
    return detail or f"{plate_no!r} is not a valid {plate_type} plate number"


def _serial_problem(serial: str, plate_type: str) -> str | None:
    if plate_type == "green":
        if serial[0] not in "DABCEFGHJK":
            return f"a green plate's serial starts with one of D A B C E F G H J K, not {serial[0]!r}"
        if serial[1] not in SERIAL_CHARS:
            return f"{serial[1]!r} is not allowed in a plate serial"
        return "a green plate's serial ends with four digits"
    if plate_type == "yellow_green":
        if not all(c in "0123456789" for c in serial[:5]):
            return "a yellow_green plate's serial starts with five digits"
        return f"a yellow_green plate's serial ends with D or F, not {serial[5]!r}"
    for c in serial[:-1]:
        if c not in SERIAL_CHARS:
            return f"{c!r} is not allowed in a plate serial"
    last = serial[-1]
    if last in PLATE_SUFFIXES:
        allowed_on = [t for t, s in SUFFIXES_BY_TYPE.items() if last in s]
        return f"suffix {last!r} is allowed only on {' and '.join(allowed_on)} plates"
    return f"{last!r} is not allowed in a plate serial"
