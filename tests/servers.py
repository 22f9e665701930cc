"""Handles on the real servers the tests use: Redis (Debian's redis-server) and Cassandra.

The servers are started and stopped by ``scripts/start-*.sh`` and ``scripts/stop-*.sh``, the
same scripts CI and developers use. Ports come from small ranges and are reserved with a
lock file per port, so that parallel test runs (pytest-xdist workers, or several people on
one machine) never pick the same one.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts"
REDIS_PORTS = range(18300, 18400)
# Each Cassandra node takes three ports: CQL, storage (CQL + 1) and SSL storage (CQL + 2).
CASSANDRA_PORTS = range(19042, 19100, 3)
PORT_LOCKS = Path(os.environ.get("ORCHESTRION_TEST_PORT_LOCKS", "/tmp/orchestrion-test-ports"))


class ServerError(RuntimeError):
    """A test server could not be started or stopped; the message has its output."""


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class PortReservation:
    """A port (and the ``width - 1`` ports after it) held by an flock until released."""

    port: int
    _lock_file: IO[str] | None = field(default=None, repr=False)

    def release(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None


def reserve_port(ports: range, width: int = 1) -> PortReservation:
    """Reserve a free port from ``ports`` for as long as this process keeps the reservation."""
    PORT_LOCKS.mkdir(parents=True, exist_ok=True)
    candidates = list(ports)
    random.shuffle(candidates)
    for port in candidates:
        lock_file = (PORT_LOCKS / f"{port}.lock").open("w")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            continue
        if all(_port_is_free(p) for p in range(port, port + width)):
            return PortReservation(port, lock_file)
        lock_file.close()
    raise ServerError(f"no free port in {ports.start}-{ports.stop - 1}")


def _run_script(args: list[str], timeout_s: float) -> str:
    """Run a server script; its output on success, ServerError with the output on failure."""
    try:
        done = subprocess.run(
            args,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ServerError(f"{' '.join(args)} did not finish within {timeout_s} s") from exc
    if done.returncode != 0:
        raise ServerError(
            f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done.stdout


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive flock on ``path`` (created if missing), for cross-process sections."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- Redis --------------------------------------------------------------------------------


@dataclass
class RedisServer:
    """A redis-server on 127.0.0.1. ``owned`` servers can be stopped and started again."""

    host: str
    port: int
    data_dir: Path | None = None
    owned: bool = False

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> None:
        """Start (again) on the same port and folder; the AOF brings the data back."""
        self._require_owned()
        _run_script([str(SCRIPTS / "start-redis.sh"), str(self.port), str(self.data_dir)], 300)

    def stop(self) -> None:
        self._require_owned()
        _run_script([str(SCRIPTS / "stop-redis.sh"), str(self.port), str(self.data_dir)], 60)

    def _require_owned(self) -> None:
        if not self.owned:
            raise ServerError(f"redis at {self.host}:{self.port} was not started by the tests")


@contextmanager
def running_redis(base_dir: Path) -> Iterator[RedisServer]:
    """A fresh redis-server on a free port, stopped and removed on exit."""
    reservation = reserve_port(REDIS_PORTS)
    data_dir = base_dir / f"redis-{reservation.port}"
    server = RedisServer("127.0.0.1", reservation.port, data_dir, owned=True)
    try:
        server.start()
        yield server
    finally:
        try:
            server.stop()
        finally:
            reservation.release()
            shutil.rmtree(data_dir, ignore_errors=True)


# -- Cassandra ----------------------------------------------------------------------------


@dataclass
class CassandraNode:
    """One Cassandra node on 127.0.0.1.

    ``username``/``password`` are set when the node checks passwords (the default
    superuser). An ``owned`` node was started by the tests and may be stopped and started
    again on the same ports and folder, keeping its data.
    """

    host: str
    port: int
    data_dir: Path | None = None
    owned: bool = False
    auth: bool = False
    fast_schema: bool = False  # DDL without schema flushes: never crash such a node

    @property
    def contact(self) -> str:
        """``host:port``, the form of ``ORCHESTRION_TEST_CASSANDRA``."""
        return f"{self.host}:{self.port}"

    @property
    def username(self) -> str | None:
        return "cassandra" if self.auth else None

    @property
    def password(self) -> str | None:
        return "cassandra" if self.auth else None

    def start(self) -> None:
        """Start the node and wait until it answers a CQL query."""
        self._require_owned()
        args = [str(SCRIPTS / "start-cassandra.sh"), "--port", str(self.port)]
        args += ["--dir", str(self.data_dir)]
        if self.auth:
            args.append("--auth")
        if self.fast_schema:
            args.append("--fast-schema")
        _run_script(args, 900)

    def stop(self, *, kill: bool = False) -> None:
        """Stop the node (SIGTERM, or SIGKILL with ``kill=True`` for a crash)."""
        self._require_owned()
        args = [str(SCRIPTS / "stop-cassandra.sh"), "--dir", str(self.data_dir)]
        if kill:
            args.append("--kill")
        _run_script(args, 120)

    @property
    def running(self) -> bool:
        """True while the node's process is alive (it may not answer yet)."""
        if self.data_dir is None:
            return True
        pid_file = self.data_dir / "cassandra.pid"
        try:
            os.kill(int(pid_file.read_text()), 0)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return False
        return True

    def to_json(self) -> str:
        return json.dumps(
            {
                "host": self.host,
                "port": self.port,
                "data_dir": str(self.data_dir) if self.data_dir else None,
                "auth": self.auth,
                "fast_schema": self.fast_schema,
            }
        )

    @classmethod
    def from_json(cls, text: str, *, owned: bool) -> CassandraNode:
        raw = json.loads(text)
        data_dir = Path(raw["data_dir"]) if raw["data_dir"] else None
        return cls(
            raw["host"],
            raw["port"],
            data_dir,
            owned=owned,
            auth=raw["auth"],
            fast_schema=raw["fast_schema"],
        )

    @classmethod
    def from_contact(cls, contact: str) -> CassandraNode:
        """A node started by someone else, from ``host:port``."""
        host, _, port = contact.rpartition(":")
        if not host or not port.isdigit():
            raise ServerError(f"expected host:port for a Cassandra node, got {contact!r}")
        return cls(host, int(port))

    def _require_owned(self) -> None:
        if not self.owned:
            raise ServerError(f"cassandra at {self.contact} was not started by the tests")


class SharedCassandra:
    """A node shared by every process of one test run, started by whichever needs it first.

    The node's description lives in ``<run_dir>/<name>.json``; a file lock serialises the
    start. The process that owns the run (the pytest controller) calls ``stop_all`` at the
    end, so a node outlives the xdist worker that started it.
    """

    def __init__(
        self, run_dir: Path, name: str, *, auth: bool = False, fast_schema: bool = False
    ) -> None:
        self.run_dir = run_dir
        self.name = name
        self.auth = auth
        self.fast_schema = fast_schema
        # Held for this process's lifetime: no other test run takes the node's ports
        # while it starts or while an outage test has it stopped.
        self._reservation: PortReservation | None = None

    @property
    def state_file(self) -> Path:
        return self.run_dir / f"{self.name}.json"

    @property
    def failure_file(self) -> Path:
        return self.run_dir / f"{self.name}.failed"

    @property
    def lock_file(self) -> Path:
        return self.run_dir / f"{self.name}.lock"

    def get(self) -> CassandraNode:
        """The node, started now if no process of this run started it yet."""
        with file_lock(self.lock_file):
            if self.failure_file.exists():  # another process of this run already tried
                raise ServerError(self.failure_file.read_text())
            if self.state_file.exists():
                return CassandraNode.from_json(self.state_file.read_text(), owned=True)
            self._reservation = reserve_port(CASSANDRA_PORTS, width=3)
            port = self._reservation.port
            node = CassandraNode(
                "127.0.0.1",
                port,
                self.run_dir / f"{self.name}-{port}",
                owned=True,
                auth=self.auth,
                fast_schema=self.fast_schema,
            )
            # Written before the start so that stop_all cleans up even a failed start.
            self.state_file.write_text(node.to_json())
            try:
                node.start()
            except ServerError as exc:
                self.failure_file.write_text(str(exc))
                raise
            return node

    @contextmanager
    def exclusive(self) -> Iterator[CassandraNode]:
        """The node, held for one test at a time (for tests that stop it), running on entry."""
        node = self.get()
        with file_lock(self.run_dir / f"{self.name}.use.lock"):
            if not node.running:
                node.start()
            yield node

    @staticmethod
    def stop_all(run_dir: Path) -> None:
        """Kill every node this run started (their data is thrown away) and remove the folder."""
        errors = []
        for state_file in sorted(run_dir.glob("*.json")):
            node = CassandraNode.from_json(state_file.read_text(), owned=True)
            try:
                node.stop(kill=True)
            except ServerError as exc:
                errors.append(str(exc))
        shutil.rmtree(run_dir, ignore_errors=True)
        if errors:
            raise ServerError("\n".join(errors))


@contextmanager
def cql_session(node: CassandraNode, *, timeout_s: float = 30.0) -> Iterator[Any]:
    """A plain driver session on ``node`` (timeouts generous: test machines are busy)."""
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import RoundRobinPolicy

    auth = PlainTextAuthProvider(node.username, node.password) if node.auth else None
    profile = ExecutionProfile(load_balancing_policy=RoundRobinPolicy(), request_timeout=60)
    cluster = Cluster(
        [node.host],
        port=node.port,
        auth_provider=auth,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        protocol_version=5,
        connect_timeout=timeout_s,
        control_connection_timeout=timeout_s,
    )
    try:
        yield cluster.connect()
    finally:
        cluster.shutdown()


def wait_for_cql(node: CassandraNode, timeout_s: float = 120.0) -> None:
    """Wait until ``node`` answers a query (a node started by someone else)."""
    from cassandra.cluster import NoHostAvailable

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with cql_session(node, timeout_s=10) as session:
                session.execute("SELECT release_version FROM system.local")
            return
        except NoHostAvailable as exc:
            if time.monotonic() > deadline:
                raise ServerError(f"cassandra at {node.contact} does not answer: {exc}") from exc
            time.sleep(0.5)
