"""Subset plate fonts shipped as package data (see ``make_subsets.py`` and the licence files)."""
