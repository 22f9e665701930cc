"""Nothing lost, nothing applied twice, in order: workers SIGKILLed while clients send.

200 sessions get 50 events each from concurrent clients while three ``orchestrion worker``
processes are killed with SIGKILL and restarted; a beat process runs the safety net and
takeover. Afterwards every session's data model lists its 50 sequence numbers exactly once
and in the order sent.
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from procs import Cluster, counter_doc, fast_recovery_env, store_env_cassandra

from orchestrion.errors import SessionNotFound, StoreUnavailable
from persistence import open_store
from workers.orchestrator import Orchestrator

pytestmark = pytest.mark.slow

SESSIONS = 200
EVENTS = 50
CLIENTS = 16
KILL_EVERY_S = 3.0
SETTLE_TIMEOUT_S = 240.0


def send(client: Orchestrator, sessionid: str, seq: int) -> None:
    """Send with a fixed event id, retrying: a retried accept is deduplicated."""
    for _ in range(50):
        try:
            client.send_event(sessionid, "item", {"seq": seq}, event_id=f"{sessionid}:{seq}")
            return
        except StoreUnavailable:
            time.sleep(0.2)
    raise AssertionError(f"could not send {seq} to {sessionid}")


def chaos(cluster: Cluster, stop: threading.Event, kills: list[int]) -> None:
    rng = random.Random(7)
    while not stop.wait(KILL_EVERY_S * rng.uniform(0.5, 1.5)):
        index = rng.randrange(len(cluster.workers))
        cluster.restart_worker(index)  # SIGKILL, then a fresh process (a new node id)
        kills.append(index)


def seen_of(client: Orchestrator, sessionid: str) -> list[int] | None:
    try:
        answer = client.query(sessionid)
    except SessionNotFound:
        return None
    values: list[int] | None = answer.get("datamodel", {}).get("seen")
    return values


def run_chaos(cluster: Cluster) -> None:
    config = cluster.config()
    store = open_store(config)
    client = Orchestrator(config, store)
    stop = threading.Event()
    kills: list[int] = []
    try:
        cluster.start_workers(3)
        cluster.start_beat()
        with ThreadPoolExecutor(CLIENTS) as pool:
            sessions = list(
                pool.map(lambda _: client.start_session(source=counter_doc()), range(SESSIONS))
            )
        started = time.monotonic()
        killer = threading.Thread(target=chaos, args=(cluster, stop, kills))
        killer.start()

        def feed(mine: list[str]) -> None:
            for seq in range(EVENTS):
                for sessionid in mine:
                    send(client, sessionid, seq)

        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(feed, [sessions[i::CLIENTS] for i in range(CLIENTS)]))
        sent_s = time.monotonic() - started
        time.sleep(KILL_EVERY_S)  # a kill or two after the last accept, too
        stop.set()
        killer.join()
        expected = list(range(EVENTS))
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        pending = set(sessions)
        while pending and time.monotonic() < deadline:
            for sessionid in list(pending):
                seen = seen_of(client, sessionid)
                assert seen is None or seen == expected[: len(seen)], (
                    f"{sessionid} applied {seen}: a duplicate, a gap or out of order"
                )
                if seen == expected:
                    pending.discard(sessionid)
            time.sleep(0.5)
        print(
            f"\n{SESSIONS * EVENTS} events sent in {sent_s:.1f} s, {len(kills)} workers killed,"
            f" settled {time.monotonic() - started:.1f} s after the first send"
        )
        assert len(kills) >= 3, f"only {len(kills)} workers were killed"
        assert not pending, (
            f"{len(pending)} sessions did not get all events, e.g. "
            f"{seen_of(client, next(iter(pending)))}\n{cluster.logs()}"
        )
    finally:
        stop.set()
        client.close()
        store.close()


@pytest.fixture
def cassandra_cluster(
    redis_cluster: Cluster, cassandra_server: object, cassandra_keyspace: str
) -> Iterator[Cluster]:
    pytest.importorskip("persistence.cassandra", reason="the Cassandra backend is not there yet")
    host, port = cassandra_server.host, cassandra_server.port  # type: ignore[attr-defined]
    redis_cluster.env.update(store_env_cassandra(host, port, cassandra_keyspace))
    yield redis_cluster


@pytest.fixture
def embedded_cluster() -> Iterator[Cluster]:
    """The embedded default: SQLite store, filesystem broker; recovery from the beat only."""
    run_dir = Path(tempfile.mkdtemp(prefix="orchestrion-embedded-"))
    env = {
        "ORCHESTRION_PERSISTENCE_TYPE": "sqlite",
        "ORCHESTRION_PERSISTENCE_SQLITE_PATH": str(run_dir / "orchestrion.db"),
        "ORCHESTRION_BROKER_URL": "",
        "ORCHESTRION_BROKER_DATA_DIR": str(run_dir / "broker"),
        "ORCHESTRION_PERSISTENCE_CLUSTER_NAME": f"t{uuid.uuid4().hex[:10]}",
        **fast_recovery_env(),
    }
    cluster = Cluster(env, run_dir)
    yield cluster
    cluster.stop()


@pytest.mark.redis
def test_redis_store_and_broker(redis_cluster: Cluster) -> None:
    run_chaos(redis_cluster)


@pytest.mark.cassandra
def test_cassandra_store_redis_broker(cassandra_cluster: Cluster) -> None:
    run_chaos(cassandra_cluster)


def test_embedded_sqlite_filesystem_broker(embedded_cluster: Cluster) -> None:
    run_chaos(embedded_cluster)
