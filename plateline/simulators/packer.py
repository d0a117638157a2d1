"""The simulated packaging machine ``PACK``: an OPC UA server as ``plc-packer-opcua.md`` says.

``PackerSim`` runs the machine (:mod:`packer_machine`) behind an asyncua server
(:mod:`packer_server`) with both endpoints (``None`` and ``Basic256Sha256``
``SignAndEncrypt``), a trust list, users and the contract's write checks. The plant
drives it through plain methods: ``pack(tray, seal_ok, temp_deci_c)`` when a tray
leaves the packer, ``alarm()``, and the scenario faults ``restart(down_s)`` and
``drop_sessions()``.

Run alone: ``python -m plateline.simulators.packer --port 4841`` prints its endpoints.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from asyncua import Server

from plateline.contract import PackMLState
from plateline.drivers.lifecycle import ClosedOnce
from plateline.pki import ensure_certificate
from plateline.simulators import runner
from plateline.simulators._aio import cancel_and_wait
from plateline.simulators.packer_machine import (
    NAMESPACE,
    PackerConfig,
    PackerMachine,
    PackerNotExecuting,
    PackRecord,
)
from plateline.simulators.packer_server import (
    APPLICATION_URI,
    ENDPOINT_PATH,
    PackerUsers,
    Publisher,
    TrustList,
    anonymous_only_without_security,
    drop_all_sessions,
    guard_writes,
    make_server,
    populate,
)

log = logging.getLogger(__name__)

DEFAULT_PORT = 4841
DEFAULT_USERS: Mapping[str, str] = {"line": "line-secret", "viewer": "viewer-secret"}
SERVER_CERT, SERVER_KEY = "packer-server.der", "packer-server-key.pem"


class PackerSim(ClosedOnce):
    """The simulated packer; an async context manager. ``port=0`` picks a free port.

    ``trust`` lists client certificate files or folders (re-read at every session).
    The server certificate and key are ``server_certificate`` / ``server_key``, else
    ``pki_dir``/packer-server.der and -key.pem, else a temporary folder; they are
    created at start when absent. A restart keeps the port and the certificate.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 users: Mapping[str, str] | None = None, writers: Iterable[str] = ("line",),
                 trust: Iterable[Path] | Path | None = None,
                 server_certificate: Path | None = None, server_key: Path | None = None,
                 pki_dir: Path | None = None, config: PackerConfig | None = None,
                 scan_s: float = 0.01, clock: Callable[[], float] = time.monotonic):
        self.host = host
        self._port = port
        self.users = PackerUsers(DEFAULT_USERS if users is None else users, writers)
        self.trust = TrustList(trust)
        self.machine = PackerMachine(config, clock=clock)
        self.scan_s = scan_s
        self._pki_dir = pki_dir
        self._cert = server_certificate
        self._key = server_key
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._server: Server | None = None
        self._spares: list[Server] = []
        self._publisher: Publisher | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._faults: set[asyncio.Task[Any]] = set()
        self._serving = asyncio.Event()
        self.restarts = 0
        #: Fault hook: the program stops scanning (heartbeat stands, commands are not taken).
        self.scan_stalled = False

    # ---- life cycle ---------------------------------------------------------------------
    async def start(self) -> None:
        if self._closed or self._server is not None:
            raise RuntimeError("PackerSim is not reusable")
        self._cert, self._key = await asyncio.to_thread(self._certificate_files)
        server = await self._make_server()
        self.machine.power_on()
        await self._serve(server)

    async def _enter(self) -> None:
        await self.start()

    async def _close(self) -> None:
        """Stop serving."""
        for task in list(self._faults):
            await cancel_and_wait(task)
        await self._stop_serving()
        self._spares.clear()  # never started: nothing to stop
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # ---- where it answers -----------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"opc.tcp://{self.host}:{self._port}{ENDPOINT_PATH}"

    @property
    def server_certificate(self) -> Path:
        if self._cert is None:
            raise RuntimeError("PackerSim not started")
        return self._cert

    @property
    def serving(self) -> bool:
        return self._serving.is_set()

    def endpoints_document(self) -> dict[str, Any]:
        """Where and how to connect, for people and for the demo runner."""
        return {"PACK": {
            "url": self.url, "namespace": NAMESPACE,
            "security": ["None (development only, anonymous allowed)",
                         "Basic256Sha256 SignAndEncrypt"],
            "server_certificate": str(self.server_certificate),
            "trust": [str(p) for p in self.trust.sources],
            "users": {name: "write" if name in self.users.writers else "read"
                      for name in sorted(self.users.names)}}}

    # ---- the plant ------------------------------------------------------------------------
    @property
    def state(self) -> PackMLState:
        return self.machine.state

    def pack(self, tray: int, seal_ok: bool, temp_deci_c: int) -> PackRecord:
        """One pack leaves the machine; PackerNotExecuting when it is not in Execute."""
        return self.machine.pack(tray, seal_ok, temp_deci_c)

    def alarm(self, number: int, message: str, *, abort: bool = False) -> None:
        self.machine.alarm(number, message, abort=abort)

    def clear_alarm(self) -> None:
        self.machine.clear_alarm()

    async def flush(self) -> None:
        """Wait until every value changed so far is visible to clients."""
        if self._publisher is not None and self.serving:
            await self._publisher.flush()

    async def wait_serving(self) -> None:
        await self._serving.wait()

    async def prepare_restarts(self, count: int) -> None:
        """Build the servers of ``count`` later restarts now. Building one loads OPC UA's
        standard address space (about a second of CPU in a worker thread that starves
        the plant's event loop): done mid-run, it would freeze the whole plant, which a
        real packer's restart does not do."""
        for _ in range(count - len(self._spares)):
            self._spares.append(await self._make_server())

    def restart(self, down_s: float) -> asyncio.Task[None]:
        """The packer's controller restarts: sessions die, it is away ``down_s`` s (at least
        as long as the server takes to start), and comes back Stopped, with a new StartTime
        and zeroed results. Returns the task (owned by the simulator) to await if wanted."""
        return self._fault(self._restart(down_s), "PACK restart")

    def drop_sessions(self) -> asyncio.Task[int]:
        """Cut every client connection and its session; the server keeps running."""
        return self._fault(self._drop_sessions(), "PACK drop sessions")

    # ---- internals ------------------------------------------------------------------------
    def _fault(self, coro: Any, name: str) -> asyncio.Task[Any]:
        if self._closed:
            coro.close()
            raise RuntimeError("PackerSim closed")
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._faults.add(task)
        task.add_done_callback(self._faults.discard)
        return task

    async def _restart(self, down_s: float) -> None:
        log.warning("PACK restarting (down %.1f s)", down_s)
        loop = asyncio.get_running_loop()
        self.machine.power_off()
        self.machine.set_publisher(lambda path, value: None)
        await self._stop_serving()
        began = loop.time()
        server = self._spares.pop() if self._spares else await self._make_server()
        await asyncio.sleep(max(0.0, down_s - (loop.time() - began)))
        self.machine.power_on()
        await self._serve(server)
        self.restarts += 1

    async def _drop_sessions(self) -> int:
        if self._server is None:
            return 0
        dropped = await drop_all_sessions(self._server)
        log.warning("PACK dropped %d client connections", dropped)
        return dropped

    async def _make_server(self) -> Server:
        assert self._cert is not None and self._key is not None
        return await make_server(host=self.host, port=self._port, certificate=self._cert,
                                 private_key=self._key, users=self.users, trust=self.trust)

    async def _serve(self, server: Server) -> None:
        self._server = server  # from here on, _stop_serving() stops it whatever happens
        node_ids = await populate(server, self.machine.values)
        publisher = Publisher(server, node_ids)
        guard_writes(server, self.machine, self.users, node_ids, publisher)
        await server.start()
        anonymous_only_without_security(server)
        if server.bserver is not None:
            self._port = server.bserver.port
        self._publisher = publisher
        self.machine.set_publisher(publisher.put)
        self._tasks = [asyncio.create_task(publisher.run(), name="PACK publisher"),
                       asyncio.create_task(self._scan_loop(), name="PACK scan")]
        self._serving.set()
        log.info("PACK serving on %s", self.url)

    async def _stop_serving(self) -> None:
        self._serving.clear()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            await cancel_and_wait(task)
        server, self._server, self._publisher = self._server, None, None
        if server is not None:
            await drop_all_sessions(server)
            await server.stop()

    async def _scan_loop(self) -> None:
        while True:
            if not self.scan_stalled:
                self.machine.scan()
            await asyncio.sleep(self.scan_s)

    def _certificate_files(self) -> tuple[Path, Path]:
        if self._cert is not None and self._key is not None:
            cert, key = Path(self._cert), Path(self._key)
        else:
            folder = self._pki_dir
            if folder is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="packer-pki-")
                folder = Path(self._tmp.name)
            cert, key = folder / SERVER_CERT, folder / SERVER_KEY
        ensure_certificate(cert, key, application_uri=APPLICATION_URI,
                           common_name="plateline PACK simulator", hostnames=[self.host])
        return cert, key


# ---- command line -------------------------------------------------------------------------

async def _pack_now_and_then(sim: PackerSim, every_s: float, bad_every: int) -> None:
    """Standalone mode: a pack every ``every_s`` s while in Execute (every n-th seal bad)."""
    rng = random.Random(1)
    tray = 0
    while True:
        await asyncio.sleep(every_s)
        tray = tray % 999 + 1
        bad = bad_every > 0 and tray % bad_every == 0
        try:
            sim.pack(tray, not bad, 1800 + rng.randint(-30, 30))
        except PackerNotExecuting:
            pass


async def run(args: argparse.Namespace) -> int:
    users = {"line": args.line_password, "viewer": args.viewer_password}
    trust = [Path(p) for p in args.trust] if args.trust else [args.pki_dir / "trusted"]
    for path in trust:
        if not path.suffix:
            path.mkdir(parents=True, exist_ok=True)
    async with runner.stop_on_sigterm() as stop, PackerSim(
            host=args.host, port=args.port, users=users, trust=trust,
            pki_dir=args.pki_dir) as sim:
        print(json.dumps(sim.endpoints_document(), indent=2), flush=True)
        feeder = None
        if args.pack_every > 0:
            feeder = asyncio.create_task(_pack_now_and_then(sim, args.pack_every, args.bad_every))
        await runner.wait_for_stop(stop, feeder)
    return 0


def build_arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m plateline.simulators.packer",
                                description="Run the simulated packer PACK (OPC UA server).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--pki-dir", type=Path, default=Path("var/sim/packer-pki"),
                   help="server certificate and key (created if absent)")
    p.add_argument("--trust", action="append",
                   help="trusted client certificate file or folder (repeatable; default: "
                        "PKI_DIR/trusted)")
    p.add_argument("--line-password", default=DEFAULT_USERS["line"])
    p.add_argument("--viewer-password", default=DEFAULT_USERS["viewer"])
    p.add_argument("--pack-every", type=float, default=0.0,
                   help="make a pack every N s while in Execute (0: only through the API)")
    p.add_argument("--bad-every", type=int, default=0, help="every n-th seal bad (0: none)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return runner.run_command(build_arg_parser().parse_args(argv), run)


if __name__ == "__main__":
    sys.exit(main())
