"""Node maps: OPC UA nodes of a device by tag name, loaded from TOML.

The format is that of ``plateline/maps/packer_opcua.toml``::

    namespace = "urn:plateline:packer"
    [nodes]
    STATE     = { id = "Packer.Status.StateCurrent", type = "Int32", access = "r" }
    LAST_PACK = { id = "Packer.Result.LastPack", type = "Int32", access = "r", length = 4 }

``id`` is the node's string identifier in ``namespace`` (a namespace URI: its index
is looked up at every connect, since servers may number namespaces differently
after a restart). ``load_node_map("builtin:packer_opcua")`` loads a map shipped in
``plateline.maps``; anything else is a filesystem path. Every problem is a
:class:`~plateline.errors.ConfigError` naming the file and the tag.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from plateline.drivers.mapfile import load_map_file
from plateline.errors import ConfigError

NodeType = Literal["Int32", "UInt32", "Int16", "UInt16", "Float", "Double", "Boolean", "String"]
Access = Literal["r", "rw"]

NODE_TYPES: tuple[str, ...] = ("Int32", "UInt32", "Int16", "UInt16", "Float", "Double", "Boolean",
                               "String")
_NODE_KEYS = frozenset({"id", "type", "access", "length", "namespace"})
_TOP_KEYS = frozenset({"namespace", "nodes"})
_MAX_LENGTH = 65536


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """One node of the device: its string id in ``namespace``, data type and access."""

    name: str
    id: str
    type: NodeType
    access: Access
    namespace: str
    length: int | None = None

    @property
    def writable(self) -> bool:
        """True when the controller may write the node."""
        return self.access == "rw"

    @property
    def is_array(self) -> bool:
        return self.length is not None


@dataclass(frozen=True, slots=True)
class NodeMap:
    """A validated node map: nodes by tag name and where the map came from."""

    source: str
    namespace: str
    nodes: Mapping[str, NodeSpec]

    def node(self, name: str) -> NodeSpec:
        """The node called ``name``; ``KeyError`` naming the map when unknown."""
        try:
            return self.nodes[name]
        except KeyError:
            raise KeyError(f"{self.source}: unknown tag {name!r}") from None

    def namespaces(self) -> frozenset[str]:
        """Every namespace URI the map uses."""
        return frozenset(n.namespace for n in self.nodes.values())

    def require(self, *, tags: tuple[str, ...] = (), writable: tuple[str, ...] = (),
                arrays: Mapping[str, int] | None = None) -> None:
        """Check at start-up that the map has what a user needs; ConfigError if not."""
        missing = [t for t in (*tags, *writable, *(arrays or {})) if t not in self.nodes]
        if missing:
            raise ConfigError(f"{self.source}: missing {', '.join(dict.fromkeys(missing))}")
        read_only = [t for t in writable if not self.nodes[t].writable]
        if read_only:
            raise ConfigError(f"{self.source}: tags must have access \"rw\": {', '.join(read_only)}")
        for tag, length in (arrays or {}).items():
            spec = self.nodes[tag]
            if spec.length != length or spec.type not in ("Int32", "UInt32", "Int16", "UInt16"):
                raise ConfigError(f"{self.source}: tag {tag} must be an integer array of "
                                  f"length {length}")


def load_node_map(ref: str) -> NodeMap:
    """Load and validate a node map: ``builtin:NAME`` or a filesystem path."""
    return parse_node_map(load_map_file(ref, "node map"), source=ref)


def parse_node_map(data: Mapping[str, Any], *, source: str) -> NodeMap:
    """Validate a node map already parsed from TOML; ``source`` names it in errors."""
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)} at top level; "
                          f"allowed: {', '.join(sorted(_TOP_KEYS))}")
    namespace = _namespace(data.get("namespace"), source, "namespace")
    raw = data.get("nodes")
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(f"{source}: [nodes] table missing or empty")
    nodes = {name: _parse_node(source, name, spec, namespace) for name, spec in raw.items()}
    seen: dict[tuple[str, str], str] = {}
    for spec in nodes.values():
        key = (spec.namespace, spec.id)
        if key in seen:
            raise ConfigError(f"{source}: tags {seen[key]} and {spec.name} name the same node "
                              f"{spec.id!r}")
        seen[key] = spec.name
    return NodeMap(source=source, namespace=namespace, nodes=MappingProxyType(nodes))


def _parse_node(source: str, name: str, spec: Any, namespace: str) -> NodeSpec:
    where = f"tag {name}"
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{source}: {where}: must be a table {{id, type, access}}")
    unknown = sorted(set(spec) - _NODE_KEYS)
    if unknown:
        raise ConfigError(f"{source}: {where}: unknown key(s) {', '.join(unknown)}; "
                          f"allowed: {', '.join(sorted(_NODE_KEYS))}")
    for key in ("id", "type", "access"):
        if key not in spec:
            raise ConfigError(f"{source}: {where}: missing {key!r}")
    node_id = spec["id"]
    if not isinstance(node_id, str) or not node_id.strip():
        raise ConfigError(f"{source}: {where}: id must be a non-empty string")
    type_ = spec["type"]
    if type_ not in NODE_TYPES:
        raise ConfigError(f"{source}: {where}: type {type_!r} is not one of {', '.join(NODE_TYPES)}")
    access = spec["access"]
    if access not in ("r", "rw"):
        raise ConfigError(f"{source}: {where}: access {access!r} is not one of r, rw")
    length = spec.get("length")
    if length is not None:
        if isinstance(length, bool) or not isinstance(length, int) or not 1 <= length <= _MAX_LENGTH:
            raise ConfigError(f"{source}: {where}: length must be an integer 1..{_MAX_LENGTH}")
        if access == "rw":
            raise ConfigError(f"{source}: {where}: arrays are read-only here (access \"r\")")
    ns = _namespace(spec.get("namespace", namespace), source, f"{where}: namespace")
    return NodeSpec(name=name, id=node_id, type=type_, access=access, namespace=ns, length=length)


def _namespace(value: Any, source: str, where: str) -> str:
    if not isinstance(value, str) or ":" not in value:
        raise ConfigError(f"{source}: {where}: must be a namespace URI such as "
                          f"\"urn:plateline:packer\", got {value!r}")
    return value


__all__ = ["NODE_TYPES", "NodeMap", "NodeSpec", "load_node_map", "parse_node_map"]
