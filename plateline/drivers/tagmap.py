"""Tag maps: register addresses of a Modbus device by tag name, loaded from TOML.

The format is that of ``plateline/maps/conv_modbus.toml``::

    unit_id = 1
    [tags]
    STATE = { address = 1, type = "u16", access = "r" }
    [rings.event]
    write = "EV_WRITE"
    read = "EV_READ"
    base = 104
    slots = 16
    slot_size = 4
    fields = ["SEQ", "TYPE", "TRAY", "ARG"]

``load_tag_map("builtin:conv_modbus")`` loads a map shipped in ``plateline.maps``;
any other reference is a filesystem path. Every problem is a
:class:`~plateline.errors.ConfigError` naming the file and the tag.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from types import MappingProxyType
from typing import Any, Literal

from plateline.drivers.mapfile import load_map_file
from plateline.errors import ConfigError

TagType = Literal["u16", "u32"]
Access = Literal["r", "rw"]

REGISTER_MAX = 65535
_SIZES: dict[str, int] = {"u16": 1, "u32": 2}
_TAG_KEYS = frozenset({"address", "type", "access"})
_RING_KEYS = frozenset({"write", "read", "base", "slots", "slot_size", "fields"})
_RING_REQUIRED = _RING_KEYS - {"fields"}
_TOP_KEYS = frozenset({"unit_id", "tags", "rings"})


@dataclass(frozen=True, slots=True)
class Tag:
    """One value of the device: ``size`` holding registers from ``address``."""

    name: str
    address: int
    type: TagType
    access: Access

    @property
    def size(self) -> int:
        """Number of registers (u16: 1, u32: 2, high word first)."""
        return _SIZES[self.type]

    @property
    def end(self) -> int:
        """One past the last register of the tag."""
        return self.address + self.size

    @property
    def writable(self) -> bool:
        """True when the controller may write the tag."""
        return self.access == "rw"

    @property
    def max_value(self) -> int:
        """Largest value the tag can hold."""
        return (1 << (16 * self.size)) - 1


@dataclass(frozen=True, slots=True)
class Ring:
    """A ring buffer: two header tags (write and read counters) and a block of slots."""

    name: str
    write: str
    read: str
    base: int
    slots: int
    slot_size: int
    fields: tuple[str, ...] = ()

    @property
    def end(self) -> int:
        """One past the last register of the last slot."""
        return self.base + self.slots * self.slot_size

    def slot_address(self, index: int) -> int:
        """First register of slot ``index``."""
        if not 0 <= index < self.slots:
            raise ValueError(f"ring {self.name!r}: slot {index} outside 0..{self.slots - 1}")
        return self.base + index * self.slot_size


@dataclass(frozen=True, slots=True)
class TagMap:
    """A validated tag map: unit id, tags and rings by name, and where it came from."""

    source: str
    unit_id: int
    tags: Mapping[str, Tag]
    rings: Mapping[str, Ring] = field(default_factory=lambda: MappingProxyType({}))

    def tag(self, name: str) -> Tag:
        """The tag called ``name``; ``KeyError`` naming the map when unknown."""
        try:
            return self.tags[name]
        except KeyError:
            raise KeyError(f"{self.source}: unknown tag {name!r}") from None

    def ring(self, name: str) -> Ring:
        """The ring called ``name``; ``KeyError`` naming the map when unknown."""
        try:
            return self.rings[name]
        except KeyError:
            raise KeyError(f"{self.source}: unknown ring {name!r}") from None

    def require(self, *, tags: tuple[str, ...] = (), rings: tuple[str, ...] = (),
                writable: tuple[str, ...] = ()) -> None:
        """Check at start-up that the map has what a user needs; ConfigError if not."""
        missing = [t for t in (*tags, *writable) if t not in self.tags]
        missing += [f"ring {r}" for r in rings if r not in self.rings]
        if missing:
            raise ConfigError(f"{self.source}: missing {', '.join(missing)}")
        read_only = [t for t in writable if not self.tags[t].writable]
        if read_only:
            raise ConfigError(f"{self.source}: tags must have access \"rw\": {', '.join(read_only)}")


def load_tag_map(ref: str) -> TagMap:
    """Load and validate a tag map: ``builtin:NAME`` or a filesystem path."""
    return parse_tag_map(load_map_file(ref, "tag map"), source=ref)


def parse_tag_map(data: Mapping[str, Any], *, source: str) -> TagMap:
    """Validate a tag map already parsed from TOML; ``source`` names it in errors."""
    _no_unknown_keys(data, _TOP_KEYS, source, "top level")
    unit_id = _int(data.get("unit_id", 1), source, "unit_id", 0, 255)
    raw_tags = data.get("tags")
    if not isinstance(raw_tags, Mapping) or not raw_tags:
        raise ConfigError(f"{source}: [tags] table missing or empty")
    tags = {name: _parse_tag(source, name, spec) for name, spec in raw_tags.items()}
    _check_tag_overlaps(source, tags)
    raw_rings = data.get("rings", {})
    if not isinstance(raw_rings, Mapping):
        raise ConfigError(f"{source}: [rings] must be a table of tables")
    rings = {name: _parse_ring(source, name, spec, tags) for name, spec in raw_rings.items()}
    _check_ring_overlaps(source, rings, tags)
    return TagMap(source=source, unit_id=unit_id, tags=MappingProxyType(tags),
                  rings=MappingProxyType(rings))


def _parse_tag(source: str, name: str, spec: Any) -> Tag:
    where = f"tag {name}"
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{source}: {where}: must be a table {{address, type, access}}")
    _no_unknown_keys(spec, _TAG_KEYS, source, where)
    for key in ("address", "type", "access"):
        if key not in spec:
            raise ConfigError(f"{source}: {where}: missing {key!r}")
    type_ = spec["type"]
    if type_ not in _SIZES:
        raise ConfigError(f"{source}: {where}: type {type_!r} is not one of u16, u32")
    access = spec["access"]
    if access not in ("r", "rw"):
        raise ConfigError(f"{source}: {where}: access {access!r} is not one of r, rw")
    address = _int(spec["address"], source, f"{where}: address", 0, REGISTER_MAX + 1 - _SIZES[type_])
    return Tag(name=name, address=address, type=type_, access=access)


def _parse_ring(source: str, name: str, spec: Any, tags: Mapping[str, Tag]) -> Ring:
    where = f"ring {name}"
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{source}: {where}: must be a table")
    _no_unknown_keys(spec, _RING_KEYS, source, where)
    for key in sorted(_RING_REQUIRED):
        if key not in spec:
            raise ConfigError(f"{source}: {where}: missing {key!r}")
    for key in ("write", "read"):
        tag_name = spec[key]
        if not isinstance(tag_name, str) or tag_name not in tags:
            raise ConfigError(f"{source}: {where}: {key} tag {tag_name!r} is not in [tags]")
        if tags[tag_name].type != "u16":
            raise ConfigError(f"{source}: {where}: {key} tag {tag_name} must be u16")
    if spec["write"] == spec["read"]:
        raise ConfigError(f"{source}: {where}: write and read must be different tags")
    base = _int(spec["base"], source, f"{where}: base", 0, REGISTER_MAX)
    slots = _int(spec["slots"], source, f"{where}: slots", 1, REGISTER_MAX + 1)
    slot_size = _int(spec["slot_size"], source, f"{where}: slot_size", 1, 123)
    if base + slots * slot_size - 1 > REGISTER_MAX:
        raise ConfigError(f"{source}: {where}: slots end at register "
                          f"{base + slots * slot_size - 1}, beyond {REGISTER_MAX}")
    fields = spec.get("fields", [])
    if (not isinstance(fields, list) or not all(isinstance(f, str) and f for f in fields)
            or len(set(fields)) != len(fields)):
        raise ConfigError(f"{source}: {where}: fields must be a list of distinct names")
    if fields and len(fields) != slot_size:
        raise ConfigError(f"{source}: {where}: {len(fields)} fields for slot_size {slot_size}")
    return Ring(name=name, write=spec["write"], read=spec["read"], base=base, slots=slots,
                slot_size=slot_size, fields=tuple(fields))


def _check_tag_overlaps(source: str, tags: Mapping[str, Tag]) -> None:
    ordered = sorted(tags.values(), key=lambda t: t.address)
    for prev, cur in pairwise(ordered):
        if cur.address < prev.end:
            raise ConfigError(f"{source}: tag {cur.name} (register {cur.address}) overlaps "
                              f"tag {prev.name} (registers {prev.address}..{prev.end - 1})")


def _check_ring_overlaps(source: str, rings: Mapping[str, Ring], tags: Mapping[str, Tag]) -> None:
    for ring in rings.values():
        for tag in tags.values():
            if tag.address < ring.end and ring.base < tag.end:
                raise ConfigError(f"{source}: ring {ring.name} slots (registers {ring.base}.."
                                  f"{ring.end - 1}) overlap tag {tag.name} (register {tag.address})")
    ordered = sorted(rings.values(), key=lambda r: r.base)
    for prev, cur in pairwise(ordered):
        if cur.base < prev.end:
            raise ConfigError(f"{source}: ring {cur.name} slots overlap ring {prev.name} slots")


def _int(value: Any, source: str, where: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{source}: {where}: {value!r} is not an integer")
    if not lo <= value <= hi:
        raise ConfigError(f"{source}: {where}: {value} outside {lo}..{hi}")
    return value


def _no_unknown_keys(spec: Mapping[str, Any], allowed: frozenset[str], source: str,
                     where: str) -> None:
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ConfigError(f"{source}: {where}: unknown key(s) {', '.join(unknown)}; "
                          f"allowed: {', '.join(sorted(allowed))}")
