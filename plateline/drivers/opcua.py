"""OPC UA client that reads and writes a device's nodes by tag name (built on asyncua).

One client is one session: asyncua's own ``auto_reconnect`` stays off and a
:class:`~plateline.drivers.supervisor.LinkSupervisor` rebuilds session and
subscription with backoff (``wait_lost()`` tells it when). A rebuilt session then
re-reads the packer's ``Recent`` results, so a reconnect costs no seal result; a
library that silently re-creates subscriptions behind our back could not promise
that.

Errors: no answer within the timeout -> DeviceTimeoutError; link or session lost ->
DeviceConnectionError (the client is then dead: ``wait_lost()`` returns); refused
by the server on security grounds -> OpcUaSecurityError; a status such as
BadOutOfRange, BadTypeMismatch, BadInvalidState or BadUserAccessDenied on a request
-> DeviceFault naming the status. Values of the wrong Python type are refused
before anything is sent (TypeError / ValueError).

    tracker = PackResultTracker()
    factory = entered(lambda: OpcUaClient("PACK", url, load_node_map("builtin:packer_opcua"),
                                          security=settings, results=tracker))
    async with LinkSupervisor("PACK", factory) as link:
        async for event in tracker: ...
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar, cast
from urllib.parse import urlparse

from asyncua import Client, Node, ua
from asyncua.common.subscription import DataChangeEvent, StatusChangeEvent, Subscription
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

from plateline.contract import PackMLCommand, PackMLState
from plateline.drivers.lifecycle import DeviceLink
from plateline.drivers.opcua_nodes import NodeMap
from plateline.drivers.opcua_security import (
    LINK_CODES,
    KeyMaterial,
    OpcUaSecurityError,
    SecuritySettings,
    call_error,
    connect_error,
    load_key_material,
    status_name,
)
from plateline.drivers.opcua_values import from_datavalue, to_variant
from plateline.drivers.packer_results import (
    PACK_FIELDS,
    RECENT_LENGTH,
    PackResultTracker,
    decode_pack,
)
from plateline.errors import (
    ConfigError,
    DeviceClosedError,
    DeviceConnectionError,
    DeviceError,
    DeviceFault,
    DeviceTimeoutError,
    ProtocolError,
)
from plateline.pki import certificate_der, certificate_info

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Tags the PackML command handshake needs.
COMMAND_TAGS = ("STATE", "CNTRL_CMD", "CMD_CHANGE_REQUEST")
RESULT_ARRAYS = {"LAST_PACK": PACK_FIELDS, "RECENT": RECENT_LENGTH}
_START_TIME = ua.NodeId(cast(Any, ua.ObjectIds.Server_ServerStatus_StartTime))
_POLL_S = 0.01
_HANDLE_START_TIME, _HANDLE_LAST_PACK = 1, 2


@asynccontextmanager
async def deadline(seconds: float) -> AsyncIterator[None]:
    """``asyncio.timeout`` that also expires when asyncua answers the cancellation with a
    ``CancelledError`` subclass (wait_for2's CancelledWithResultError, when the reply
    raced the deadline): ``asyncio.timeout`` only converts an exact CancelledError."""
    async with asyncio.timeout(seconds):
        try:
            yield
        except asyncio.CancelledError as err:
            if type(err) is asyncio.CancelledError:
                raise
            raise asyncio.CancelledError(*err.args) from err


class OpcUaClient(DeviceLink):
    """Tag-level OPC UA client for one device; an async context manager, not reusable.

    ``timeout`` is the default deadline of every call; ``results`` is the tracker the
    packer's seal results go to (one per device, kept across the sessions a supervisor
    makes); when the map has ``LAST_PACK`` and ``RECENT`` and ``watch_results`` is set,
    the client makes its own tracker if none is given.
    """

    def __init__(self, name: str, url: str, node_map: NodeMap, *, security: SecuritySettings,
                 timeout: float = 1.0, connect_timeout: float = 5.0,
                 command_timeout: float = 3.0, results: PackResultTracker | None = None,
                 watch_results: bool = True, publish_interval: float = 0.02,
                 queue_size: int = 1000, watchdog_s: float = 1.0,
                 session_timeout_s: float = 30.0, drop_after_timeouts: int = 3) -> None:
        parsed = urlparse(url)
        if parsed.scheme != "opc.tcp" or not parsed.hostname:
            raise ConfigError(f"{name}: {url!r} is not an opc.tcp://host:port/... URL")
        if parsed.username or parsed.password:
            raise ConfigError(f"{name}: put the OPC UA user in the security settings, not in "
                              f"the URL")
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        super().__init__()
        self.name = name
        self.url = url
        self.node_map = node_map
        self.security = security
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.publish_interval = publish_interval
        self.queue_size = queue_size
        self.watchdog_s = watchdog_s
        self.session_timeout_s = session_timeout_s
        self.drop_after_timeouts = drop_after_timeouts
        has_results = all(t in node_map.nodes for t in RESULT_ARRAYS)
        if results is not None or (watch_results and has_results):  # a tracker given: watched
            node_map.require(arrays=RESULT_ARRAYS)
            self._results: PackResultTracker | None = results or PackResultTracker()
        else:
            self._results = None
        self._ua: Client | None = None
        self._nodes: dict[str, Node] = {}
        self._start_time: datetime | None = None
        self._pump: asyncio.Task[None] | None = None
        self._command_lock = asyncio.Lock()
        self._unanswered = 0

    def __repr__(self) -> str:
        return (f"OpcUaClient({self.name!r}, {self.url!r}, mode={self.security.mode!r}, "
                f"user={self.security.user!r})")

    # -- lifecycle ---------------------------------------------------------------

    async def connect(self) -> None:
        """Open the session (and the results subscription); roll back on any failure."""
        if self._closed:
            raise DeviceClosedError("client closed", device=self.name)
        if self._ua is not None:
            raise RuntimeError(f"{self.name}: connect() called twice")
        async with AsyncExitStack() as stack:
            client = self._make_client()
            try:
                async with deadline(self.connect_timeout):
                    await self._open(client, stack)
            except TimeoutError as err:
                mismatch = await self._pinned_certificate_mismatch()
                raise mismatch or DeviceConnectionError(
                    f"connect to {self.url}: no answer in time", device=self.name) from err
            stack.pop_all()
        log.info("%s: connected to %s (%s%s)", self.name, self.url, self.security.mode,
                 f", user {self.security.user}" if self.security.user else ", anonymous")

    async def _enter(self) -> None:
        await self.connect()

    async def _close(self) -> None:
        """Close the session."""
        was_lost = self._lost.is_set()
        self._mark_lost(DeviceClosedError("client closed", device=self.name))
        if self._results is not None:
            self._results.detach(self)
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.cancel()
            await asyncio.wait((pump,))
        client, self._ua = self._ua, None
        if client is not None:
            await _teardown(client, lost=was_lost, timeout=self.timeout)

    @property
    def connected(self) -> bool:
        return self._ua is not None and not self._lost.is_set()

    @property
    def start_time(self) -> datetime | None:
        """The server's ``Server.ServerStatus.StartTime`` read at connect (restart detector)."""
        return self._start_time

    def pack_results(self) -> PackResultTracker:
        """The seal results: an async iterator of PackResult / MissingPack / PackerReset /
        PackerRestarted that never skips a SEQUENCE silently."""
        if self._results is None:
            raise RuntimeError(f"{self.name}: pack results are not watched by this client")
        return self._results

    # -- tag access --------------------------------------------------------------

    async def read(self, *tags: str, timeout: float | None = None) -> dict[str, Any]:
        """Read tags by name in one request: ints, floats, bools, strings, lists for arrays."""
        specs = [self.node_map.node(t) for t in tags]
        nodes = [self._node(s.name) for s in specs]
        what = f"read {', '.join(tags)}"
        client = self._usable()
        values = await self._call(what, lambda: client.read_attributes(nodes), timeout)
        out: dict[str, Any] = {}
        for spec, dv in zip(specs, values, strict=True):
            if dv.StatusCode is not None and not dv.StatusCode.is_good():
                raise self._refused(dv.StatusCode.value, f"read {spec.name}")
            out[spec.name] = from_datavalue(spec, dv)
        return out

    async def write(self, tag: str, value: Any, *, timeout: float | None = None) -> None:
        """Write one tag with the variant type of its map entry."""
        spec = self.node_map.node(tag)
        if not spec.writable:
            raise ValueError(f"{self.name}: tag {tag} is read-only (access \"r\")")
        variant = to_variant(spec, value)
        node = self._node(tag)
        client = self._usable()
        results = await self._call(
            f"write {tag}",
            lambda: client.uaclient.write_attributes([node.nodeid], [ua.DataValue(variant)],
                                                     ua.AttributeIds.Value), timeout)
        if not results[0].is_good():
            raise self._refused(results[0].value, f"write {tag} = {value!r}")

    async def command(self, cmd: PackMLCommand, *, timeout: float | None = None,
                      settle: float = 0.3) -> PackMLState:
        """Give a PackML command: CntrlCmd, then CmdChangeRequest true, until the machine
        sets it back to false. Returns the state after; DeviceFault when the machine
        did not change state within ``settle`` s (command refused in that state)."""
        self.node_map.require(tags=COMMAND_TAGS, writable=COMMAND_TAGS[1:])
        limit = self.command_timeout if timeout is None else timeout
        step = "waiting for a previous command to be taken"
        try:
            async with deadline(limit), self._command_lock:
                before = PackMLState((await self.read("STATE"))["STATE"])
                await self._wait_for("CMD_CHANGE_REQUEST", False)
                step = "writing the command"
                await self.write("CNTRL_CMD", int(cmd))
                await self.write("CMD_CHANGE_REQUEST", True)
                step = "waiting for the machine to take it"
                await self._wait_for("CMD_CHANGE_REQUEST", False)
                step = "waiting for the state to change"
                after = await self._state_change(before, settle)
        except TimeoutError as err:
            raise DeviceTimeoutError(f"command {cmd.name} not done within {limit:g} s",
                                     device=self.name, detail=step) from err
        if after == before:
            raise DeviceFault(f"command {cmd.name} refused in state {before.name}",
                              device=self.name, code=int(cmd), detail="state unchanged")
        log.info("%s: %s: %s -> %s", self.name, cmd.name, before.name, after.name)
        return after

    # -- internals: connecting ----------------------------------------------------

    def _make_client(self) -> Client:
        client = Client(self.url, timeout=self.timeout + 1.0, watchdog_intervall=self.watchdog_s)
        client.name = client.description = f"plateline {self.name}"
        client.session_timeout = int(self.session_timeout_s * 1000)
        client.connection_lost_callback = self._on_connection_lost
        return client

    async def _open(self, client: Client, stack: AsyncExitStack) -> None:
        sec = self.security
        try:
            if sec.secure:
                assert sec.certificate is not None and sec.private_key is not None
                info = await asyncio.to_thread(certificate_info, sec.certificate)
                client.application_uri = info.application_uri
                if sec.server_certificate is not None:
                    material = await asyncio.to_thread(load_key_material, sec)
                    _use_material(client, material)
                else:  # development: the server's certificate from its endpoint list
                    await client.set_security(
                        SecurityPolicyBasic256Sha256, str(sec.certificate),
                        str(sec.private_key), mode=ua.MessageSecurityMode.SignAndEncrypt)
            if sec.user:
                client.set_user(sec.user)
                client.set_password(sec.password or "")
            await client.connect()
        except ua.UaStatusCodeError as err:
            raise connect_error(err.code, device=self.name, user=sec.user) from err
        except ua.UaError as err:
            raise OpcUaSecurityError(f"connect refused: {err}", device=self.name) from err
        except TimeoutError:
            raise
        except OSError as err:
            raise DeviceConnectionError(f"cannot connect to {self.url}: {err}",
                                        device=self.name) from err
        self._ua = client
        stack.push_async_callback(self._abandon, client)
        await self._resolve_nodes(client)
        values = await client.read_attributes([client.get_node(_START_TIME)])
        self._start_time = values[0].Value.Value if values[0].Value is not None else None
        if not isinstance(self._start_time, datetime):
            raise ProtocolError("server has no StartTime", device=self.name)
        if self._results is not None:
            await self._subscribe(client)

    async def _pinned_certificate_mismatch(self) -> DeviceError | None:
        """A server that cannot decrypt what we send stays silent: check the pin, if any."""
        pinned_path = self.security.server_certificate
        if pinned_path is None:
            return None
        try:
            pinned = await asyncio.to_thread(certificate_der, pinned_path)
            async with deadline(self.timeout):
                endpoints = await Client(self.url, timeout=self.timeout) \
                    .connect_and_get_server_endpoints()
        except (TimeoutError, OSError, ua.UaError, ConfigError):
            return None
        served = [bytes(ep.ServerCertificate) for ep in endpoints if ep.ServerCertificate]
        if served and not any(cert.startswith(pinned) for cert in served):
            return OpcUaSecurityError(
                f"the server's certificate is not the pinned one ({pinned_path})",
                device=self.name, status="server certificate mismatch")
        return None

    async def _abandon(self, client: Client) -> None:
        self._ua = None
        await _teardown(client, lost=False, timeout=self.timeout)

    async def _resolve_nodes(self, client: Client) -> None:
        try:
            array = await client.get_namespace_array()
        except ua.UaStatusCodeError as err:
            raise call_error(err.code, "read NamespaceArray", device=self.name,
                             user=self.security.user) from err
        index = {}
        for uri in self.node_map.namespaces():
            if uri not in array:
                raise DeviceFault(f"server has no namespace {uri!r}", device=self.name,
                                  detail=f"{self.node_map.source}")
            index[uri] = array.index(uri)
        self._nodes = {name: client.get_node(ua.NodeId(cast(Any, spec.id),
                                                      cast(Any, index[spec.namespace])))
                       for name, spec in self.node_map.nodes.items()}

    async def _subscribe(self, client: Client) -> None:
        assert self._results is not None
        sub = await client.create_subscription(self.publish_interval * 1000, queue_maxsize=0)
        requests = [_monitor(_START_TIME, _HANDLE_START_TIME, 1),
                    _monitor(self._node("LAST_PACK").nodeid, _HANDLE_LAST_PACK, self.queue_size)]
        results = await sub.create_monitored_items(requests)
        for tag, result in zip(("StartTime", "LAST_PACK"), results, strict=True):
            if isinstance(result, ua.StatusCode):
                raise call_error(result.value, f"monitor {tag}", device=self.name,
                                 user=self.security.user)
        # Read after subscribing: nothing can fall between the snapshot and the notifications.
        snapshot = await client.read_attributes([self._node("LAST_PACK"), self._node("RECENT")])
        last_pack, recent = (_array(dv, tag) for dv, tag in zip(snapshot, RESULT_ARRAYS))
        assert self._start_time is not None
        self._results.attach(self)
        self._results.connected(self, self._start_time, last_pack, recent)
        self._pump = asyncio.create_task(self._run_pump(sub), name=f"{self.name} pack results")
        self._pump.add_done_callback(self._pump_ended)

    # -- internals: subscription ----------------------------------------------------

    async def _run_pump(self, sub: Subscription) -> None:
        try:
            async for event in sub:
                if isinstance(event, StatusChangeEvent):
                    name = status_name(event.notification.Status.value)
                    self._mark_lost(DeviceConnectionError(f"subscription ended: {name}",
                                                          device=self.name))
                    return
                if not isinstance(event, DataChangeEvent):
                    continue
                handle = event.data.subscription_data.client_handle
                if handle == _HANDLE_START_TIME:
                    if event.value != self._start_time:
                        self._mark_lost(DeviceConnectionError(
                            "server restarted (StartTime changed)", device=self.name))
                        return
                elif handle == _HANDLE_LAST_PACK:
                    await self._on_last_pack(event.value)
            self._mark_lost(DeviceConnectionError("subscription closed", device=self.name))
        except DeviceError as err:
            log.warning("%s: pack results: %s", self.name, err)
            self._mark_lost(err)

    def _pump_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        err = task.exception()
        if err is not None:  # a bug: results would stop silently, so the link goes down
            log.error("%s: pack results stopped by %r", self.name, err, exc_info=err)
            self._mark_lost(DeviceConnectionError(f"pack results stopped: {err!r}",
                                                  device=self.name))

    async def _on_last_pack(self, value: Any) -> None:
        tracker = self._results
        assert tracker is not None
        try:
            pack = decode_pack(list(value or []))
        except ProtocolError as err:
            log.error("%s: %s; the gap it leaves is filled from Recent", self.name, err)
            return
        plan = tracker.plan(self, pack)
        if plan == "ignore" or pack is None:
            return
        if plan == "fill":
            log.warning("%s: SEQUENCE %d after %s: reading Recent", self.name, pack.sequence,
                        tracker.last_sequence)
            recent = (await self.read("RECENT"))["RECENT"]
            tracker.fill(self, recent, pack.sequence - 1)
        tracker.accept(self, pack)

    async def _on_connection_lost(self, exc: Exception) -> None:
        self._mark_lost(DeviceConnectionError(f"connection lost: {exc or type(exc).__name__}",
                                              device=self.name))

    # -- internals: calls -------------------------------------------------------------

    def _usable(self) -> Client:
        self._check_usable()
        if self._ua is None:
            raise DeviceConnectionError("not connected", device=self.name)
        return self._ua

    def _node(self, tag: str) -> Node:
        try:
            return self._nodes[tag]
        except KeyError:
            self.node_map.node(tag)  # KeyError naming the map for unknown tags
            raise DeviceConnectionError("not connected", device=self.name) from None

    async def _call(self, what: str, make: Callable[[], Awaitable[T]],
                    timeout: float | None) -> T:
        limit = self.timeout if timeout is None else timeout
        try:
            async with deadline(limit):
                result = await make()
        except TimeoutError as err:
            self._unanswered += 1
            if self._unanswered >= self.drop_after_timeouts:
                self._mark_lost(DeviceConnectionError(
                    f"{self._unanswered} requests in a row unanswered", device=self.name))
            raise DeviceTimeoutError(f"no answer within {limit:g} s", device=self.name,
                                     detail=what) from err
        except ua.UaStatusCodeError as err:
            raise self._refused(err.code, what) from err
        except (ConnectionError, OSError) as err:
            lost = DeviceConnectionError(f"link lost: {err}", device=self.name, detail=what)
            self._mark_lost(lost)
            raise lost from err
        except ua.UaError as err:
            raise ProtocolError(f"{what}: {err}", device=self.name) from err
        self._unanswered = 0
        return result

    def _refused(self, code: int, what: str) -> DeviceError:
        err = call_error(code, what, device=self.name, user=self.security.user)
        if code in LINK_CODES:
            self._mark_lost(err)
        return err

    async def _wait_for(self, tag: str, value: Any) -> None:
        while (await self.read(tag))[tag] != value:
            await asyncio.sleep(_POLL_S)

    async def _state_change(self, before: PackMLState, settle: float) -> PackMLState:
        loop = asyncio.get_running_loop()
        until = loop.time() + settle
        while True:
            state = PackMLState((await self.read("STATE"))["STATE"])
            if state != before or loop.time() >= until:
                return state
            await asyncio.sleep(_POLL_S)

    def _mark_lost(self, err: DeviceError) -> None:
        if self._record_lost(err) and not isinstance(err, DeviceClosedError):
            log.warning("%s", err)


def _use_material(client: Client, material: KeyMaterial) -> None:
    """What ``Client.set_security`` does, with certificates and key already loaded (it
    would load and check the RSA key again on the event loop at every reconnect)."""
    policy = SecurityPolicyBasic256Sha256(
        material.server_certificate, material.certificate, material.private_key,
        ua.MessageSecurityMode.SignAndEncrypt)
    client.security_policy = policy  # type: ignore[assignment]  # typed as its default
    client.uaclient.set_security(policy)


async def _teardown(client: Client, *, lost: bool, timeout: float) -> None:
    """Close session and socket, quietly: the link may be half dead."""
    try:
        async with deadline(timeout):
            if lost:
                await client.close_session()
            else:
                await client.disconnect()
    except (TimeoutError, ConnectionError, OSError, ua.UaError) as err:
        log.debug("closing an OPC UA session: %s", err)
    finally:
        client.disconnect_socket()


def _monitor(node_id: ua.NodeId, handle: int, queue_size: int) -> ua.MonitoredItemCreateRequest:
    params = ua.MonitoringParameters()
    params.ClientHandle = handle
    params.SamplingInterval = 0
    params.QueueSize = queue_size
    params.DiscardOldest = False
    request = ua.MonitoredItemCreateRequest()
    request.ItemToMonitor = ua.ReadValueId(NodeId=node_id, AttributeId=ua.AttributeIds.Value)
    request.MonitoringMode = ua.MonitoringMode.Reporting
    request.RequestedParameters = params
    return request


def _array(dv: ua.DataValue, tag: str) -> list[int]:
    if dv.StatusCode is not None and not dv.StatusCode.is_good():
        raise DeviceFault(f"read {tag} refused: {status_name(dv.StatusCode.value)}",
                          code=dv.StatusCode.value)
    value = dv.Value.Value if dv.Value is not None else None
    if not isinstance(value, list) or len(value) != RESULT_ARRAYS[tag]:
        raise ProtocolError(f"{tag} is not an array of {RESULT_ARRAYS[tag]} integers: {value!r}")
    return [int(v) for v in value]


__all__ = ["COMMAND_TAGS", "OpcUaClient", "OpcUaSecurityError", "SecuritySettings"]
