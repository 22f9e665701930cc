"""The store layer against the raw driver: snapshot writes and reads, bytes, claims.

For each backend the same single write is timed twice in the same run: through our layer
(``open_store``: compare-and-set with version and fence, the outage wrapper) and with the
raw driver doing the plainest equivalent (``SET`` for Redis, one ``INSERT`` for SQLite and
Cassandra). The ratio ours/raw shows our overhead; the goal is within 1.5x. It also prints
the bytes stored per session and the claim throughput of due schedule items.

    python bench/store.py [--backends sqlite,redis,cassandra] [--sessions 300] [--updates 5]
                          [--redis HOST:PORT] [--cassandra HOST:PORT]

Without --redis, a redis-server is started with scripts/start-redis.sh on a port from
18200-18299 and stopped at the end. Cassandra runs only with --cassandra (or
ORCHESTRION_TEST_CASSANDRA) and once persistence/cassandra.py exists.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_servers import started_redis  # noqa: E402

from orchestrion.config import Config, Endpoint, PersistenceConfig  # noqa: E402
from persistence import open_store  # noqa: E402
from persistence.contract import ScheduleItem, SessionRecord, Store  # noqa: E402

DOC_HASH = "9f2c" * 16


def realistic_snapshot(i: int, version: int) -> str:
    """An engine-shaped snapshot with a few KB of data model (customer, history, routing)."""
    history = [
        {"at": 1700000000 + k * 60, "event": f"ivr.step{k}", "ok": k % 3 != 0} for k in range(30)
    ]
    datamodel = {
        "customer": {
            "id": f"C-{i}",
            "name": "Ada Lovelace",
            "tier": "gold",
            "phones": ["+44 20 7946 0000", "+44 7700 900000"],
            "address": {"street": "12 St James Sq", "city": "London", "zip": "SW1Y 4JH"},
            "tags": ["vip", "callback"],
        },
        "history": history,
        "counters": {"attempts": version, "transfers": 1, "errors": 0},
        "queue": "support-tier2",
        "retries": 3,
    }
    snapshot = {
        "format": 1,
        "document_hash": DOC_HASH,
        "sessionid": f"s{i}",
        "parent": None,
        "started": True,
        "running": True,
        "configuration": ["main", "routing", "waiting_agent"],
        "history": {"main_h": ["routing"]},
        "internal_queue": [],
        "external_queue": [],
        "pending_sends": [
            {
                "due": 1700000900.0,
                "seq": 3,
                "sendid": "reminder",
                "route": {"kind": "self"},
                "event": {"name": "timeout", "data": {"attempt": version}},
            }
        ],
        "send_seq": 4,
        "invokes": {},
        "datamodel": {"format": "json", "values": datamodel},
    }
    return json.dumps(snapshot, separators=(",", ":"))


@dataclasses.dataclass
class Timing:
    latencies_s: list[float]
    elapsed_s: float

    @property
    def p50_us(self) -> float:
        return statistics.median(self.latencies_s) * 1e6

    @property
    def p99_us(self) -> float:
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6

    @property
    def per_s(self) -> float:
        return len(self.latencies_s) / self.elapsed_s


def timed(operations: list[Callable[[], Any]]) -> Timing:
    latencies = []
    start = time.perf_counter()
    for operation in operations:
        t0 = time.perf_counter()
        operation()
        latencies.append(time.perf_counter() - t0)
    return Timing(latencies, time.perf_counter() - start)


def timed_pair(
    ours: list[Callable[[], Any]], raw: list[Callable[[], Any]], chunk: int = 50
) -> tuple[Timing, Timing]:
    """Both sides in alternating chunks, so that load changes on a shared machine hit both."""
    ours_timings, raw_timings = [], []
    for index, start in enumerate(range(0, len(ours), chunk)):
        pair = (ours[start : start + chunk], raw[start : start + chunk])
        if index % 2:
            raw_timings.append(timed(pair[1]))
            ours_timings.append(timed(pair[0]))
        else:
            ours_timings.append(timed(pair[0]))
            raw_timings.append(timed(pair[1]))
    return merge(ours_timings), merge(raw_timings)


def merge(timings: list[Timing]) -> Timing:
    return Timing(
        [lat for t in timings for lat in t.latencies_s], sum(t.elapsed_s for t in timings)
    )


@dataclasses.dataclass
class RawDriver:
    """The plainest write and read of one snapshot with the backend's own driver."""

    write: Callable[[str, str], Any]
    read: Callable[[str], Any]
    bytes_per_session: Callable[[list[str]], float]
    close: Callable[[], None]


@dataclasses.dataclass
class Subject:
    name: str
    store: Store
    bytes_per_session: Callable[[list[str]], float]
    raw: RawDriver | None


# -- the workload -------------------------------------------------------------------------------


def run(subject: Subject, sessions: int, updates: int) -> list[tuple[str, Timing, Timing | None]]:
    prefix = uuid.uuid4().hex[:8]
    ids = [f"{prefix}-{i}" for i in range(sessions)]
    snapshots = {v: [realistic_snapshot(i, v) for i in range(sessions)] for v in (1, updates)}
    store = subject.store
    lease = {sid: store.acquire_lease(sid, "bench", 600, time.time()) for sid in ids}

    def write_op(sid: str, i: int, version: int) -> Callable[[], None]:
        snap = snapshots[1 if version == 1 else updates][i]
        held = lease[sid]
        fence = held.fence if held else None
        record = SessionRecord(sid, DOC_HASH, snap, version, applied_seq=version)
        return lambda: store.write_session(record, fence=fence)

    ours_ops = [write_op(sid, i, v) for v in range(1, updates + 1) for i, sid in enumerate(ids)]
    raw = subject.raw
    rows: list[tuple[str, Timing, Timing | None]] = []
    raw_write = None
    if raw is not None:
        raw_ops: list[Callable[[], Any]] = [
            partial(raw.write, sid, snapshots[1 if v == 1 else updates][i])
            for v in range(1, updates + 1)
            for i, sid in enumerate(ids)
        ]
        ours_write, raw_write = timed_pair(ours_ops, raw_ops)
    else:
        ours_write = timed(ours_ops)
    rows.append(("snapshot write", ours_write, raw_write))

    ours_reads: list[Callable[[], Any]] = [partial(store.read_session, sid) for sid in ids * 3]
    if raw is not None:
        raw_reads: list[Callable[[], Any]] = [partial(raw.read, sid) for sid in ids * 3]
        ours_read, raw_read = timed_pair(ours_reads, raw_reads)
    else:
        ours_read, raw_read = timed(ours_reads), None
    rows.append(("snapshot read", ours_read, raw_read))

    # A session's mailbox in steady state: a few events appended, applied and trimmed.
    for sid in ids:
        seqs = store.append_events(
            sid, [(f"{sid}-e{k}", '{"name":"agent.ready"}') for k in range(3)]
        )
        store.trim_mailbox(sid, seqs[-1])
    subject_bytes = subject.bytes_per_session(ids)
    raw_bytes = raw.bytes_per_session(ids) if raw else None
    print_bytes(subject.name, subject_bytes, raw_bytes, len(snapshots[updates][0]))

    items = [
        ScheduleItem(f"{prefix}-item-{k}", 1000.0 + k, "wake", {"sessionid": ids[k % sessions]})
        for k in range(sessions * 2)
    ]
    for item in items:
        store.put_schedule(item)
    claimed: list[str] = []

    def sweep() -> None:
        for item in store.due_schedules(until=1e6, now=2e6 - 1e3, limit=100):
            if item.item_id.startswith(prefix) and store.claim_schedule(
                item, "bench", 30, 2e6 - 1e3
            ):
                claimed.append(item.item_id)

    start = time.perf_counter()
    latencies = []
    while len(claimed) < len(items):
        t0 = time.perf_counter()
        before = len(claimed)
        sweep()
        if len(claimed) == before:
            break
        latencies += [(time.perf_counter() - t0) / (len(claimed) - before)] * (
            len(claimed) - before
        )
    rows.append(("claim due item", Timing(latencies, time.perf_counter() - start), None))
    for item in items:
        store.remove_schedule(item.item_id)
    return rows


def print_bytes(name: str, ours: float, raw: float | None, snapshot_len: int) -> None:
    raw_text = f"{raw:,.0f}" if raw is not None else "-"
    ratio = f"{ours / raw:.2f}x" if raw else "-"
    print(
        f"{name:<14} bytes/session: ours {ours:,.0f}, raw {raw_text} ({ratio}); "
        f"snapshot JSON {snapshot_len:,} bytes"
    )


def print_rows(name: str, rows: list[tuple[str, Timing, Timing | None]]) -> None:
    for op, ours, raw in rows:
        raw_cols = (
            f"{raw.p50_us:>9.0f} {raw.p99_us:>9.0f} {raw.per_s:>10,.0f}"
            if raw
            else f"{'-':>9} {'-':>9} {'-':>10}"
        )
        ratio = f"{ours.p50_us / raw.p50_us:>6.2f}x" if raw else f"{'-':>7}"
        print(
            f"{name:<14} {op:<16} {ours.p50_us:>9.0f} {ours.p99_us:>9.0f} {ours.per_s:>10,.0f}"
            f" {raw_cols} {ratio}"
        )


# -- backends ------------------------------------------------------------------------------------


def store_for(section: PersistenceConfig) -> Store:
    return open_store(dataclasses.replace(Config(), persistence=section))


@contextmanager
def sqlite_subject(folder: Path) -> Iterator[Subject]:
    path = folder / "bench.db"
    store = store_for(PersistenceConfig(type="sqlite", sqlite_path=path))
    raw_db = sqlite3.connect(folder / "raw.db", isolation_level=None, check_same_thread=False)
    raw_db.execute("PRAGMA journal_mode = WAL")
    raw_db.execute("PRAGMA synchronous = NORMAL")
    raw_db.execute("CREATE TABLE raw (k TEXT PRIMARY KEY, v TEXT NOT NULL)")

    def file_bytes(db: sqlite3.Connection, ids: list[str]) -> float:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
        size = db.execute("PRAGMA page_size").fetchone()[0]
        return float((pages - free) * size) / len(ids)

    ours_db = sqlite3.connect(path, isolation_level=None)
    raw_driver = RawDriver(
        write=lambda k, v: raw_db.execute("INSERT OR REPLACE INTO raw VALUES (?, ?)", (k, v)),
        read=lambda k: raw_db.execute("SELECT v FROM raw WHERE k = ?", (k,)).fetchone(),
        bytes_per_session=lambda ids: file_bytes(raw_db, ids),
        close=raw_db.close,
    )
    try:
        yield Subject("sqlite", store, lambda ids: file_bytes(ours_db, ids), raw_driver)
    finally:
        ours_db.close()
        raw_db.close()
        store.close()


@contextmanager
def redis_subject(host: str, port: int) -> Iterator[Subject]:
    import redis

    prefix = f"bench{uuid.uuid4().hex[:6]}"
    store = store_for(
        PersistenceConfig(type="redis", redis_nodes=(Endpoint(host, port),), cluster_name=prefix)
    )
    client = redis.Redis(host=host, port=port, decode_responses=True)

    def our_bytes(ids: list[str]) -> float:
        keys = [k for sid in ids for k in client.scan_iter(match=f"{prefix}:*:{{{sid}}}")]
        return sum(client.memory_usage(k) or 0 for k in keys) / len(ids)

    raw_driver = RawDriver(
        write=lambda k, v: client.set(f"raw{prefix}:{k}", v),
        read=lambda k: client.get(f"raw{prefix}:{k}"),
        bytes_per_session=lambda ids: (
            sum(client.memory_usage(f"raw{prefix}:{k}") or 0 for k in ids) / len(ids)
        ),
        close=client.close,
    )
    try:
        yield Subject("redis", store, our_bytes, raw_driver)
    finally:
        for pattern in (f"{prefix}:*", f"raw{prefix}:*"):
            for key in client.scan_iter(match=pattern):
                client.delete(key)
        client.close()
        store.close()


@contextmanager
def cassandra_subject(host: str, port: int) -> Iterator[Subject]:
    from cassandra.cluster import Cluster

    keyspace = f"bench_{uuid.uuid4().hex[:8]}"
    store = store_for(
        PersistenceConfig(
            type="cassandra",
            cassandra_nodes=(host,),
            cassandra_listenport=port,
            cassandra_keyspace=keyspace,
            cassandra_read_consistency="ONE",
            cassandra_write_consistency="ONE",
            cassandra_serial_consistency="SERIAL",
        )
    )
    cluster = Cluster([host], port=port)
    session = cluster.connect(keyspace)
    session.execute("CREATE TABLE IF NOT EXISTS raw (k text PRIMARY KEY, v text)")
    insert = session.prepare("INSERT INTO raw (k, v) VALUES (?, ?)")
    select = session.prepare("SELECT v FROM raw WHERE k = ?")
    raw_driver = RawDriver(
        write=lambda k, v: session.execute(insert, (k, v)),
        read=lambda k: session.execute(select, (k,)).one(),
        bytes_per_session=lambda ids: float("nan"),
        close=cluster.shutdown,
    )
    try:
        yield Subject("cassandra", store, lambda ids: float("nan"), raw_driver)
    finally:
        session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)
        cluster.shutdown()
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="memory,sqlite,redis,cassandra")
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--updates", type=int, default=5)
    parser.add_argument("--redis", default=None, help="HOST:PORT of a running Redis")
    parser.add_argument("--cassandra", default=os.environ.get("ORCHESTRION_TEST_CASSANDRA"))
    args = parser.parse_args()
    backends = args.backends.split(",")
    print(
        f"{'backend':<14} {'operation':<16} {'ours p50':>9} {'p99 µs':>9} {'ours/s':>10}"
        f" {'raw p50':>9} {'p99 µs':>9} {'raw/s':>10} {'p50 ratio':>7}"
    )
    results: list[tuple[str, list[tuple[str, Timing, Timing | None]]]] = []
    with tempfile.TemporaryDirectory(prefix="bench-store-") as folder:
        if "memory" in backends:
            memory = Subject(
                "memory",
                store_for(PersistenceConfig(type="memory")),
                lambda ids: float("nan"),
                None,
            )
            results.append(("memory", run(memory, args.sessions, args.updates)))
        if "sqlite" in backends:
            with sqlite_subject(Path(folder)) as subject:
                results.append(("sqlite", run(subject, args.sessions, args.updates)))
        if "redis" in backends:
            with _redis_address(args.redis) as (host, port), redis_subject(host, port) as subject:
                results.append(("redis", run(subject, args.sessions, args.updates)))
        if "cassandra" in backends:
            if importlib.util.find_spec("persistence.cassandra") is None:
                print("cassandra      skipped: persistence/cassandra.py is not there yet")
            elif not args.cassandra:
                print("cassandra      skipped: give --cassandra HOST:PORT (start-cassandra.sh)")
            else:
                host, _, port = args.cassandra.rpartition(":")
                with cassandra_subject(host, int(port)) as subject:
                    results.append(("cassandra", run(subject, args.sessions // 3, args.updates)))
    for name, rows in results:
        print_rows(name, rows)


@contextmanager
def _redis_address(given: str | None) -> Iterator[tuple[str, int]]:
    if given:
        host, _, port = given.rpartition(":")
        yield host, int(port)
        return
    with started_redis(range(18200, 18300)) as address:
        yield address


if __name__ == "__main__":
    main()
