"""Recipes: one versioned file per product (``products/<id>.toml``).

A site keeps its own recipe folder and names it in the configuration; the
reference line's recipes ship here.
"""

from plateline.recipes.model import Recipe, load_recipe, load_recipes

__all__ = ["Recipe", "load_recipe", "load_recipes"]
