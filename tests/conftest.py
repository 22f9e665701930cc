"""Shared fixtures: real Redis and Cassandra servers for the tests that need them.

- ``redis_server`` (session): a redis-server for this process (each xdist worker gets its
  own, so tests may use any database freely); ``ORCHESTRION_TEST_REDIS=host:port`` uses
  an existing server instead. ``.host``, ``.port``, ``.url``.
- ``redis_private`` (function): a fresh redis-server the test may ``.stop()`` and
  ``.start()`` (same port and data folder; the AOF keeps the data).
- ``cassandra_server`` (session): ONE Cassandra node per test run, shared by all xdist
  workers; ``ORCHESTRION_TEST_CASSANDRA=host:port`` (set by ``.ci/run``) uses an existing
  node. ``.host``, ``.port``, ``.contact``, ``.username``, ``.password``.
- ``cassandra_restartable`` (function): a second node, started the first time a test asks,
  that one test at a time may ``.stop()`` / ``.stop(kill=True)`` and ``.start()`` (a
  cross-process lock serialises its users), so outage tests never disturb tests running
  on the shared node. It is running when the test gets it. Unlike the others it flushes
  schema changes, so a SIGKILL (``.stop(kill=True)``) loses no table; rows survive it once
  the commit log synced them (every 2 s).
- ``cassandra_auth_server`` (session): a node with PasswordAuthenticator (cassandra/cassandra).
- ``cassandra_keyspace`` (function): a fresh keyspace name, dropped after the test.

The controller process (or the only process, without xdist) owns the run's folder and
stops every Cassandra node of the run at the end. With ``CI=true`` a server that cannot be
had fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from servers import (
    CassandraNode,
    RedisServer,
    ServerError,
    SharedCassandra,
    cql_session,
    running_redis,
    wait_for_cql,
)

RUN_DIR_ENV = "ORCHESTRION_TEST_RUN_DIR"
OWNER_PID_ENV = "ORCHESTRION_OWNER_PID"
REDIS_FIXTURES = {"redis_server", "redis_private"}
CASSANDRA_FIXTURES = {
    "cassandra_server",
    "cassandra_restartable",
    "cassandra_auth_server",
    "cassandra_keyspace",
}
_owns_run_dir = pytest.StashKey[bool]()
_shared_nodes: dict[str, SharedCassandra] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "redis: uses a real Redis server (fixture redis_*)")
    config.addinivalue_line(
        "markers", "cassandra: uses a real Cassandra node (fixture cassandra_*)"
    )
    # The controller creates the run's folder before xdist starts its workers, which
    # inherit the variable: every process of the run then finds the same shared nodes.
    owner = not hasattr(config, "workerinput") and RUN_DIR_ENV not in os.environ
    config.stash[_owns_run_dir] = owner
    if owner:
        os.environ[RUN_DIR_ENV] = tempfile.mkdtemp(prefix="orchestrion-tests-")
        # Servers started by any process of this run die with this process, even if it
        # is killed before pytest_unconfigure (scripts/kill-with-owner.sh).
        os.environ[OWNER_PID_ENV] = str(os.getpid())


def pytest_unconfigure(config: pytest.Config) -> None:
    if config.stash.get(_owns_run_dir, False):
        run_dir = Path(os.environ.pop(RUN_DIR_ENV))
        os.environ.pop(OWNER_PID_ENV, None)
        SharedCassandra.stop_all(run_dir)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark server tests so that ``-m 'not servers'`` runs the rest without servers."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & REDIS_FIXTURES:
            item.add_marker(pytest.mark.redis)
            item.add_marker(pytest.mark.servers)
        if names & CASSANDRA_FIXTURES:
            item.add_marker(pytest.mark.cassandra)
            item.add_marker(pytest.mark.servers)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> NoReturn:
    """Skip on a developer machine that lacks a server; fail in CI, where none may be missing."""
    if _in_ci():
        pytest.fail(f"{reason} (CI=true: a missing server is an error)", pytrace=False)
    pytest.skip(reason)


def _run_dir() -> Path:
    return Path(os.environ[RUN_DIR_ENV])


# -- Redis --------------------------------------------------------------------------------


def _redis_prerequisites() -> None:
    if shutil.which("redis-server") is None and os.geteuid() != 0:
        _unavailable("redis-server is not installed (scripts/start-redis.sh installs it as root)")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    external = os.environ.get("ORCHESTRION_TEST_REDIS")
    if external:
        host, _, port = external.rpartition(":")
        yield RedisServer(host, int(port))
        return
    _redis_prerequisites()
    with running_redis(_run_dir()) as server:
        yield server


@pytest.fixture
def redis_private() -> Iterator[RedisServer]:
    _redis_prerequisites()
    with running_redis(_run_dir()) as server:
        yield server


# -- Cassandra ----------------------------------------------------------------------------


def _shared(name: str, *, auth: bool = False, fast_schema: bool = True) -> CassandraNode:
    if shutil.which("java") is None or shutil.which("mvn") is None:
        _unavailable("Cassandra needs java (JDK 17) and mvn on PATH")
    shared = _shared_nodes.setdefault(
        name, SharedCassandra(_run_dir(), name, auth=auth, fast_schema=fast_schema)
    )
    try:
        return shared.get()
    except ServerError as exc:
        pytest.fail(f"cassandra node '{name}' did not start:\n{exc}", pytrace=False)


@pytest.fixture(scope="session")
def cassandra_server() -> CassandraNode:
    external = os.environ.get("ORCHESTRION_TEST_CASSANDRA")
    if external:
        node = CassandraNode.from_contact(external)
        wait_for_cql(node)
        return node
    return _shared("shared")


@pytest.fixture
def cassandra_restartable() -> Iterator[CassandraNode]:
    _shared("restartable", fast_schema=False)  # crashed on purpose: schema must be durable
    with _shared_nodes["restartable"].exclusive() as node:
        yield node


@pytest.fixture(scope="session")
def cassandra_auth_server() -> CassandraNode:
    return _shared("auth", auth=True)


@pytest.fixture
def cassandra_keyspace(cassandra_server: CassandraNode) -> Iterator[str]:
    """A keyspace name no other test uses; the keyspace (if created) is dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    yield name
    with cql_session(cassandra_server) as session:
        session.execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=120)
