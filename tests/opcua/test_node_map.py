from __future__ import annotations

from pathlib import Path

import pytest

from plateline.drivers.opcua import RESULT_ARRAYS
from plateline.drivers.opcua_nodes import NodeMap, load_node_map
from plateline.errors import ConfigError
from plateline.simulators.packer_machine import NAMESPACE, NODES


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "map.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_builtin_map_is_exactly_the_contract(node_map: NodeMap) -> None:
    assert node_map.namespace == NAMESPACE == "urn:plateline:packer"
    by_id = {spec.id: spec for spec in node_map.nodes.values()}
    assert set(by_id) == {n.path for n in NODES}
    for node in NODES:
        spec = by_id[node.path]
        assert (spec.type, spec.writable, spec.length, spec.namespace) == (
            node.type, node.writable, node.length, NAMESPACE), node.path
    node_map.require(tags=("STATE", "HEARTBEAT"), arrays=RESULT_ARRAYS,
                     writable=("CNTRL_CMD", "CMD_CHANGE_REQUEST", "MACH_SPEED", "BAG_LENGTH_MM",
                               "SEAL_TEMP_C", "RECIPE_NO"))


def test_file_map_with_own_namespace_per_tag(tmp_path: Path) -> None:
    m = load_node_map(write(tmp_path, """
namespace = "urn:site:plc"
[nodes]
A = { id = "DB1.A", type = "Int32", access = "r" }
B = { id = "DB1.B", type = "Float", access = "rw", namespace = "urn:site:other" }
"""))
    assert m.node("A").namespace == "urn:site:plc" and m.node("B").namespace == "urn:site:other"
    assert m.namespaces() == {"urn:site:plc", "urn:site:other"}
    with pytest.raises(KeyError, match="unknown tag 'C'"):
        m.node("C")


@pytest.mark.parametrize("text, message", [
    ('namespace = "urn:x"\n[nodes]\nA = { id = "a", type = "Int64", access = "r" }', "type 'Int64'"),
    ('namespace = "urn:x"\n[nodes]\nA = { id = "a", type = "Int32", access = "w" }', "access 'w'"),
    ('namespace = "urn:x"\n[nodes]\nA = { id = "a", type = "Int32" }', "missing 'access'"),
    ('namespace = "urn:x"\n[nodes]\nA = { id = "a", type = "Int32", access = "r", x = 1 }',
     "unknown key"),
    ('namespace = "urn:x"\n[nodes]\nA = { id = "a", type = "Int32", access = "rw", length = 4 }',
     "arrays are read-only"),
    ('namespace = "urn:x"\n[nodes]\nA = { id = "a", type = "Int32", access = "r", length = 0 }',
     "length must be"),
    (('namespace = "urn:x"\n[nodes]\nA = { id = "a", type = "Int32", access = "r" }\n'
      'B = { id = "a", type = "Int32", access = "r" }'), "name the same node"),
    ('namespace = "packer"\n[nodes]\nA = { id = "a", type = "Int32", access = "r" }',
     "namespace URI"),
    ('namespace = "urn:x"\n[nodes]\n', "missing or empty"),
    ('namespace = "urn:x"\nunit_id = 1\n[nodes]\nA = { id = "a", type = "Int32", access = "r" }',
     "unknown key"),
    ('namespace = "urn:x"\n[nodes\n', "not valid TOML"),
])
def test_bad_maps_are_config_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_node_map(write(tmp_path, text))


def test_unknown_builtin_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="known: .*builtin:packer_opcua"):
        load_node_map("builtin:nope")
    with pytest.raises(ConfigError, match="cannot read"):
        load_node_map(str(tmp_path / "none.toml"))


def test_require_names_what_is_missing_or_wrong(node_map: NodeMap) -> None:
    with pytest.raises(ConfigError, match="missing NOPE"):
        node_map.require(tags=("NOPE",))
    with pytest.raises(ConfigError, match="STATE"):
        node_map.require(writable=("STATE",))
    with pytest.raises(ConfigError, match="LAST_PACK must be an integer array of length 8"):
        node_map.require(arrays={"LAST_PACK": 8})
