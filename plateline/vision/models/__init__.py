"""Glyph models shipped with plateline (``default.npz``)."""
