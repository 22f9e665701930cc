"""Fixtures for the worker tests: a Redis-backed cluster of real worker processes."""

from __future__ import annotations

import itertools
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from procs import Cluster, fast_recovery_env, store_env_redis

_databases = itertools.count(1)


@pytest.fixture
def redis_cluster(redis_server: object) -> Iterator[Cluster]:
    """Redis store and broker (a database of its own for this test), no process started yet."""
    import redis

    host, port = redis_server.host, redis_server.port  # type: ignore[attr-defined]
    db = next(_databases) % 16 or 1
    redis.Redis(host=host, port=port, db=db).flushdb()
    env = {
        **store_env_redis(host, port, 0),
        "ORCHESTRION_PERSISTENCE_CLUSTER_NAME": f"t{uuid.uuid4().hex[:10]}",
        "ORCHESTRION_BROKER_URL": f"redis://{host}:{port}/{db}",
        **fast_recovery_env(),
    }
    cluster = Cluster(env, Path(tempfile.mkdtemp(prefix="orchestrion-workers-")))
    yield cluster
    cluster.stop()
