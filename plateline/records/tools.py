"""Record tasks run from the command line: import order files, export records."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal, TextIO

from plateline.config import LineConfig
from plateline.recipes import load_recipes
from plateline.records.db import make_engine, make_sessionmaker
from plateline.records.export import EpcisConfig, export_epcis, export_jsonl
from plateline.records.orders import ImportReport, import_orders
from plateline.records.plates import DEFAULT_EBIKE_PATTERN


def import_order_files(cfg: LineConfig, files: Iterable[Path], *, user: str) -> list[ImportReport]:
    """Import each file in its own transaction (each all or nothing), in the order given."""
    recipes = load_recipes(cfg.recipes_folder)
    engine = make_engine(cfg.database.url)
    try:
        factory = make_sessionmaker(engine)
        reports = []
        for path in files:
            with factory() as session:
                reports.append(import_orders(
                    session, path, recipes=recipes,
                    ebike_pattern=cfg.orders.ebike_pattern or DEFAULT_EBIKE_PATTERN,
                    user=user, line_id=cfg.line_id))
        return reports
    finally:
        engine.dispose()


def export_records(cfg: LineConfig, out: TextIO, *, fmt: Literal["jsonl", "epcis"]) -> int:
    """Write this line's closed items to ``out``; returns how many."""
    engine = make_engine(cfg.database.url)
    try:
        with make_sessionmaker(engine)() as session:
            if fmt == "epcis":
                from zoneinfo import ZoneInfo

                epcis = EpcisConfig(id_base=cfg.export.epcis_id_base,
                                    tz=ZoneInfo(cfg.export.timezone))
                return export_epcis(session, out, line_id=cfg.line_id, config=epcis)
            return export_jsonl(session, out, line_id=cfg.line_id)
    finally:
        engine.dispose()
