"""Stores for the contract suite: one fixture, parametrised by backend name.

Every test id carries the backend's name (``[memory]``, ``[sqlite]``, ``[redis]``,
``[cassandra]``). Tests share the real servers, so each uses its own ids (``ns``) and, where
the backend has one, its own namespace (a Redis key prefix; a Cassandra keyspace per run).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis_cluster import RedisCluster, running_cluster
from store_fixtures import StoreFactory

from orchestrion.config import Config, Endpoint, PersistenceConfig
from persistence import open_store
from persistence.contract import Store
from persistence.resilient import ResilientStore

BACKENDS = ["memory", "sqlite", "redis", "redis-cluster", "cassandra"]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_cassandra_backend() -> None:
    if importlib.util.find_spec("persistence.cassandra") is None:
        reason = "persistence/cassandra.py (built by another helper) has not landed yet"
        if in_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A three-master Redis Cluster for this process (Cluster mode of the Redis backend)."""
    if shutil.which("redis-server") is None:
        reason = "redis-server is not installed"
        if in_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    with running_cluster(tmp_path_factory.mktemp("redis-cluster")) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def contract_keyspace(request: pytest.FixtureRequest) -> Iterator[str]:
    """One Cassandra keyspace for this process's contract tests, dropped at the end."""
    name = f"t_contract_{uuid.uuid4().hex[:12]}"
    yield name
    node = request.getfixturevalue("cassandra_server")
    from cassandra.cluster import Cluster

    cluster = Cluster([node.host], port=node.port)
    try:
        cluster.connect().execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=60)
    finally:
        cluster.shutdown()


def persistence_config(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, ns: str
) -> PersistenceConfig:
    """The [persistence] section that points ``backend`` at this test's servers."""
    if backend == "memory":
        return PersistenceConfig(type="memory")
    if backend == "sqlite":
        return PersistenceConfig(type="sqlite", sqlite_path=tmp_path / "store.db")
    if backend == "redis":
        server = request.getfixturevalue("redis_server")
        return PersistenceConfig(
            type="redis", redis_nodes=(Endpoint(server.host, server.port),), cluster_name=ns
        )
    if backend == "redis-cluster":
        cluster = request.getfixturevalue("redis_cluster")
        return PersistenceConfig(
            type="redis",
            redis_nodes=tuple(Endpoint(host, port) for host, port in cluster.nodes),
            cluster_name=ns,
        )
    require_cassandra_backend()
    node = request.getfixturevalue("cassandra_server")
    return PersistenceConfig(
        type="cassandra",
        cassandra_nodes=(node.host,),
        cassandra_listenport=node.port,
        cassandra_keyspace=request.getfixturevalue("contract_keyspace"),
        cassandra_read_consistency="ONE",
        cassandra_write_consistency="ONE",
        cassandra_serial_consistency="SERIAL",
        username=node.username or "",
        password=node.password or "",
    )


@pytest.fixture
def ns() -> str:
    """A prefix for this test's ids (and Redis key prefix), unique across parallel runs."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def open_more(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, ns: str
) -> Iterator[StoreFactory]:
    """Opens further stores on the same data (another process would do the same).

    For ``memory`` every call returns the first store: there is nothing else to share.
    """
    section = persistence_config(backend, request, tmp_path, ns)
    config = dataclasses.replace(Config(), persistence=section)
    opened: list[ResilientStore] = []

    def factory() -> ResilientStore:
        if backend == "memory" and opened:
            return opened[0]
        store = open_store(config)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(open_more: StoreFactory) -> Store:
    return open_more()
