"""Endpoints, certificates and users against the simulator over loopback."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest

from plateline.drivers.opcua_nodes import NodeMap
from plateline.drivers.opcua_security import OpcUaSecurityError, SecuritySettings
from plateline.errors import ConfigError, DeviceFault
from plateline.simulators.packer import PackerSim

from .helpers import LINE_PW, VIEWER_PW, Pki, client, secure

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_secure_endpoint_with_trusted_certificate_and_line_user(
        packer: PackerSim, pki: Pki, node_map: NodeMap) -> None:
    async with client(packer, node_map, secure(pki, packer)) as c:
        assert c.connected and c.start_time is not None
        await c.write("MACH_SPEED", 50.0)
        assert (await c.read("MACH_SPEED"))["MACH_SPEED"] == 50.0
    assert not c.connected


async def test_server_certificate_taken_from_the_endpoints_when_not_pinned(
        packer: PackerSim, pki: Pki, node_map: NodeMap) -> None:
    async with client(packer, node_map, secure(pki, packer, pin=False)) as c:
        assert (await c.read("UNIT_MODE"))["UNIT_MODE"] == 1


async def test_none_endpoint_needs_explicit_permission(pki: Pki) -> None:
    with pytest.raises(ConfigError, match="allow_none"):
        SecuritySettings(mode="None")
    with pytest.raises(ConfigError, match="certificate and private key"):
        SecuritySettings(mode="SignAndEncrypt")
    with pytest.raises(ConfigError, match="without a user"):
        SecuritySettings(certificate=pki.controller[0], private_key=pki.controller[1],
                         password="x")


async def test_none_endpoint_when_allowed_anonymous_reads_only(
        packer: PackerSim, node_map: NodeMap) -> None:
    allowed = SecuritySettings(mode="None", allow_none=True)
    async with client(packer, node_map, allowed) as c:
        assert (await c.read("STATE"))["STATE"] > 0
        with pytest.raises(DeviceFault, match="BadUserAccessDenied.*anonymous") as denied:
            await c.write("MACH_SPEED", 40.0)
        assert denied.value.code is not None
    as_line = SecuritySettings(mode="None", allow_none=True, user="line", password=LINE_PW)
    async with client(packer, node_map, as_line) as c:
        await c.write("MACH_SPEED", 45.0)


async def test_wrong_password_is_refused_clearly(packer: PackerSim, pki: Pki,
                                                 node_map: NodeMap) -> None:
    with pytest.raises(OpcUaSecurityError, match="refused the user 'line': wrong user name or "
                                                 "password") as refused:
        async with client(packer, node_map, secure(pki, packer, password="guess")):
            pass
    assert refused.value.status == "BadUserAccessDenied"
    with pytest.raises(OpcUaSecurityError, match="user 'nobody'"):
        async with client(packer, node_map, secure(pki, packer, user="nobody", password="x")):
            pass


async def test_anonymous_is_refused_on_the_secure_endpoint(packer: PackerSim, pki: Pki,
                                                           node_map: NodeMap) -> None:
    with pytest.raises(OpcUaSecurityError, match="anonymous session"):
        async with client(packer, node_map, secure(pki, packer, user=None)):
            pass


async def test_untrusted_certificate_is_refused_clearly(packer: PackerSim, pki: Pki,
                                                        node_map: NodeMap) -> None:
    with pytest.raises(OpcUaSecurityError, match="refused our application certificate: add it "
                                                 "to the server's trust list") as refused:
        async with client(packer, node_map, secure(pki, packer, cert=pki.rogue)):
            pass
    assert refused.value.status == "BadCertificateUntrusted"


async def test_wrong_pinned_server_certificate_is_named(packer: PackerSim, pki: Pki,
                                                        node_map: NodeMap) -> None:
    settings = SecuritySettings(certificate=pki.controller[0], private_key=pki.controller[1],
                                server_certificate=pki.rogue[0], user="line", password=LINE_PW)
    with pytest.raises(OpcUaSecurityError, match="not the pinned one"):
        async with client(packer, node_map, settings, timeout=0.3, connect_timeout=1.0):
            pass


async def test_trust_folder_is_read_at_each_session(pki: Pki, node_map: NodeMap,
                                                    tmp_path: Path) -> None:
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    (trusted / "junk.der").write_bytes(b"not a certificate")  # skipped, not fatal
    async with PackerSim(port=0, users={"line": LINE_PW}, trust=trusted,
                         pki_dir=pki.server_dir) as sim:
        with pytest.raises(OpcUaSecurityError, match="trust list"):
            async with client(sim, node_map, secure(pki, sim)):
                pass
        shutil.copy(pki.controller[0], trusted / "controller.der")
        async with client(sim, node_map, secure(pki, sim)) as c:
            assert (await c.read("STATE"))["STATE"] == 2


async def test_viewer_reads_but_cannot_write(packer: PackerSim, pki: Pki,
                                             node_map: NodeMap) -> None:
    async with client(packer, node_map, secure(pki, packer, user="viewer",
                                               password=VIEWER_PW)) as c:
        speed = (await c.read("MACH_SPEED"))["MACH_SPEED"]
        with pytest.raises(DeviceFault, match="write MACH_SPEED = 99.0 refused: "
                                              "BadUserAccessDenied: access denied for user "
                                              "'viewer'"):
            await c.write("MACH_SPEED", 99.0)
        assert (await c.read("MACH_SPEED"))["MACH_SPEED"] == speed


async def test_password_never_in_reprs_or_logs(packer: PackerSim, pki: Pki, node_map: NodeMap,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = secure(pki, packer)
    wrong = secure(pki, packer, password="Wr0ng-Secret")
    assert LINE_PW not in repr(settings) and "'***'" in repr(settings)
    async with client(packer, node_map, settings) as c:
        assert LINE_PW not in repr(c)
        await c.read("STATE")
    with pytest.raises(OpcUaSecurityError) as refused:
        async with client(packer, node_map, wrong):
            pass
    text = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    assert caplog.records and LINE_PW not in text and "Wr0ng-Secret" not in text
    assert "Wr0ng-Secret" not in str(refused.value)


async def test_key_material_is_loaded_once_per_file_version(packer: PackerSim, pki: Pki,
                                                            tmp_path: Path) -> None:
    """Loading and checking an RSA key stalls a loop for tens of ms: a reconnecting
    session reuses what was loaded, and a renewed file is loaded again."""
    from plateline.drivers.opcua_security import load_key_material

    cert, key = (shutil.copy(p, tmp_path / p.name) for p in pki.controller)
    sec = SecuritySettings(certificate=Path(cert), private_key=Path(key),
                           server_certificate=packer.server_certificate)
    first = load_key_material(sec)
    assert load_key_material(sec) is first
    Path(key).write_bytes(Path(key).read_bytes())
    os.utime(key, ns=(1, 1))
    again = load_key_material(sec)
    assert again is not first and again.certificate == first.certificate


async def test_unreadable_key_is_a_config_error(packer: PackerSim, pki: Pki,
                                                tmp_path: Path) -> None:
    from plateline.drivers.opcua_security import load_key_material

    bad = tmp_path / "key.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    sec = SecuritySettings(certificate=pki.controller[0], private_key=bad,
                           server_certificate=packer.server_certificate)
    with pytest.raises(ConfigError, match="cannot load"):
        load_key_material(sec)
