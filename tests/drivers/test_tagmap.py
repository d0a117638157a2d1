from __future__ import annotations

from pathlib import Path

import pytest

from plateline.drivers.tagmap import TagMap, load_tag_map
from plateline.errors import ConfigError

GOOD = """
unit_id = 7
[tags]
A = { address = 0, type = "u16", access = "r" }
B = { address = 1, type = "u32", access = "rw" }
W = { address = 10, type = "u16", access = "r" }
R = { address = 11, type = "u16", access = "rw" }
[rings.ev]
write = "W"
read = "R"
base = 14
slots = 4
slot_size = 2
fields = ["SEQ", "X"]
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "map.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_builtin_conv_map_matches_the_contract(conv_map: TagMap) -> None:
    assert conv_map.unit_id == 1
    assert conv_map.source == "builtin:conv_modbus"
    assert conv_map.tag("CMD").address == 21 and conv_map.tag("CMD").writable
    assert conv_map.tag("COUNT_IN").type == "u32" and conv_map.tag("COUNT_IN").size == 2
    assert not conv_map.tag("STATE").writable
    ev = conv_map.ring("event")
    assert (ev.base, ev.slots, ev.slot_size, ev.end) == (104, 16, 4, 168)
    assert conv_map.ring("verdict").slot_address(7) == 204 + 28
    conv_map.require(tags=("STATE", "BOOT_COUNT"), rings=("event", "verdict"),
                     writable=("CMD", "CMD_SEQ", "HEARTBEAT_CTRL"))


def test_file_map_loads(tmp_path: Path) -> None:
    m = load_tag_map(write(tmp_path, GOOD))
    assert m.unit_id == 7
    assert m.tag("B").max_value == 2**32 - 1
    assert m.ring("ev").fields == ("SEQ", "X")
    with pytest.raises(KeyError, match="unknown tag 'NOPE'"):
        m.tag("NOPE")


def test_require_names_missing_and_read_only(conv_map: TagMap) -> None:
    with pytest.raises(ConfigError, match="missing NOPE, ring nope"):
        conv_map.require(tags=("NOPE",), rings=("nope",))
    with pytest.raises(ConfigError, match="STATE"):
        conv_map.require(writable=("STATE",))


def test_unknown_builtin_lists_known() -> None:
    with pytest.raises(ConfigError, match="builtin:conv_modbus"):
        load_tag_map("builtin:nope")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read tag map"):
        load_tag_map(str(tmp_path / "absent.toml"))


def test_bad_toml_names_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[tags\n")
    with pytest.raises(ConfigError, match=f"{path}: not valid TOML"):
        load_tag_map(path)


@pytest.mark.parametrize(("old", "new", "message"), [
    ('B = { address = 1, type = "u32"', 'B = { address = 0, type = "u32"',
     r"tag (A|B) \(register 0\) overlaps tag (A|B)"),
    ('W = { address = 10', 'W = { address = 2', r"tag W \(register 2\) overlaps tag B"),
    ('type = "u32"', 'type = "i32"', r"tag B: type 'i32' is not one of u16, u32"),
    ('access = "rw" }\nW', 'access = "w" }\nW', r"tag B: access 'w' is not one of r, rw"),
    ('A = { address = 0,', 'A = { address = -1,', r"tag A: address: -1 outside 0..65535"),
    ('A = { address = 0,', 'A = { address = 65536,', r"tag A: address: 65536 outside"),
    ('B = { address = 1,', 'B = { address = 65535,', r"tag B: address: 65535 outside 0..65534"),
    ('A = { address = 0,', 'A = { address = "0",', r"tag A: address: '0' is not an integer"),
    ('A = { address = 0, type = "u16", access = "r" }',
     'A = { address = 0, type = "u16", access = "r", scale = 2 }', r"tag A: unknown key\(s\) scale"),
    ('A = { address = 0, type = "u16", access = "r" }', 'A = { address = 0, type = "u16" }',
     r"tag A: missing 'access'"),
    ('write = "W"', 'write = "NOPE"', r"ring ev: write tag 'NOPE' is not in \[tags\]"),
    ('read = "R"', 'read = "B"', r"ring ev: read tag B must be u16"),
    ('read = "R"', 'read = "W"', r"ring ev: write and read must be different"),
    ('base = 14', 'base = 9', r"ring ev slots \(registers 9..16\) overlap tag (W|R)"),
    ('base = 14', 'base = 65530', r"ring ev: slots end at register 65537, beyond 65535"),
    ('base = 14', 'base = 70000', r"ring ev: base: 70000 outside 0..65535"),
    ('slots = 4', 'slots = 0', r"ring ev: slots: 0 outside"),
    ('slot_size = 2', 'slot_size = 3', r"ring ev: 2 fields for slot_size 3"),
    ('fields = ["SEQ", "X"]', 'fields = ["SEQ", "SEQ"]', r"ring ev: fields must be a list"),
    ('slots = 4\n', '', r"ring ev: missing 'slots'"),
    ('unit_id = 7', 'unit_id = 256', r"unit_id: 256 outside 0..255"),
    ('unit_id = 7', 'unit_id = true', r"unit_id: True is not an integer"),
    ('unit_id = 7', 'unitid = 7', r"top level: unknown key\(s\) unitid"),
])
def test_validation_errors_name_file_and_tag(tmp_path: Path, old: str, new: str,
                                             message: str) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError, match=message) as info:
        load_tag_map(path)
    assert str(info.value).startswith(path)


def test_rings_must_not_overlap(tmp_path: Path) -> None:
    text = GOOD + """
[rings.vd]
write = "A"
read = "R"
base = 20
slots = 2
slot_size = 2
"""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match="ring vd slots overlap ring ev slots"):
        load_tag_map(path)


def test_empty_tags_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[tags\] table missing or empty"):
        load_tag_map(write(tmp_path, "unit_id = 1\n[tags]\n"))
