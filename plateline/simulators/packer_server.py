"""The OPC UA side of the simulated packer: an asyncua server over a :class:`PackerMachine`.

What asyncua does not do by itself, done here:

* a trust list: asyncua accepts any client certificate unless a validator is set;
  :class:`TrustList` accepts exactly the certificates in its files / folder
  (re-read at every session, so a certificate dropped in the folder counts at once);
* users: :class:`PackerUsers` checks names and passwords; anonymous sessions only
  on the ``None`` endpoint; only ``writers`` may write;
* client writes go through :class:`GuardedAttributes`: access, exact variant
  type (BadTypeMismatch), then the machine's range and state checks
  (BadOutOfRange, BadInvalidState); a refused write changes nothing;
* :class:`Publisher` mirrors every value the machine changes into the address
  space in order (each LastPack a notification of its own).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

from asyncua import Server, ua
from asyncua.common.utils import ServiceError
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.address_space import AddressSpace, AttributeService
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from plateline.errors import ConfigError
from plateline.pki import load_certificate
from plateline.simulators.packer_machine import (
    NAMESPACE,
    NODE_BY_PATH,
    NODES,
    NodeDef,
    PackerMachine,
    WriteRefused,
)

log = logging.getLogger(__name__)

ENDPOINT_PATH = "/plateline/packer"
APPLICATION_URI = "urn:plateline:sim:packer"
_VARIANTS: dict[str, ua.VariantType] = {
    "Int32": ua.VariantType.Int32, "UInt32": ua.VariantType.UInt32,
    "Float": ua.VariantType.Float, "Boolean": ua.VariantType.Boolean,
    "String": ua.VariantType.String,
}
_CERT_SUFFIXES = (".der", ".pem", ".crt", ".cer")
_ADMIN = User(role=UserRole.Admin)
_STATUS: dict[str, int] = {
    "Good": ua.StatusCodes.Good,
    "BadNotWritable": ua.StatusCodes.BadNotWritable,
    "BadUserAccessDenied": ua.StatusCodes.BadUserAccessDenied,
    "BadIndexRangeInvalid": ua.StatusCodes.BadIndexRangeInvalid,
    "BadTypeMismatch": ua.StatusCodes.BadTypeMismatch,
    "BadOutOfRange": ua.StatusCodes.BadOutOfRange,
    "BadInvalidState": ua.StatusCodes.BadInvalidState,
}


class TrustList:
    """Client certificates the secure endpoint accepts: files, or every certificate in a folder."""

    def __init__(self, sources: Iterable[Path] | Path | None = None):
        if sources is None:
            self.sources: tuple[Path, ...] = ()
        elif isinstance(sources, (str, Path)):
            self.sources = (Path(sources),)
        else:
            self.sources = tuple(Path(p) for p in sources)

    def fingerprints(self) -> set[bytes]:
        """SHA-256 fingerprints of the certificates trusted now (unreadable files skipped)."""
        found: set[bytes] = set()
        for source in self.sources:
            files = sorted(p for p in source.iterdir() if p.suffix.lower() in _CERT_SUFFIXES) \
                if source.is_dir() else [source]
            for path in files:
                try:
                    found.add(load_certificate(path).fingerprint(hashes.SHA256()))
                except ConfigError as err:  # a bad file must not lock everyone out
                    log.warning("trust list: %s skipped: %s", path, err)
        return found

    async def __call__(self, cert: x509.Certificate, app: ua.ApplicationDescription) -> None:
        now = dt.datetime.now(dt.UTC)
        subject = cert.subject.rfc4514_string()
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            log.warning("refused client certificate %s: expired or not yet valid", subject)
            raise ServiceError(ua.StatusCodes.BadCertificateTimeInvalid)
        trusted = await asyncio.to_thread(self.fingerprints)
        if cert.fingerprint(hashes.SHA256()) not in trusted:
            log.warning("refused client certificate %s (%s): not in the trust list", subject,
                        app.ApplicationUri)
            raise ServiceError(ua.StatusCodes.BadCertificateUntrusted)


class PackerUsers:
    """Users and passwords; anonymous only without a secure channel (the None endpoint)."""

    def __init__(self, users: Mapping[str, str], writers: Iterable[str] = ("line",)):
        self._users = dict(users)
        self.writers = frozenset(writers)

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> User | None:
        if username is None:
            return None if certificate else User(role=UserRole.User, name=None)
        expected = self._users.get(username)
        if expected is None or not hmac.compare_digest(expected.encode(),
                                                       (password or "").encode()):
            log.warning("refused user %r: unknown user or wrong password", username)
            return None
        return User(role=UserRole.User, name=username)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._users)

    def may_write(self, user: User) -> bool:
        return user.role is UserRole.Admin or user.name in self.writers


class Publisher:
    """Writes what the machine changed into the address space, in order."""

    def __init__(self, server: Server, node_ids: Mapping[str, ua.NodeId]):
        self._server = server
        self._node_ids = node_ids
        self._queue: asyncio.Queue[tuple[str, Any] | asyncio.Future[None]] = asyncio.Queue()

    def put(self, path: str, value: Any) -> None:
        self._queue.put_nowait((path, value))

    async def flush(self) -> None:
        """Wait until everything put so far is in the address space."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(done)
        await done

    async def run(self) -> None:
        while True:
            item = await self._queue.get()
            if isinstance(item, asyncio.Future):
                if not item.done():
                    item.set_result(None)
                continue
            path, value = item
            await self._server.write_attribute_value(self._node_ids[path],
                                                     datavalue(NODE_BY_PATH[path], value))


class GuardedAttributes(AttributeService):
    """Client writes to packer nodes checked as the contract says, then applied by the machine."""

    def __init__(self, aspace: AddressSpace, machine: PackerMachine, users: PackerUsers,
                 paths: Mapping[ua.NodeId, str], publisher: Publisher):
        super().__init__(aspace)
        self._machine = machine
        self._users = users
        self._paths = paths
        self._publisher = publisher

    async def write(self, params: ua.WriteParameters,
                    user: User = _ADMIN) -> list[ua.StatusCode]:
        if user.role is UserRole.Admin:
            return await super().write(params, user)
        results = []
        for item in params.NodesToWrite:
            path = self._paths.get(item.NodeId)
            if path is None:
                single = ua.WriteParameters(NodesToWrite=[item])
                results.extend(await super().write(single, user))
            else:
                results.append(await self._write(path, item, user))
        return results

    async def _write(self, path: str, item: ua.WriteValue, user: User) -> ua.StatusCode:
        node = NODE_BY_PATH[path]
        if item.AttributeId != ua.AttributeIds.Value or not node.writable:
            return _status("BadNotWritable")
        if not self._users.may_write(user):
            log.info("write to %s refused for %s", path, user.name or "anonymous")
            return _status("BadUserAccessDenied")
        if item.IndexRange:
            return _status("BadIndexRangeInvalid")
        variant = item.Value.Value if item.Value is not None else None
        if variant is None or variant.VariantType != _VARIANTS[node.type] or \
                isinstance(variant.Value, list):
            return _status("BadTypeMismatch")
        try:
            self._machine.check_write(path, variant.Value)
        except WriteRefused as refused:
            log.info("write refused: %s", refused)
            return _status(refused.status)
        self._machine.write(path, variant.Value)
        await self._publisher.flush()
        return _status("Good")


def datavalue(node: NodeDef, value: Any) -> ua.DataValue:
    now: Any = dt.datetime.now(dt.UTC)
    dims: Any = [node.length] if node.length is not None else None
    return ua.DataValue(ua.Variant(value, _VARIANTS[node.type], Dimensions=dims),
                        SourceTimestamp=now, ServerTimestamp=now)


async def make_server(*, host: str, port: int, certificate: Path, private_key: Path,
                      users: PackerUsers, trust: TrustList) -> Server:
    """An initialised (not started) server with both endpoints, users and the trust list."""
    server = Server(user_manager=users)  # type: ignore[arg-type]
    await server.init()
    server.set_endpoint(f"opc.tcp://{host}:{port}{ENDPOINT_PATH}")
    server.set_server_name("plateline PACK simulator")
    await server.set_application_uri(APPLICATION_URI)
    await server.load_certificate(str(certificate))
    await server.load_private_key(str(private_key))
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity,
                                ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
    server.set_identity_tokens([ua.AnonymousIdentityToken, ua.UserNameIdentityToken])
    server.set_certificate_validator(trust)
    return server


async def populate(server: Server, values: Mapping[str, Any]) -> dict[str, ua.NodeId]:
    """Create Objects/Packer/... with one variable per contract node; NodeIds by path."""
    idx = await server.register_namespace(NAMESPACE)
    folders: dict[str, Any] = {"": server.nodes.objects}
    node_ids: dict[str, ua.NodeId] = {}
    for node in NODES:
        parts = node.path.split(".")
        for depth in range(1, len(parts)):
            folder = ".".join(parts[:depth])
            if folder not in folders:
                parent = folders[".".join(parts[:depth - 1])]
                folders[folder] = await parent.add_object(string_node_id(folder, idx),
                                                          ua.QualifiedName(parts[depth - 1], idx))
        dv = datavalue(node, values[node.path])
        assert dv.Value is not None
        var = await folders[".".join(parts[:-1])].add_variable(
            string_node_id(node.path, idx), ua.QualifiedName(parts[-1], idx), dv.Value.Value,
            varianttype=dv.Value.VariantType)
        if node.length is not None:
            await var.write_attribute(ua.AttributeIds.ArrayDimensions,
                                      ua.DataValue(ua.Variant([node.length], ua.VariantType.UInt32)))
        await var.set_writable(node.writable)
        node_ids[node.path] = var.nodeid
    return node_ids


def guard_writes(server: Server, machine: PackerMachine, users: PackerUsers,
                 node_ids: Mapping[str, ua.NodeId], publisher: Publisher) -> None:
    """Route client writes through the contract's checks."""
    paths = {nid: path for path, nid in node_ids.items()}
    server.iserver.attribute_service = GuardedAttributes(server.iserver.aspace, machine, users,
                                                         paths, publisher)


def anonymous_only_without_security(server: Server) -> None:
    """Advertise anonymous sessions on the None endpoint only (the user manager enforces it)."""
    for endpoint in server.iserver.endpoints:
        if endpoint.SecurityMode != ua.MessageSecurityMode.None_:
            endpoint.UserIdentityTokens = [t for t in endpoint.UserIdentityTokens
                                           if t.TokenType != ua.UserTokenType.Anonymous]


async def drop_all_sessions(server: Server) -> int:
    """Delete every subscription and cut every client connection; returns how many."""
    iserver = server.iserver
    subscriptions = list(iserver.subscription_service.subscriptions)
    if subscriptions:
        await iserver.subscription_service.delete_subscriptions(subscriptions)
    transports = list(iserver.asyncio_transports)
    for transport in transports:
        transport.abort()
    return len(transports)


def string_node_id(identifier: str, namespace: int) -> ua.NodeId:
    """``ns=<namespace>;s=<identifier>`` (asyncua's stubs want its own int/str subclasses)."""
    return ua.NodeId(cast(Any, identifier), cast(Any, namespace))


def _status(name: str) -> ua.StatusCode:
    return ua.StatusCode(cast(Any, _STATUS[name]))


__all__ = ["APPLICATION_URI", "ENDPOINT_PATH", "GuardedAttributes", "PackerUsers", "Publisher",
           "TrustList", "anonymous_only_without_security", "drop_all_sessions", "guard_writes",
           "make_server", "populate"]
