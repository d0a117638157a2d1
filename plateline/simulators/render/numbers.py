"""Random plate numbers that obey the grammar of ``orders.md``, and near misses of them.

Electric-bicycle plates follow the issuing city's rule, which is site configuration; the
simulator uses the rule of its reference site: ``<province><A-Z><6 digits>`` (for example
``粤A123456``), the province and the letter in the top row, the six digits below.
"""

from __future__ import annotations

import re

import numpy as np

from plateline.contract import PLATE_TYPES, PROVINCES

#: Serial characters of motor-vehicle plates: A–Z without I and O, and 0–9.
SERIAL_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
DIGITS = "0123456789"
SERIAL_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
AUTHORITY_LETTERS = "ABCDEFGHJKLMNOPQRSTUVWXYZ"  # A–Z; I is never issued

#: Suffixes each ordinary type may end with (``orders.md``).
SUFFIXES: dict[str, str] = {"blue": "", "yellow": "挂学", "white": "警", "black": "港澳领使"}

#: Characters a reader may confuse; a near miss swaps one for another of its group.
NEAR_MISS_GROUPS: tuple[str, ...] = ("8B", "0DQ", "17", "2Z", "5S", "6G")

_P = f"[{PROVINCES}]"
_S = "[A-HJ-NP-Z0-9]"
_GRAMMAR: dict[str, re.Pattern[str]] = {
    "blue": re.compile(f"^{_P}[A-Z]{_S}{{5}}$"),
    "yellow": re.compile(f"^{_P}[A-Z]{_S}{{4}}(?:{_S}|[挂学])$"),
    "white": re.compile(f"^{_P}[A-Z]{_S}{{4}}(?:{_S}|警)$"),
    "black": re.compile(f"^{_P}[A-Z]{_S}{{4}}(?:{_S}|[港澳领使])$"),
    "green": re.compile(f"^{_P}[A-Z][DABCEFGHJK]{_S}[0-9]{{4}}$"),
    "yellow_green": re.compile(f"^{_P}[A-Z][0-9]{{5}}[DF]$"),
    "ebike": re.compile(f"^{_P}[A-Z][0-9]{{6}}$"),
}


def obeys_grammar(text: str, plate_type: str) -> bool:
    """True when ``text`` is a valid number for ``plate_type`` (ebike: the reference rule)."""
    return bool(_GRAMMAR[_check_type(plate_type)].match(text))


def _check_type(plate_type: str) -> str:
    if plate_type not in PLATE_TYPES:
        raise ValueError(f"unknown plate type {plate_type!r}; expected one of {PLATE_TYPES}")
    return plate_type


def _pick(rng: np.random.Generator, chars: str) -> str:
    return chars[int(rng.integers(len(chars)))]


def _serial(rng: np.random.Generator, n: int, letter_share: float = 0.15) -> str:
    return "".join(_pick(rng, SERIAL_LETTERS if rng.random() < letter_share else DIGITS)
                   for _ in range(n))


def random_plate(rng: np.random.Generator, plate_type: str) -> str:
    """A random plate number of ``plate_type`` obeying the grammar of ``orders.md``."""
    _check_type(plate_type)
    head = _pick(rng, PROVINCES) + _pick(rng, AUTHORITY_LETTERS)
    if plate_type == "green":
        first = "DF"[int(rng.integers(2))] if rng.random() < 0.8 else _pick(rng, "ABCEGHJK")
        return head + first + _serial(rng, 1, 0.3) + _serial(rng, 4, 0.0)
    if plate_type == "yellow_green":
        return head + _serial(rng, 5, 0.0) + _pick(rng, "DF")
    if plate_type == "ebike":
        return head + _serial(rng, 6, 0.0)
    suffixes = SUFFIXES[plate_type]
    suffix_share = {"blue": 0.0, "yellow": 0.2, "white": 0.85, "black": 0.8}[plate_type]
    if suffixes and rng.random() < suffix_share:
        return head + _serial(rng, 4) + _pick(rng, suffixes)
    return head + _serial(rng, 5)


def _candidates(text: str) -> list[tuple[int, str, str]]:
    """Every single substitution (position, new char, kind) that makes a near miss."""
    out: list[tuple[int, str, str]] = []
    if text and text[0] in PROVINCES:
        out += [(0, p, "province") for p in PROVINCES if p != text[0]]
    for i, ch in enumerate(text):
        if i == 0:
            continue
        for group in NEAR_MISS_GROUPS:
            if ch in group:
                out += [(i, other, f"{ch}/{other}") for other in group if other != ch]
    return out


def near_miss(rng: np.random.Generator, text: str, plate_type: str) -> tuple[str, str]:
    """``text`` with one near-miss substitution; returns ``(new_text, kind)``.

    ``kind`` is ``"province"`` or ``"<old>/<new>"`` (e.g. ``"8/B"``). Substitutions that
    keep the number valid for ``plate_type`` are preferred (an order must obey the
    grammar); when none exists the grammar may break, which is fine for trials.
    """
    _check_type(plate_type)
    candidates = _candidates(text)
    if not candidates:
        raise ValueError(f"no near-miss substitution applies to {text!r}")
    by_kind: dict[str, list[tuple[int, str, str]]] = {}
    for cand in candidates:
        i, new, _ = cand
        if obeys_grammar(text[:i] + new + text[i + 1:], plate_type):
            by_kind.setdefault("province" if i == 0 else "char", []).append(cand)
    if not by_kind:
        by_kind = {"any": candidates}
    # Choose a province swap or a character swap evenly, then one of its substitutions.
    kinds = sorted(by_kind)
    pool = by_kind[kinds[int(rng.integers(len(kinds)))]]
    i, new, kind = pool[int(rng.integers(len(pool)))]
    return text[:i] + new + text[i + 1:], kind
