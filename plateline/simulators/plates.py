"""Plate-number grammar of ``orders.md`` and generators of valid (and near-miss) plates.

The regular expressions here are written from the contract on purpose, not
imported from the controller's importer, so that the demo data checks it.
"""

from __future__ import annotations

import random
import re

from plateline.contract import PROVINCES

PROV = f"[{PROVINCES}]"
AUTH = "[A-Z]"
SERIAL_CH = "[A-HJ-NP-Z0-9]"
SERIAL_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
DIGITS = "0123456789"

#: Suffix characters each ordinary plate type may end with.
SUFFIXES: dict[str, str] = {"yellow": "挂学", "white": "警", "black": "港澳领使", "blue": ""}


def _ordinary(plate_type: str) -> str:
    suffix = SUFFIXES[plate_type]
    tail = f"(?:{SERIAL_CH}{{5}}" + (f"|{SERIAL_CH}{{4}}[{suffix}])" if suffix else ")")
    return f"{PROV}{AUTH}{tail}"


#: Whole-number patterns per plate type (``ebike``: the reference site's rule).
PLATE_PATTERNS: dict[str, re.Pattern[str]] = {
    "blue": re.compile(_ordinary("blue")),
    "yellow": re.compile(_ordinary("yellow")),
    "white": re.compile(_ordinary("white")),
    "black": re.compile(_ordinary("black")),
    "green": re.compile(f"{PROV}{AUTH}[DABCEFGHJK]{SERIAL_CH}[0-9]{{4}}"),
    "yellow_green": re.compile(f"{PROV}{AUTH}[0-9]{{5}}[DF]"),
    "ebike": re.compile(f"{PROV}{AUTH}[0-9]{{6}}"),
}

ORDER_ID_RE = re.compile(r"[A-Z0-9-]{6,32}")
WAYBILL_RE = re.compile(r"[A-Z0-9]{10,20}")

#: Characters a reader may confuse (``camera.md``); each maps to its look-alike.
NEAR_MISS: dict[str, str] = {
    "8": "B", "B": "8", "0": "D", "D": "0", "1": "7", "7": "1",
    "2": "Z", "Z": "2", "5": "S", "S": "5", "6": "G", "G": "6",
}


def plate_ok(text: str, plate_type: str) -> bool:
    """True when ``text`` follows the grammar of ``plate_type``."""
    pattern = PLATE_PATTERNS.get(plate_type)
    return bool(pattern and pattern.fullmatch(text))


def _serial(rng: random.Random, n: int, letters: int = 1) -> str:
    chars = [rng.choice(DIGITS) for _ in range(n)]
    for _ in range(letters):
        if rng.random() < 0.5:
            chars[rng.randrange(n)] = rng.choice(SERIAL_CHARS[:24])
    return "".join(chars)


def make_plate(rng: random.Random, plate_type: str, *, suffix: str = "") -> str:
    """A random number of ``plate_type`` (optionally ending with ``suffix``)."""
    prov = rng.choice(PROVINCES)
    auth = rng.choice("ABCDEFGHJKLMNPQRSTUVWXY")
    if plate_type == "green":
        text = prov + auth + rng.choice("DABCEFGHJK") + rng.choice(SERIAL_CHARS) + _serial(rng, 4, 0)
    elif plate_type == "yellow_green":
        text = prov + auth + _serial(rng, 5, 0) + rng.choice("DF")
    elif plate_type == "ebike":
        text = prov + auth + _serial(rng, 6, 0)
    elif suffix:
        if suffix in "港澳":
            prov, auth = "粤", "Z"
        text = prov + auth + _serial(rng, 4) + suffix
    else:
        text = prov + auth + _serial(rng, 5)
    if not plate_ok(text, plate_type):
        raise ValueError(f"generated {text!r} breaks the {plate_type} grammar")
    return text


def near_miss(text: str, kind: str) -> str | None:
    """``text`` with one look-alike swapped: ``kind`` is e.g. ``"8/B"`` or ``"province"``.

    The swap is made in the serial part (after the authority letter); None when
    ``text`` holds neither character of the pair.
    """
    if kind == "province":
        others = [p for p in PROVINCES if p != text[0]]
        return others[(PROVINCES.index(text[0]) + 7) % len(others)] + text[1:]
    a, b = kind.split("/")
    for i in range(2, len(text)):
        if text[i] in (a, b):
            return text[:i] + NEAR_MISS[text[i]] + text[i + 1:]
    return None
