"""Order files (``orders.md``): reading CSV or JSON Lines and checking every row.

Pure: nothing here touches the database. Every problem is collected with the row's
line number in the file (the CSV header is line 1), the field and the reason.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from plateline.contract import PLATE_TYPES
from plateline.errors import OrderImportError, RowProblem
from plateline.recipes import Recipe
from plateline.records.plates import compile_ebike_pattern, plate_problem
from plateline.records.privacy import mask_address, mask_name, mask_phone

COLUMNS: tuple[str, ...] = (
    "order_id", "product", "plate_no", "plate_type", "plate_count", "waybill_no",
    "recipient_name", "recipient_phone", "recipient_address", "status",
)
#: Every column but ``status`` (which defaults to ``open``) must be present.
REQUIRED_COLUMNS: tuple[str, ...] = COLUMNS[:-1]
SUFFIXES: dict[str, str] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}

_ORDER_ID = re.compile(r"[A-Z0-9-]{6,32}")
_WAYBILL = re.compile(r"[A-Z0-9]{10,20}")
_PHONE_CHARS = frozenset("0123456789+-() ")
_MAX_LEN = {"recipient_name": 100, "recipient_address": 500}
_FILE = "(file)"


@dataclass(frozen=True, repr=False)
class OrderRow:
    """One checked order of a file; ``line`` is its line number in the file."""

    line: int
    order_id: str
    product: str
    plate_no: str | None
    plate_type: str | None
    plate_count: int
    waybill_no: str
    recipient_name: str
    recipient_phone: str
    recipient_address: str
    status: str = "open"

    def values(self) -> dict[str, object]:
        """The stored fields of the order (everything but ``line`` and ``order_id``)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in ("line", "order_id")}

    def __repr__(self) -> str:  # personal data masked: rows end up in logs and tracebacks
        return (f"OrderRow(line={self.line}, order_id={self.order_id!r}, product={self.product!r}, "
                f"plate_no={self.plate_no!r}, plate_type={self.plate_type!r}, "
                f"plate_count={self.plate_count}, waybill_no={self.waybill_no!r}, "
                f"recipient_name={mask_name(self.recipient_name)!r}, "
                f"recipient_phone={mask_phone(self.recipient_phone)!r}, "
                f"recipient_address={mask_address(self.recipient_address)!r}, "
                f"status={self.status!r})")


def read_order_file(path: Path) -> bytes:
    """The bytes of an order file; OrderImportError for an unknown file type or a read error."""
    if path.suffix.lower() not in SUFFIXES:
        raise OrderImportError(
            f"order file {path.name}: unsupported file type {path.suffix or '(none)'!r}; "
            f"use {', '.join(SUFFIXES)}")
    try:
        return path.read_bytes()
    except OSError as err:
        raise OrderImportError(f"order file {path}: cannot read: {err}") from err


def refused(path: Path, problems: list[RowProblem]) -> OrderImportError:
    """The error that refuses a file, its problems sorted by row."""
    problems = sorted(problems, key=lambda p: p.row)
    bad = len({p.row for p in problems})
    return OrderImportError(
        f"order file {path.name} refused, nothing imported: "
        f"{len(problems)} problem(s) in {bad} row(s)", problems)


def check_order_data(
    path: Path, data: bytes, recipes: Mapping[str, Recipe], ebike_pattern: str
) -> tuple[list[OrderRow], list[RowProblem]]:
    """The good rows and every problem of a file's bytes (ConfigError for a bad e-bike rule)."""
    compile_ebike_pattern(ebike_pattern)
    problems: list[RowProblem] = []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        return [], [RowProblem(line, _FILE, f"not UTF-8 text (byte {err.start})")]
    if SUFFIXES[path.suffix.lower()] == "csv":
        raw = _csv_records(text, problems)
    else:
        raw = _jsonl_records(text, problems)
    if not raw and not problems:
        problems.append(RowProblem(1, _FILE, "the file holds no orders"))
    checker = _RowChecker(recipes, ebike_pattern, problems)
    rows: list[OrderRow] = []
    for line, values in raw:
        # Missing columns are reported once (CSV header) or per row (JSONL) already.
        row = checker.check(line, values, absent=set(REQUIRED_COLUMNS) - set(values))
        if row is not None:
            rows.append(row)
    return rows, problems


def _csv_records(text: str, problems: list[RowProblem]) -> list[tuple[int, dict[str, object]]]:
    """Data records as (line, {known column: value}); blank lines are skipped."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    records: list[tuple[int, dict[str, object]]] = []
    while True:
        start = reader.line_num + 1
        try:
            rec = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            problems.append(RowProblem(reader.line_num, "(line)", f"not valid CSV: {err}"))
            break
        if all(not f.strip() for f in rec):
            continue
        if header is None:
            header = [h.strip() for h in rec]
            _check_header(start, header, problems)
            continue
        if len(rec) != len(header):
            problems.append(RowProblem(
                start, "(row)", f"{len(rec)} fields where the header has {len(header)}"))
            continue
        records.append((start, {h: v for h, v in zip(header, rec) if h in COLUMNS}))
    return records


def _check_header(line: int, header: list[str], problems: list[RowProblem]) -> None:
    seen: set[str] = set()
    for name in header:
        if name in seen:
            problems.append(RowProblem(line, name or "(empty)", "column appears twice"))
        elif name not in COLUMNS:
            problems.append(RowProblem(line, name or "(empty)", "unknown column"))
        seen.add(name)
    problems.extend(RowProblem(line, c, "missing column") for c in REQUIRED_COLUMNS if c not in seen)


class _JsonObject(dict[str, object]):
    """A JSON object that remembers keys given twice (plain ``json`` keeps the last)."""

    def __init__(self, pairs: list[tuple[str, object]]):
        super().__init__(pairs)
        seen: set[str] = set()
        twice: set[str] = set()
        for key, _ in pairs:
            (twice if key in seen else seen).add(key)
        self.twice = sorted(twice)


def _jsonl_records(text: str, problems: list[RowProblem]) -> list[tuple[int, dict[str, object]]]:
    records: list[tuple[int, dict[str, object]]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line, object_pairs_hook=_JsonObject)
        except json.JSONDecodeError as err:
            problems.append(RowProblem(number, "(line)", f"not valid JSON: {err.msg}"))
            continue
        if not isinstance(obj, _JsonObject):
            problems.append(RowProblem(number, "(line)", "not a JSON object"))
            continue
        problems.extend(RowProblem(number, key, "field appears twice") for key in obj.twice)
        for key in obj:
            if key not in COLUMNS:
                problems.append(RowProblem(number, key, "unknown field"))
        problems.extend(RowProblem(number, c, "missing field")
                        for c in REQUIRED_COLUMNS if c not in obj)
        records.append((number, {k: v for k, v in obj.items() if k in COLUMNS}))
    return records


class _RowChecker:
    """Checks one record after another; remembers order ids to find duplicates."""

    def __init__(self, recipes: Mapping[str, Recipe], ebike_pattern: str,
                 problems: list[RowProblem]):
        self.recipes = recipes
        self.ebike_pattern = ebike_pattern
        self.problems = problems
        self.first_line: dict[str, int] = {}
        self.line = 0

    def check(self, line: int, raw: dict[str, object], *, absent: set[str]) -> OrderRow | None:
        """The row, or None when it has problems (added to the shared list)."""
        before = len(self.problems)
        self.line = line
        v = {name: self._text(name, raw[name]) for name in COLUMNS if name in raw}
        order_id = self._order_id(v.get("order_id"))
        recipe = self._product(v.get("product"))
        count = self._plate_count(v.get("plate_count"), recipe)
        plate_no, plate_type = self._plate(v.get("plate_no"), v.get("plate_type"), recipe)
        waybill = self._pattern("waybill_no", v.get("waybill_no"), _WAYBILL,
                                "must be 10-20 characters of A-Z and 0-9")
        name = self._personal("recipient_name", v.get("recipient_name"))
        phone = self._phone(v.get("recipient_phone"))
        address = self._personal("recipient_address", v.get("recipient_address"))
        status = self._status(v.get("status"))
        if absent or len(self.problems) > before:
            return None
        assert order_id and recipe and count is not None and waybill and name and phone
        assert address and status
        return OrderRow(line, order_id, recipe.id, plate_no, plate_type, count, waybill,
                        name, phone, address, status)

    def _bad(self, field: str, reason: str) -> None:
        self.problems.append(RowProblem(self.line, field, reason))

    def _text(self, field: str, value: object) -> str | None:
        """The field as stripped text; None (and a problem) if it is not text."""
        if value is None:
            return ""
        if field == "plate_count" and isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            self._bad(field, "must be a string" if field != "plate_count" else "must be 0, 1 or 2")
            return None
        return value.strip()

    def _order_id(self, value: str | None) -> str | None:
        order_id = self._pattern("order_id", value, _ORDER_ID,
                                 "must be 6-32 characters of A-Z, 0-9 and -")
        if order_id is not None:
            first = self.first_line.setdefault(order_id, self.line)
            if first != self.line:
                self._bad("order_id", f"{order_id} is already on row {first}")
                return None
        return order_id

    def _pattern(self, field: str, value: str | None, pattern: re.Pattern[str],
                 rule: str) -> str | None:
        if value is None:
            return None
        if not value:
            self._bad(field, "missing")
            return None
        if not pattern.fullmatch(value):
            self._bad(field, f"{rule}, not {_show(value)}")
            return None
        return value

    def _product(self, value: str | None) -> Recipe | None:
        if value is None:
            return None
        if not value:
            self._bad("product", "missing")
            return None
        recipe = self.recipes.get(value)
        if recipe is None:
            self._bad("product", f"unknown product {_show(value)}; "
                                 f"known: {', '.join(sorted(self.recipes))}")
        return recipe

    def _plate_count(self, value: str | None, recipe: Recipe | None) -> int | None:
        if value is None:
            return None
        if value not in ("0", "1", "2"):
            self._bad("plate_count", f"must be 0, 1 or 2, not {_show(value)}")
            return None
        count = int(value)
        if recipe is not None and count != recipe.plates.count:
            self._bad("plate_count",
                      f"product {recipe.id} has {recipe.plates.count} plate(s), not {count}")
            return None
        return count

    def _plate(self, number: str | None, kind: str | None,
               recipe: Recipe | None) -> tuple[str | None, str | None]:
        if recipe is not None and recipe.plates.count == 0:
            for field, value in (("plate_no", number), ("plate_type", kind)):
                if value:
                    self._bad(field, f"must be empty: product {recipe.id} has no plates")
            return None, None
        if kind is not None:
            if not kind:
                self._bad("plate_type", "missing")
            elif kind not in PLATE_TYPES:
                self._bad("plate_type", f"unknown plate type {_show(kind)}; "
                                        f"known: {', '.join(PLATE_TYPES)}")
            elif recipe is not None and kind not in recipe.plates.types:
                self._bad("plate_type", f"product {recipe.id} takes "
                                        f"{', '.join(recipe.plates.types)} plates, not {kind}")
        if number is not None:
            if not number:
                self._bad("plate_no", "missing")
            elif kind in PLATE_TYPES:
                reason = plate_problem(number, kind, ebike_pattern=self.ebike_pattern)
                if reason:
                    self._bad("plate_no", reason)
        return number or None, kind or None

    def _personal(self, field: str, value: str | None) -> str | None:
        if value is None:
            return None
        if not value:
            self._bad(field, "missing (it is printed on the label)")
            return None
        if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
            self._bad(field, "contains control characters")
            return None
        if len(value) > _MAX_LEN[field]:
            self._bad(field, f"longer than {_MAX_LEN[field]} characters")
            return None
        return value

    def _phone(self, value: str | None) -> str | None:
        if value is None:
            return None
        if not value:
            self._bad("recipient_phone", "missing (it is printed on the label)")
            return None
        digits = sum(c.isdigit() for c in value)
        if not set(value) <= _PHONE_CHARS or len(value) > 32 or not 5 <= digits <= 20:
            self._bad("recipient_phone",
                      f"not a phone number ({mask_phone(value)}): 5-20 digits, + - ( ) and spaces")
            return None
        return value

    def _status(self, value: str | None) -> str | None:
        if value is None or value == "":
            return "open"
        if value not in ("open", "cancelled"):
            self._bad("status", f"must be open or cancelled, not {_show(value)}")
            return None
        return value


def _show(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")
