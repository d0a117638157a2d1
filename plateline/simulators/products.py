"""Physical packs: what a tray weighs once packed, and the window it is checked against.

The windows are the reference products' (``line.md``), read straight from the
recipe files ``plateline/recipes/products/*.toml`` (``[weight] min_g, max_g,
allow_dynamic``): the plant only needs the numbers, not the recipe model, so it
stays independent of the controller's recipe code and its validation.
"""

from __future__ import annotations

import random
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from plateline.errors import ConfigError
from plateline.simulators.views import PlateOnTray

PRODUCTS_DIR = Path(__file__).resolve().parents[1] / "recipes" / "products"
#: A real pack lands within this fraction of the window's half-width around its middle.
SPREAD = 0.25


@dataclass(frozen=True)
class ProductWeight:
    """Weight window of one product."""

    product: str
    min_g: float
    max_g: float
    allow_dynamic: bool = False

    @property
    def nominal_g(self) -> float:
        return (self.min_g + self.max_g) / 2

    def contains(self, weight_g: float) -> bool:
        return self.min_g <= weight_g <= self.max_g


@cache
def load_products(directory: Path = PRODUCTS_DIR) -> dict[str, ProductWeight]:
    """Weight windows of every product file in ``directory`` (by product id)."""
    out: dict[str, ProductWeight] = {}
    for path in sorted(directory.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            weight = data["weight"]
            out[str(data["id"])] = ProductWeight(str(data["id"]), float(weight["min_g"]),
                                                 float(weight["max_g"]),
                                                 bool(weight.get("allow_dynamic", False)))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ConfigError(f"cannot read the weight window of {path}: {err}") from err
    if not out:
        raise ConfigError(f"no product files in {directory}")
    return out


def product_window(product: str) -> ProductWeight:
    try:
        return load_products()[product]
    except KeyError as err:
        raise ConfigError(f"no reference product {product!r}") from err


def physical_product(plates: Sequence[PlateOnTray]) -> str:
    """The product a tray's contents look like: documents, one plate, an e-bike plate, a pair."""
    if not plates:
        return "licence-doc"
    if len(plates) == 1:
        return "ebike-plate" if plates[0].plate_type == "ebike" else "plate-single"
    return "plate-pair"


def pack_weight(plates: Sequence[PlateOnTray], seed: str) -> float:
    """Gross weight (g) of a packed tray: its look-alike product's window, seeded.

    More than two plates weigh a pair plus a single plate's worth each.
    """
    rng = random.Random(seed)
    window = product_window(physical_product(plates))
    half = (window.max_g - window.min_g) / 2
    weight = window.nominal_g + rng.uniform(-SPREAD, SPREAD) * half
    if len(plates) > 2:
        single = product_window("plate-single").nominal_g
        weight += (len(plates) - 2) * single
    return round(weight, 1)
