"""Reading a map file: ``builtin:NAME`` (shipped in ``plateline.maps``) or a path, as TOML."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from plateline.errors import ConfigError

BUILTIN_PREFIX = "builtin:"


def load_map_file(ref: str, kind: str) -> dict[str, Any]:
    """The parsed TOML of map ``ref``; ConfigError naming it (a ``kind`` such as
    "tag map") when it is unknown, unreadable or not TOML."""
    if ref.startswith(BUILTIN_PREFIX):
        name = ref[len(BUILTIN_PREFIX):]
        pkg = resources.files("plateline.maps")
        res = pkg / f"{name}.toml"
        if not name or "/" in name or not res.is_file():
            known = sorted(p.name[:-5] for p in pkg.iterdir() if p.name.endswith(".toml"))
            raise ConfigError(f"unknown built-in {kind} {ref!r}; known: "
                              + ", ".join(BUILTIN_PREFIX + k for k in known))
        text = res.read_text(encoding="utf-8")
    else:
        try:
            text = Path(ref).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"{ref}: cannot read {kind}: {err}") from err
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{ref}: not valid TOML: {err}") from err


__all__ = ["BUILTIN_PREFIX", "load_map_file"]
