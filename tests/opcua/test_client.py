"""Reads, writes, status codes and the PackML handshake against the simulator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import pytest
import pytest_asyncio

from plateline.contract import PackMLCommand as C
from plateline.contract import PackMLState as S
from plateline.drivers.opcua import OpcUaClient
from plateline.drivers.opcua_nodes import NodeMap, load_node_map
from plateline.errors import (
    ConfigError,
    DeviceClosedError,
    DeviceConnectionError,
    DeviceFault,
    DeviceTimeoutError,
)
from plateline.simulators.packer import PackerSim

from .helpers import Pki, client, secure, to_execute, wait_state

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def line(packer: PackerSim, pki: Pki, node_map: NodeMap) -> AsyncIterator[OpcUaClient]:
    async with client(packer, node_map, secure(pki, packer)) as c:
        yield c


async def stopped(c: OpcUaClient, sim: PackerSim) -> None:
    sim.machine.force_state(S.STOPPED)
    sim.machine.clear_alarm()
    await sim.flush()
    await wait_state(c, S.STOPPED)


async def test_reads_every_tag_with_its_type(line: OpcUaClient, node_map: NodeMap) -> None:
    values = await line.read(*node_map.nodes)
    assert set(values) == set(node_map.nodes)
    assert isinstance(values["CUR_MACH_SPEED"], float)
    assert isinstance(values["CMD_CHANGE_REQUEST"], bool)
    assert isinstance(values["ALARM_MESSAGE"], str)
    assert len(values["LAST_PACK"]) == 4 and len(values["RECENT"]) == 128
    assert values["UNIT_MODE"] == 1


async def test_heartbeat_counts_every_100_ms(line: OpcUaClient) -> None:
    first = (await line.read("HEARTBEAT"))["HEARTBEAT"]
    await asyncio.sleep(0.55)
    later = (await line.read("HEARTBEAT"))["HEARTBEAT"]
    assert 3 <= later - first <= 8


async def test_parameters_written_with_their_variant_types(line: OpcUaClient,
                                                           packer: PackerSim) -> None:
    await stopped(line, packer)
    await line.write("BAG_LENGTH_MM", 250)  # an int is sent as a Float
    await line.write("SEAL_TEMP_C", 187.5)
    await line.write("RECIPE_NO", 3)
    values = await line.read("BAG_LENGTH_MM", "SEAL_TEMP_C", "RECIPE_NO", "RECIPE_NO_ACT")
    assert values == {"BAG_LENGTH_MM": 250.0, "SEAL_TEMP_C": 187.5, "RECIPE_NO": 3,
                      "RECIPE_NO_ACT": 3}
    with pytest.raises(TypeError):
        await line.write("SEAL_TEMP_C", "hot")
    with pytest.raises(TypeError):
        await line.write("RECIPE_NO", True)
    with pytest.raises(TypeError):
        await line.write("CMD_CHANGE_REQUEST", 1)
    with pytest.raises(ValueError, match="outside"):
        await line.write("RECIPE_NO", 2**31)
    with pytest.raises(ValueError, match="read-only"):
        await line.write("STATE", 6)


@pytest.mark.parametrize("tag, value", [
    ("SEAL_TEMP_C", 220.5), ("SEAL_TEMP_C", 100.0), ("BAG_LENGTH_MM", 401.0),
    ("MACH_SPEED", 1000.5), ("MACH_SPEED", -0.5), ("RECIPE_NO", -3),
])
async def test_out_of_range_is_refused_and_not_applied(line: OpcUaClient, packer: PackerSim,
                                                       tag: str, value: float) -> None:
    await stopped(line, packer)
    before = (await line.read(tag))[tag]
    with pytest.raises(DeviceFault, match=f"write {tag} = .* refused: BadOutOfRange") as refused:
        await line.write(tag, value)
    assert refused.value.code == 0x803C0000
    assert (await line.read(tag))[tag] == before


async def test_parameter_change_outside_stopped_idle_held_is_bad_invalid_state(
        line: OpcUaClient, packer: PackerSim) -> None:
    await to_execute(line, packer)
    before = (await line.read("SEAL_TEMP_C"))["SEAL_TEMP_C"]
    with pytest.raises(DeviceFault, match="BadInvalidState"):
        await line.write("SEAL_TEMP_C", 150.0)
    assert (await line.read("SEAL_TEMP_C"))["SEAL_TEMP_C"] == before
    await line.write("MACH_SPEED", 80.0)  # the speed set-point may change while running
    await asyncio.sleep(0.05)
    assert (await line.read("CUR_MACH_SPEED"))["CUR_MACH_SPEED"] == 80.0


async def test_wrong_variant_type_is_bad_type_mismatch(packer: PackerSim, pki: Pki,
                                                       node_map: NodeMap) -> None:
    # A site map that gets a type wrong: the server refuses, nothing is applied.
    nodes = dict(node_map.nodes)
    nodes["SEAL_TEMP_C"] = replace(nodes["SEAL_TEMP_C"], type="Int32")
    nodes["STATE"] = replace(nodes["STATE"], access="rw")
    wrong = replace(node_map, source="wrong.toml", nodes=MappingProxyType(nodes))
    async with client(packer, wrong, secure(pki, packer)) as c:
        await stopped(c, packer)
        with pytest.raises(DeviceFault, match="BadTypeMismatch"):
            await c.write("SEAL_TEMP_C", 150)
        with pytest.raises(DeviceFault, match="BadNotWritable"):
            await c.write("STATE", 6)
        assert (await c.read("STATE"))["STATE"] == S.STOPPED


async def test_command_handshake_walks_the_states(line: OpcUaClient, packer: PackerSim) -> None:
    await stopped(line, packer)
    assert await line.command(C.RESET) in (S.RESETTING, S.IDLE)
    await wait_state(line, S.IDLE)
    assert (await line.read("CMD_CHANGE_REQUEST"))["CMD_CHANGE_REQUEST"] is False
    await line.command(C.START)
    await wait_state(line, S.EXECUTE)
    assert (await line.read("CNTRL_CMD"))["CNTRL_CMD"] == C.START
    with pytest.raises(DeviceFault, match="START refused in state EXECUTE"):
        await line.command(C.START, settle=0.05)
    await line.command(C.HOLD)
    await wait_state(line, S.HELD)
    await line.command(C.STOP)
    await wait_state(line, S.STOPPED)


async def test_alarm_is_shown_and_holds_the_machine(line: OpcUaClient, packer: PackerSim) -> None:
    await to_execute(line, packer)
    packer.alarm(21, "seal jaw over temperature")
    await wait_state(line, S.HELD)
    values = await line.read("STOP_REASON", "ALARM_MESSAGE", "CUR_MACH_SPEED")
    assert values == {"STOP_REASON": 21, "ALARM_MESSAGE": "seal jaw over temperature",
                      "CUR_MACH_SPEED": 0.0}
    with pytest.raises(DeviceFault, match="UNHOLD refused in state HELD"):
        await line.command(C.UNHOLD, settle=0.05)
    packer.clear_alarm()
    await line.command(C.UNHOLD)
    await wait_state(line, S.EXECUTE)


async def test_command_not_taken_in_time_is_a_timeout(line: OpcUaClient,
                                                      packer: PackerSim) -> None:
    await stopped(line, packer)
    packer.scan_stalled = True  # the program stops scanning: nobody takes the request
    try:
        heartbeat = (await line.read("HEARTBEAT"))["HEARTBEAT"]
        with pytest.raises(DeviceTimeoutError, match="RESET not done within 0.3 s") as late:
            await line.command(C.RESET, timeout=0.3)
        assert late.value.detail == "waiting for the machine to take it"
        assert (await line.read("HEARTBEAT"))["HEARTBEAT"] == heartbeat
    finally:
        packer.scan_stalled = False
    await wait_state(line, S.IDLE)  # the request was still there and is taken once it scans


async def test_namespace_missing_on_the_server_is_a_fault(packer: PackerSim, pki: Pki,
                                                          tmp_path: Path) -> None:
    path = tmp_path / "map.toml"
    path.write_text('namespace = "urn:not:there"\n[nodes]\n'
                    'STATE = { id = "Packer.Status.StateCurrent", type = "Int32", access = "r" }\n')
    with pytest.raises(DeviceFault, match="no namespace 'urn:not:there'"):
        async with client(packer, load_node_map(str(path)), secure(pki, packer)):
            pass


async def test_unknown_node_id_is_a_fault(packer: PackerSim, pki: Pki, tmp_path: Path) -> None:
    path = tmp_path / "map.toml"
    path.write_text('namespace = "urn:plateline:packer"\n[nodes]\n'
                    'X = { id = "Packer.Nope", type = "Int32", access = "r" }\n')
    async with client(packer, load_node_map(str(path)), secure(pki, packer)) as c:
        with pytest.raises(DeviceFault, match="read X refused: BadNodeIdUnknown"):
            await c.read("X")


async def test_connect_failures_are_connection_errors(pki: Pki, node_map: NodeMap,
                                                      packer: PackerSim) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 16)  # accepts, reads the Hello, never answers

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        c = OpcUaClient("PACK", f"opc.tcp://127.0.0.1:{port}/x", node_map,
                        security=secure(pki, packer), timeout=0.2, connect_timeout=0.5,
                        watch_results=False)
        started = time.monotonic()
        with pytest.raises(DeviceConnectionError, match="no answer in time"):
            await c.connect()
        assert time.monotonic() - started < 2.0
        await c.aclose()
    finally:
        server.close()
        await server.wait_closed()
    closed = OpcUaClient("PACK", f"opc.tcp://127.0.0.1:{port}/x", node_map,
                         security=secure(pki, packer), watch_results=False)
    with pytest.raises(DeviceConnectionError, match="cannot connect"):
        await closed.connect()


async def test_bad_urls_are_config_errors(pki: Pki, node_map: NodeMap, packer: PackerSim) -> None:
    for url in ("http://host:4840", "opc.tcp://line:pw@host:4840/x"):
        with pytest.raises(ConfigError):
            OpcUaClient("PACK", url, node_map, security=secure(pki, packer))


async def test_calls_after_close_fail_and_close_twice_is_fine(packer: PackerSim, pki: Pki,
                                                              node_map: NodeMap) -> None:
    c = client(packer, node_map, secure(pki, packer))
    async with c:
        pass
    await c.aclose()
    with pytest.raises(DeviceClosedError):
        await c.read("STATE")
    assert isinstance(await c.wait_lost(), DeviceClosedError)
