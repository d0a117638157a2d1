"""Fixtures of the records tests: a temp-file SQLite database and the reference recipes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from plateline.recipes import Recipe, load_recipes
from plateline.records.db import make_engine, make_sessionmaker
from plateline.records.plates import DEFAULT_EBIKE_PATTERN


@pytest.fixture(scope="session")
def recipes() -> dict[str, Recipe]:
    return load_recipes()


@pytest.fixture
def ebike() -> str:
    return DEFAULT_EBIKE_PATTERN


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'db' / 'records.db'}")
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with make_sessionmaker(engine)() as s:
        yield s
