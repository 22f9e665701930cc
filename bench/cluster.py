"""Orchestrion's workers against the naive design (one Celery task per event), same Redis.

    python bench/cluster.py [--store cassandra|redis|sqlite] [--sessions 200]
                            [--events 20000] [--clients 16] [--probes 300]

Starts its own redis-server (and Cassandra node, for ``--store cassandra``) with the
scripts in scripts/, on ports 18401 (Redis), 18410-18412 (Cassandra) and 18402 (API), unless
``--redis host:port`` / ``--cassandra host:port`` name running ones. Then, in one run:

1. naive ceiling: 2 Celery workers (same settings as Orchestrion's: threads pool of
   ``[worker] concurrency``, acks late, prefetch 1) draining one no-op task per event,
   published by the same number of client threads;
2. session starts per second, until every session ran its initial macrostep (2 workers);
3. events per second: ``--events`` events over ``--sessions`` persisted sessions, sent by
   ``--clients`` threads through the facade, until every one is applied and stored;
4. latency from accept to applied, p50/p99: for the events of (3) (facade accept, under
   full load) and for ``--probes`` events sent one by one through the HTTP API
   (``POST /v1/sessions/<id>/events``). "Applied" is the engine's clock reading in the
   transition that handles the event (the document stores ``Date.now()``); the store write
   of its batch follows within the same drain.

Prints every figure and the ratio of (3) to (1); the goal is at least 3x. With
``--store cassandra`` it also measures, last, how many single-row INSERTs per second the
Cassandra node takes from one driver process: every event costs at least one write
(its append) plus a share of its batch's snapshot write, so that bounds the ratio.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# bench/ holds scripts named like packages (bench/engine.py): import the real ones.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "workers")]

from procs import (  # type: ignore[import-not-found]  # noqa: E402
    Cluster,
    store_env_cassandra,
    store_env_redis,
)

REDIS_PORT = 18401
API_PORT = 18402
CASSANDRA_PORT = 18410

TIMED_DOC = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
       datamodel="ecmascript" initial="run" _persist="true">
  <datamodel><data id="applied" expr="({})"/></datamodel>
  <state id="run">
    <transition event="item"><script>applied[_event.data.seq] = Date.now() / 1000;</script>
    </transition>
  </state>
</scxml>"""

NOOP_WORKER = """
import sys
from celery import Celery
import redis
url, counter = sys.argv[1], sys.argv[2]
app = Celery("naive", broker=url, set_as_current=True)
app.conf.update(task_acks_late=True, task_reject_on_worker_lost=True, task_ignore_result=True,
                worker_prefetch_multiplier=1, worker_hijack_root_logger=False,
                broker_connection_retry_on_startup=True)
r = redis.Redis.from_url(url)
@app.task(name="naive.event")
def event(sessionid, seq):
    r.incr(counter)
app.Worker(pool="threads", concurrency=int(sys.argv[3]), queues=["naive"], loglevel="WARNING",
           without_gossip=True, without_mingle=True, without_heartbeat=True).start()
"""


# -- servers ----------------------------------------------------------------------------------


@contextmanager
def redis_server(given: str | None, folder: Path) -> Iterator[tuple[str, int]]:
    if given:
        host, _, port = given.rpartition(":")
        yield host, int(port)
        return
    subprocess.run(
        [ROOT / "scripts/start-redis.sh", str(REDIS_PORT), folder / "redis"],
        check=True,
        capture_output=True,
    )
    try:
        yield "127.0.0.1", REDIS_PORT
    finally:
        subprocess.run(
            [ROOT / "scripts/stop-redis.sh", str(REDIS_PORT), folder / "redis"],
            check=False,
            capture_output=True,
        )


@contextmanager
def cassandra_server(given: str | None, folder: Path) -> Iterator[tuple[str, int]]:
    if given:
        host, _, port = given.rpartition(":")
        yield host, int(port)
        return
    data = folder / "cassandra"
    subprocess.run(
        [
            ROOT / "scripts/start-cassandra.sh",
            "--port",
            str(CASSANDRA_PORT),
            "--dir",
            data,
            "--cluster-name",
            "bench",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield "127.0.0.1", CASSANDRA_PORT
    finally:
        subprocess.run(
            [ROOT / "scripts/stop-cassandra.sh", "--dir", data], check=False, capture_output=True
        )


# -- measurements ----------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def pending_check(
    store: Any, sessions: list[str], done: Callable[[Any], bool]
) -> Callable[[], bool]:
    """A check that reads only the sessions not done yet (polling must not load the store)."""
    pending = list(sessions)

    def check() -> bool:
        while pending:
            record = store.read_session(pending[-1])
            if record is None or not done(record):
                return False  # one not done is enough to know: look again later
            pending.pop()
        return True

    return check


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.05)


def naive_ceiling(redis_url: str, events: int, clients: int, concurrency: int) -> float:
    """One no-op Celery task per event: publish from ``clients`` threads, drain with 2 workers."""
    import redis
    from celery import Celery

    counter = f"naive:{uuid.uuid4().hex}"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", NOOP_WORKER, redis_url, counter, str(concurrency)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    app = Celery("naive", broker=redis_url, set_as_current=False)
    app.conf.update(task_ignore_result=True)
    r = redis.Redis.from_url(redis_url)
    try:
        app.send_task("naive.event", args=["warm", -1], queue="naive")
        wait_until(lambda: int(r.get(counter) or 0) >= 1, 120, "the naive workers")
        r.set(counter, 0)
        per_client = events // clients

        def publish(client: int) -> None:
            with app.producer_or_acquire() as producer:
                for seq in range(per_client):
                    app.send_task(
                        "naive.event", args=[f"s{client}", seq], queue="naive", producer=producer
                    )

        started = time.monotonic()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(publish, range(clients)))
        total = per_client * clients
        wait_until(lambda: int(r.get(counter) or 0) >= total, 600, "the naive tasks")
        return total / (time.monotonic() - started)
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()
        app.close()


def cassandra_write_ceiling(host: str, port: int, writes: int = 6000) -> float:
    """Single-row INSERTs per second from one driver process, 64 in flight: the most this
    node and machine can take, whatever is built on them (context for the Cassandra ratio)."""
    from cassandra.cluster import Cluster as CqlCluster
    from cassandra.concurrent import execute_concurrent_with_args

    keyspace = f"ceiling_{uuid.uuid4().hex[:8]}"
    cql = CqlCluster([host], port=port)
    try:
        session = cql.connect()
        session.execute(
            f"CREATE KEYSPACE {keyspace} WITH replication ="
            " {'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        session.execute(f"CREATE TABLE {keyspace}.t (k text PRIMARY KEY, v text)")
        insert = session.prepare(f"INSERT INTO {keyspace}.t (k, v) VALUES (?, ?)")
        rows = [(uuid.uuid4().hex, "x" * 200) for _ in range(writes)]
        started = time.perf_counter()
        execute_concurrent_with_args(session, insert, rows, concurrency=64)
        rate = writes / (time.perf_counter() - started)
        session.execute(f"DROP KEYSPACE {keyspace}")
        return rate
    finally:
        cql.shutdown()


def applied_times(client: Any, sessionid: str) -> dict[int, float]:
    applied = client.query(sessionid)["datamodel"]["applied"]
    return {int(seq): float(at) for seq, at in applied.items()}


def run_orchestrion(args: argparse.Namespace, cluster: Cluster) -> dict[str, float]:
    from persistence import open_store
    from workers.orchestrator import Orchestrator

    config = cluster.config()
    store = open_store(config)
    client = Orchestrator(config, store)
    results: dict[str, float] = {}
    try:
        cluster.start_workers(2)
        warm = client.start_session(source=TIMED_DOC)
        client.send_event(warm, "item", {"seq": 0})
        wait_until(
            lambda: (r := store.read_session(warm)) is not None and r.applied_seq >= 1,
            180,
            "the workers to start",
        )

        started = time.monotonic()
        with ThreadPoolExecutor(args.clients) as pool:
            sessions = list(
                pool.map(lambda _: client.start_session(source=TIMED_DOC), range(args.sessions))
            )

        started_check = pending_check(store, sessions, lambda r: r.version >= 2)
        wait_until(started_check, 600, "the sessions to start")
        results["starts_per_s"] = args.sessions / (time.monotonic() - started)

        per_session = args.events // args.sessions
        accepted: dict[tuple[str, int], float] = {}
        lock = threading.Lock()

        def feed(mine: list[str]) -> None:
            local = {}
            for seq in range(per_session):
                for sessionid in mine:
                    local[(sessionid, seq)] = time.time()
                    client.send_event(sessionid, "item", {"seq": seq})
            with lock:
                accepted.update(local)

        started = time.monotonic()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(feed, [sessions[i :: args.clients] for i in range(args.clients)]))
        results["accept_per_s"] = per_session * args.sessions / (time.monotonic() - started)

        applied_check = pending_check(store, sessions, lambda r: r.applied_seq >= per_session)
        wait_until(applied_check, 900, "the events to be applied")
        results["events_per_s"] = per_session * args.sessions / (time.monotonic() - started)
        latencies = []
        for sessionid in sessions:
            for seq, at in applied_times(client, sessionid).items():
                latencies.append(at - accepted[(sessionid, seq)])
        results["load_p50_ms"] = percentile(latencies, 0.5) * 1000
        results["load_p99_ms"] = percentile(latencies, 0.99) * 1000
        for node in store.nodes():
            stats = {k: v for k, v in node.info.items() if isinstance(v, int) and k != "pid"}
            print(f"worker {node.node}: {stats}", flush=True)
        results.update(http_probes(args, cluster, sessions[: max(1, args.probes // 10)]))
    finally:
        client.close()
        store.close()
    return results


def http_probes(
    args: argparse.Namespace, cluster: Cluster, sessions: list[str]
) -> dict[str, float]:
    """Events one at a time through the HTTP API, on an idle cluster."""
    import httpx

    from persistence import open_store
    from workers.orchestrator import Orchestrator

    api = subprocess.Popen(
        [sys.executable, "-c", "from orchestrion.cli import main; main()", "api"],
        env={**cluster.process_env(), "ORCHESTRION_API_PORT": str(API_PORT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    config = cluster.config()
    store = open_store(config)
    reader = Orchestrator(config, store)
    try:
        base = f"http://127.0.0.1:{API_PORT}"
        with httpx.Client(base_url=base, timeout=30) as http:
            wait_until(lambda: _answers(http), 120, "the API")
            sent: dict[tuple[str, int], float] = {}
            for probe in range(args.probes):
                sessionid = sessions[probe % len(sessions)]
                seq = 1_000_000 + probe
                sent[(sessionid, seq)] = time.time()
                answer = http.post(
                    f"/v1/sessions/{sessionid}/events", json={"name": "item", "data": {"seq": seq}}
                )
                answer.raise_for_status()
                time.sleep(0.01)
        time.sleep(1)
        latencies = []
        for sessionid in sessions:
            for seq, at in applied_times(reader, sessionid).items():
                if (sessionid, seq) in sent:
                    latencies.append(at - sent[(sessionid, seq)])
        return {
            "http_p50_ms": percentile(latencies, 0.5) * 1000,
            "http_p99_ms": percentile(latencies, 0.99) * 1000,
            "http_probes": float(len(latencies)),
        }
    finally:
        api.terminate()
        api.wait()
        reader.close()
        store.close()


def _answers(http: Any) -> bool:
    try:
        return bool(http.get("/health").status_code < 500)
    except Exception:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=["cassandra", "redis", "sqlite"], default="cassandra")
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--probes", type=int, default=300)
    parser.add_argument("--redis", help="host:port of a running Redis (else one is started)")
    parser.add_argument("--cassandra", help="host:port of a running Cassandra node")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="orchestrion-bench-"))
    with ExitStack() as stack:
        host, port = stack.enter_context(redis_server(args.redis, folder))
        env = {
            "ORCHESTRION_BROKER_URL": f"redis://{host}:{port}/1",
            "ORCHESTRION_PERSISTENCE_CLUSTER_NAME": f"b{uuid.uuid4().hex[:10]}",
        }
        if args.store == "cassandra":
            chost, cport = stack.enter_context(cassandra_server(args.cassandra, folder))
            env.update(store_env_cassandra(chost, cport, f"b{uuid.uuid4().hex[:12]}"))
        elif args.store == "redis":
            env.update(store_env_redis(host, port, 0))
        else:
            env.update(
                {
                    "ORCHESTRION_PERSISTENCE_TYPE": "sqlite",
                    "ORCHESTRION_PERSISTENCE_SQLITE_PATH": str(folder / "bench.db"),
                }
            )
        cluster = Cluster(env, folder)
        stack.callback(cluster.stop)
        concurrency = cluster.config().worker.concurrency
        naive = naive_ceiling(f"redis://{host}:{port}/2", args.events, args.clients, concurrency)
        results = run_orchestrion(args, cluster)
        if args.store == "cassandra":
            ceiling = cassandra_write_ceiling(chost, cport)

    print(
        f"store: {args.store}; 2 workers; {args.sessions} sessions; {args.events} events; "
        f"{args.clients} client threads"
    )
    print(f"naive ceiling (one no-op Celery task per event): {naive:8.0f} events/s")
    print(
        f"orchestrion, persisted sessions:                 {results['events_per_s']:8.0f}"
        " events/s (accept to applied and stored)"
    )
    print(
        f"  accept rate of the clients:                    {results['accept_per_s']:8.0f} events/s"
    )
    print(f"  session starts:                                {results['starts_per_s']:8.0f}/s")
    print(
        f"  latency under load (facade accept -> applied): p50 {results['load_p50_ms']:.1f} ms,"
        f" p99 {results['load_p99_ms']:.1f} ms"
    )
    print(
        f"  latency idle (HTTP request -> applied), {results['http_probes']:.0f} probes:"
        f" p50 {results['http_p50_ms']:.1f} ms, p99 {results['http_p99_ms']:.1f} ms"
    )
    if args.store == "cassandra":
        print(
            f"raw Cassandra writes (one process, 64 in flight): {ceiling:5.0f} INSERTs/s"
            f" = {ceiling / naive:.1f}x the naive ceiling"
        )
    ratio = results["events_per_s"] / naive
    print(f"ratio orchestrion / naive: {ratio:.2f}x (goal: >= 3x)")


if __name__ == "__main__":
    main()
