"""Recipe schema, validation and loading."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from plateline.contract import PLATE_TYPES
from plateline.errors import ConfigError

_ID = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]
_VERSION = Annotated[str, Field(pattern=r"^\d+\.\d+(\.\d+)?$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlateRule(_Strict):
    count: Annotated[int, Field(ge=0, le=2)]
    types: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _types_known(self) -> PlateRule:
        unknown = [t for t in self.types if t not in PLATE_TYPES]
        if unknown:
            raise ValueError(f"unknown plate type(s) {unknown}; known: {list(PLATE_TYPES)}")
        if self.count == 0 and self.types:
            raise ValueError("a product without plates lists no plate types")
        if self.count > 0 and not self.types:
            raise ValueError("a product with plates lists the plate types it allows")
        return self


class WeightWindow(_Strict):
    min_g: Annotated[float, Field(gt=0)]
    max_g: Annotated[float, Field(gt=0)]
    allow_dynamic: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> WeightWindow:
        if self.min_g >= self.max_g:
            raise ValueError(f"min_g {self.min_g} must be below max_g {self.max_g}")
        return self


class PackerSettings(_Strict):
    bag_length_mm: Annotated[float, Field(ge=80, le=400)]
    seal_temp_c: Annotated[float, Field(ge=120, le=220)]
    speed_ppm: Annotated[float, Field(ge=0, le=1000)]


class ConveyorSettings(_Strict):
    speed_mm_s: Annotated[int, Field(ge=1, le=2000)]


class VisionSettings(_Strict):
    min_confidence: Annotated[float, Field(ge=0.0, le=1.0)]


class LabelSettings(_Strict):
    template: Annotated[str, Field(min_length=1)]


class Recipe(_Strict):
    """One product's parameters; ``version`` is stored with every item made under it."""

    id: _ID
    version: _VERSION
    number: Annotated[int, Field(ge=1, le=65535)]
    description: str = ""
    plates: PlateRule
    weight: WeightWindow
    packer: PackerSettings
    conveyor: ConveyorSettings
    vision: VisionSettings
    label: LabelSettings


def load_recipe(path: Path) -> Recipe:
    """Load and validate one recipe file; ConfigError names the file and every problem."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"recipe {path}: cannot read: {err}") from err
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}" for e in err.errors()
        )
        raise ConfigError(f"recipe {path}: {problems}") from err
    if recipe.id != path.stem:
        raise ConfigError(f"recipe {path}: id {recipe.id!r} differs from the file name")
    return recipe


def load_recipes(folder: Path | None = None) -> dict[str, Recipe]:
    """All recipes of ``folder`` (default: the reference recipes shipped with plateline)."""
    if folder is None:
        folder = Path(str(resources.files("plateline.recipes") / "products"))
    recipes = [load_recipe(p) for p in sorted(folder.glob("*.toml"))]
    if not recipes:
        raise ConfigError(f"no recipes (*.toml) in {folder}")
    numbers: dict[int, str] = {}
    for r in recipes:
        if r.number in numbers:
            raise ConfigError(f"recipes {numbers[r.number]} and {r.id} share number {r.number}")
        numbers[r.number] = r.id
    return {r.id: r for r in recipes}
