"""The test servers themselves: real processes that keep their data across a restart."""

from __future__ import annotations

import time
import uuid

import redis
from servers import CassandraNode, RedisServer, cql_session


def test_redis_private_keeps_data_across_restart(redis_private: RedisServer) -> None:
    client = redis.Redis.from_url(redis_private.url)
    client.set("k", "v")
    redis_private.stop()
    redis_private.start()
    assert redis.Redis.from_url(redis_private.url).get("k") == b"v"


def test_redis_server_answers(redis_server: RedisServer) -> None:
    assert redis.Redis.from_url(redis_server.url).ping()


def _release_version(node: CassandraNode) -> str:
    with cql_session(node) as session:
        row = session.execute("SELECT release_version FROM system.local").one()
    return str(row.release_version)


def test_cassandra_server_is_cassandra_5(cassandra_server: CassandraNode) -> None:
    assert _release_version(cassandra_server).startswith("5.0.")


def test_cassandra_restartable_keeps_data_across_kill(
    cassandra_restartable: CassandraNode,
) -> None:
    node = cassandra_restartable
    keyspace = f"restart_{uuid.uuid4().hex[:12]}"
    with cql_session(node) as session:
        session.execute(
            f"CREATE KEYSPACE {keyspace} WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        session.execute(f"CREATE TABLE {keyspace}.t (k text PRIMARY KEY, v text)")
        session.execute(f"INSERT INTO {keyspace}.t (k, v) VALUES ('a', 'b')")

    # The commit log is synced every 2 s (scripts/cassandra/cassandra.yaml.in) and replay
    # stops at the last sync marker: a kill loses writes younger than that, by design.
    time.sleep(3)
    node.stop(kill=True)
    assert not node.running
    node.start()

    with cql_session(node) as session:
        row = session.execute(f"SELECT v FROM {keyspace}.t WHERE k = 'a'").one()
        assert row is not None
        assert row.v == "b"
        session.execute(f"DROP KEYSPACE {keyspace}")
