"""What only the Cassandra store has: keyspace replication, schema migrations, consistency
levels, authentication, the time-bucketed due index, contended appends.

The behaviour every backend shares is in ``test_contract.py``.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Any

import pytest
from counting import Counting
from servers import CassandraNode, cql_session

from orchestrion.config import load_config
from orchestrion.errors import ConfigError, StoreUnavailable
from persistence import open_backend
from persistence.cassandra import CassandraStore
from persistence.cassandra_schema import BUCKET_S, LATEST_SCHEMA_VERSION
from persistence.contract import ScheduleItem, SessionRecord

TABLES = {
    "schema_version",
    "sessions",
    "finished",
    "mailbox",
    "documents",
    "schedules",
    "schedule_due",
    "schedule_buckets",
    "schedule_kinds",
    "schedule_kind_names",
    "node_sessions",
    "nodes",
}


def open_store(node: CassandraNode, keyspace: str, **options: Any) -> CassandraStore:
    options.setdefault("read_consistency", "ONE")
    options.setdefault("write_consistency", "ONE")
    options.setdefault("serial_consistency", "SERIAL")
    options.setdefault("connect_timeout_s", 30.0)
    return CassandraStore([node.host], node.port, keyspace=keyspace, **options)


def replication_of(node: CassandraNode, keyspace: str) -> dict[str, str]:
    with cql_session(node) as session:
        row = session.execute(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s",
            (keyspace,),
        ).one()
    return dict(row.replication)


def tables_of(node: CassandraNode, keyspace: str) -> set[str]:
    with cql_session(node) as session:
        rows = session.execute(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (keyspace,)
        )
        return {row.table_name for row in rows}


def bucket_markers(node: CassandraNode, keyspace: str) -> list[int]:
    with cql_session(node) as session:
        return [
            r.bucket for r in session.execute(f"SELECT bucket FROM {keyspace}.schedule_buckets")
        ]


# -- keyspace and replication -------------------------------------------------------------------


def test_keyspace_is_created_with_network_topology_replication(
    cassandra_server: CassandraNode, cassandra_keyspace: str
) -> None:
    # SimpleSnitch puts every node in datacenter1.
    replication = {"class": "NetworkTopologyStrategy", "datacenter1": 1}
    store = open_store(cassandra_server, cassandra_keyspace, replication=replication)
    try:
        store.write_session(SessionRecord("s", "h", "{}", 1))
        assert store.read_session("s") is not None
    finally:
        store.close()
    stored = replication_of(cassandra_server, cassandra_keyspace)
    assert stored["class"].endswith("NetworkTopologyStrategy")
    assert stored["datacenter1"] == "1"


def test_consistency_levels_are_applied(
    cassandra_server: CassandraNode, cassandra_keyspace: str
) -> None:
    """Two replicas wanted on a one-node cluster: ONE works, QUORUM is unavailable."""
    replication = {"class": "SimpleStrategy", "replication_factor": 2}
    relaxed = open_store(cassandra_server, cassandra_keyspace, replication=replication)
    strict = open_store(
        cassandra_server,
        cassandra_keyspace,
        replication=replication,
        read_consistency="QUORUM",
        write_consistency="QUORUM",
    )
    try:
        assert replication_of(cassandra_server, cassandra_keyspace)["replication_factor"] == "2"
        relaxed.heartbeat("n", 1.0)
        assert [n.node for n in relaxed.nodes()] == ["n"]
        with pytest.raises(StoreUnavailable, match="Unavailable"):
            strict.nodes()
        with pytest.raises(StoreUnavailable):
            strict.heartbeat("n", 2.0)
    finally:
        relaxed.close()
        strict.close()


def test_existing_keyspace_keeps_its_replication(
    cassandra_server: CassandraNode, cassandra_keyspace: str, caplog: pytest.LogCaptureFixture
) -> None:
    open_store(cassandra_server, cassandra_keyspace).close()
    with caplog.at_level(logging.WARNING, logger="orchestrion.persistence.cassandra"):
        store = open_store(
            cassandra_server,
            cassandra_keyspace,
            replication={"class": "SimpleStrategy", "replication_factor": 3},
        )
        store.close()
    assert replication_of(cassandra_server, cassandra_keyspace)["replication_factor"] == "1"
    assert "left unchanged" in caplog.text


def test_invalid_keyspace_names_and_levels_are_config_errors(
    cassandra_server: CassandraNode,
) -> None:
    with pytest.raises(ConfigError, match="cassandra-keyspace"):
        open_store(cassandra_server, "bad-name; DROP")
    with pytest.raises(Exception, match="consistency level 'SOMETIMES'"):
        open_store(cassandra_server, "unused", read_consistency="SOMETIMES")


# -- schema migrations --------------------------------------------------------------------------


def test_schema_is_created_recorded_and_reopening_is_idempotent(
    cassandra_server: CassandraNode, cassandra_keyspace: str
) -> None:
    store = open_store(cassandra_server, cassandra_keyspace)
    store.write_session(SessionRecord("s", "h", "{}", 1))
    store.close()
    assert tables_of(cassandra_server, cassandra_keyspace) == TABLES
    with cql_session(cassandra_server) as session:
        row = session.execute(
            f"SELECT version FROM {cassandra_keyspace}.schema_version WHERE component = 'store'"
        ).one()
    assert row.version == LATEST_SCHEMA_VERSION
    again = open_store(cassandra_server, cassandra_keyspace)
    try:
        assert again.schema_version == LATEST_SCHEMA_VERSION
        stored = again.read_session("s")
        assert stored is not None
        assert stored.snapshot == "{}"
    finally:
        again.close()


def test_an_interrupted_migration_is_completed_on_the_next_connect(
    cassandra_server: CassandraNode, cassandra_keyspace: str
) -> None:
    open_store(cassandra_server, cassandra_keyspace).close()
    with cql_session(cassandra_server) as session:
        # As if the process died after some tables and before recording the version.
        session.execute(f"DROP TABLE {cassandra_keyspace}.nodes")
        session.execute(f"TRUNCATE {cassandra_keyspace}.schema_version")
    store = open_store(cassandra_server, cassandra_keyspace)
    try:
        store.heartbeat("n1", 5.0)
        assert [n.node for n in store.nodes()] == ["n1"]
    finally:
        store.close()
    assert tables_of(cassandra_server, cassandra_keyspace) == TABLES


def test_schema_newer_than_this_code_is_refused(
    cassandra_server: CassandraNode, cassandra_keyspace: str
) -> None:
    open_store(cassandra_server, cassandra_keyspace).close()
    newer = LATEST_SCHEMA_VERSION + 1
    with cql_session(cassandra_server) as session:
        session.execute(
            f"UPDATE {cassandra_keyspace}.schema_version SET version = {newer}"
            " WHERE component = 'store'"
        )
    with pytest.raises(ConfigError, match=f"schema version {newer}, newer"):
        open_store(cassandra_server, cassandra_keyspace)


def test_unknown_configured_schema_version_is_refused(
    cassandra_server: CassandraNode, cassandra_keyspace: str
) -> None:
    with pytest.raises(ConfigError, match="cassandra-schema-version"):
        open_store(cassandra_server, cassandra_keyspace, schema_version=LATEST_SCHEMA_VERSION + 1)


# -- configuration and authentication -----------------------------------------------------------


def test_store_from_the_persistence_options(
    cassandra_server: CassandraNode, cassandra_keyspace: str
) -> None:
    config = load_config(
        None,
        {
            "ORCHESTRION_PERSISTENCE_TYPE": "cassandra",
            # A contact point that does not answer, then the node: the driver uses the live one.
            "ORCHESTRION_PERSISTENCE_CASSANDRA_NODES": f"127.0.0.2;{cassandra_server.host}",
            "ORCHESTRION_PERSISTENCE_CASSANDRA_LISTENPORT": str(cassandra_server.port),
            "ORCHESTRION_PERSISTENCE_CASSANDRA_KEYSPACE": cassandra_keyspace,
            "ORCHESTRION_PERSISTENCE_CASSANDRA_STRATEGY_CLASS": "NetworkTopologyStrategy",
            "ORCHESTRION_PERSISTENCE_CASSANDRA_STRATEGY_OPTIONS": "datacenter1:1",
            "ORCHESTRION_PERSISTENCE_CASSANDRA_READ_CONSISTENCY": "ONE",
            "ORCHESTRION_PERSISTENCE_CASSANDRA_WRITE_CONSISTENCY": "ONE",
            "ORCHESTRION_PERSISTENCE_CASSANDRA_SERIAL_CONSISTENCY": "SERIAL",
        },
    )
    store = open_backend(config)
    try:
        assert isinstance(store, CassandraStore)
        store.put_document("h", "<scxml/>")
        assert store.get_document("h") == "<scxml/>"
    finally:
        store.close()
    assert replication_of(cassandra_server, cassandra_keyspace)["datacenter1"] == "1"


def test_password_authentication(cassandra_auth_server: CassandraNode) -> None:
    node = cassandra_auth_server
    store = open_store(node, "t_auth", username=node.username, password=node.password)
    try:
        store.put_document("h", "<scxml/>")
        assert store.get_document("h") == "<scxml/>"
    finally:
        store.close()
    with pytest.raises(ConfigError, match="refused"):
        open_store(node, "t_auth", username=node.username, password="wrong")
    with pytest.raises(ConfigError, match="refused"):
        open_store(node, "t_auth")


def test_unreachable_cluster_is_store_unavailable() -> None:
    from servers import CASSANDRA_PORTS, reserve_port

    reservation = reserve_port(CASSANDRA_PORTS, width=3)  # free: nothing listens there
    try:
        with pytest.raises(StoreUnavailable):
            CassandraStore(["127.0.0.1"], reservation.port, connect_timeout_s=5.0)
    finally:
        reservation.release()


# -- the due index and contended writes ---------------------------------------------------------


def test_due_scan_reads_only_buckets_up_to_until_and_drops_empty_ones(
    cassandra_server: CassandraNode, cassandra_keyspace: str
) -> None:
    store = open_store(cassandra_server, cassandra_keyspace)
    try:
        for due in (100.0, 100.0 + BUCKET_S, 100.0 + 2 * BUCKET_S, 1_000_000.0):
            store.put_schedule(ScheduleItem(f"i{due}", due, "wake", {"due": due}))
        with cql_session(cassandra_server) as session:
            buckets = [
                r.bucket
                for r in session.execute(
                    f"SELECT bucket FROM {cassandra_keyspace}.schedule_buckets"
                )
            ]
        assert buckets == [10, 11, 12, 100_000]
        due = store.due_schedules(until=100.0 + BUCKET_S, now=0.0)
        assert [i.due_at for i in due] == [100.0, 110.0]
        store.remove_schedule("i100.0")
        store.remove_schedule("i110.0")
        # Buckets that ended long ago and were found empty lose their marker.
        assert [i.item_id for i in store.due_schedules(until=500.0, now=0.0)] == ["i120.0"]
        with cql_session(cassandra_server) as session:
            buckets = [
                r.bucket
                for r in session.execute(
                    f"SELECT bucket FROM {cassandra_keyspace}.schedule_buckets"
                )
            ]
        assert buckets == [12, 100_000]
        # An item put again into a forgotten bucket is found again.
        store.put_schedule(ScheduleItem("late", 101.0, "wake", {}))
        due_ids = [i.item_id for i in store.due_schedules(until=500.0, now=0.0)]
        assert due_ids == ["late", "i120.0"]
    finally:
        store.close()


class Crash(Exception):
    """The process died between a replace's conditional write and its index writes."""


def test_a_replace_cut_short_before_its_index_writes_is_repaired_by_the_next_claim(
    cassandra_server: CassandraNode, cassandra_keyspace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(cassandra_server, cassandra_keyspace)
    try:
        fired = ScheduleItem("cron:c", 100.0, "cron", {"n": 1})
        following = ScheduleItem("cron:c", 200.0, "cron", {"n": 2})
        store.put_schedule(fired)
        cql = store._schedules._cql

        def crash(*args: object, **kwargs: object) -> None:
            raise Crash

        monkeypatch.setattr(cql, "batch", crash)
        with pytest.raises(Crash):
            store.replace_schedule(fired, following)
        monkeypatch.undo()
        assert store.get_schedule("cron:c") == following
        # The due index still holds the old version: claiming it repairs the index.
        assert store.due_schedules(until=150.0, now=150.0) == [fired]
        assert not store.claim_schedule(fired, "beat", 30, 150.0)
        assert store.due_schedules(until=150.0, now=150.0) == []
        assert store.due_schedules(until=250.0, now=250.0) == [following]
        assert store.list_schedules("cron") == [following]
        assert store.claim_schedule(following, "beat", 30, 250.0)
    finally:
        store.close()


def test_concurrent_appends_get_distinct_consecutive_numbers(
    cassandra_server: CassandraNode, cassandra_keyspace: str
) -> None:
    stores = [open_store(cassandra_server, cassandra_keyspace) for _ in range(3)]
    results: dict[str, int] = {}
    errors: list[BaseException] = []

    def append(store: CassandraStore, worker: int) -> None:
        try:
            for n in range(8):
                # Every worker also re-sends one shared id: it must get one number only.
                events = [(f"w{worker}-{n}", "x"), ("shared", "s")]
                seqs = store.append_events("s", events)
                results[f"w{worker}-{n}"] = seqs[0]
                results.setdefault("shared", seqs[1])
                assert results["shared"] == seqs[1]
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=append, args=(store, worker)) for worker, store in enumerate(stores)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        assert sorted(results.values()) == list(range(1, 3 * 8 + 2))
        entries = stores[0].read_mailbox("s", 0)
        assert [e.seq for e in entries] == list(range(1, 3 * 8 + 2))
        assert {e.event_id: e.seq for e in entries} == results
    finally:
        for store in stores:
            store.close()


def test_an_accept_with_fresh_ids_is_one_transaction_and_a_stale_last_seq_recovers(
    cassandra_server: CassandraNode, cassandra_keyspace: str
) -> None:
    a, b = (open_store(cassandra_server, cassandra_keyspace) for _ in range(2))
    try:
        assert a.append_events("s", [("a1", "x")], fresh_ids=True) == [1]
        counting = Counting(a._mailbox._cql)
        a._mailbox._cql = counting  # type: ignore[assignment]
        assert a.append_events("s", [("a2", "x")], fresh_ids=True) == [2]
        assert counting.calls == Counter({"cas_batch": 1}), "no reads: last_seq is known"
        assert b.append_events("s", [("b1", "x")]) == [3]  # a's last_seq is now stale
        counting.calls.clear()
        assert a.append_events("s", [("a3", "x")], fresh_ids=True) == [4]
        assert counting.calls == Counter({"cas_batch": 2}), "the failed condition told it 3"
        entries = b.read_mailbox("s", 0)
        assert [(e.seq, e.event_id) for e in entries] == [
            (1, "a1"),
            (2, "a2"),
            (3, "b1"),
            (4, "a3"),
        ]
    finally:
        a.close()
        b.close()


def test_a_long_append_spans_several_batches_and_numbers_stay_exact(
    cassandra_server: CassandraNode, cassandra_keyspace: str
) -> None:
    store = open_store(cassandra_server, cassandra_keyspace)
    try:
        events = [(f"e{i}", f"payload {i}") for i in range(450)]
        events.append(("e3", "again"))  # a duplicate that lands in a later batch
        seqs = store.append_events("s", events)
        assert seqs == [*range(1, 451), 4]
        entries = store.read_mailbox("s", 0, limit=1000)
        assert [(e.seq, e.event_id) for e in entries] == [(i + 1, f"e{i}") for i in range(450)]
        # Sending the whole batch again (a retry after a lost reply) changes nothing.
        assert store.append_events("s", events) == seqs
        assert len(store.read_mailbox("s", 0, limit=1000)) == 450
    finally:
        store.close()
