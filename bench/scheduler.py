"""Scheduler lateness (actual minus planned firing time) and worker-death recovery.

Two real beat processes sweep one real Redis store; their session layer records each call
with its planned time (``idealtime``) and the time it was made, so lateness is measured
from what the beats did. Scenarios:

1. baseline: one start alone (same run, same processes): the floor under no load;
2. burst: 1,000 starts due within the same second;
3. spread: 10,000 starts spread evenly over a minute (``--spread-s`` shortens it);
4. takeover: real ``orchestrion worker`` processes and ``orchestrion beat``: SIGKILL the
   worker owning the most sessions, send each session an event, and time until every one
   has applied it, and until the dead node's sessions were re-owned and the node removed.

Lateness is printed as p50/p99/max and as ratios to the seed's 5 s bound and to the
100 ms goal for p99 (a ratio below 1 meets it), and to the baseline of this run.

    python bench/scheduler.py [--burst 1000] [--spread 10000] [--spread-s 60]
                              [--redis HOST:PORT] [--no-takeover]

Without --redis, a redis-server is started on a free port in 18600-18699 and stopped at
the end.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "scheduler"))

from beat_procs import RecordingBeats  # noqa: E402
from bench_servers import started_redis  # noqa: E402

from orchestrion.config import load_config  # noqa: E402
from persistence import open_store  # noqa: E402
from persistence.contract import Store  # noqa: E402
from scheduler import items  # noqa: E402
from scheduler.schedules import schedule_start  # noqa: E402

BOUND_S = 5.0
GOAL_S = 0.100
PORTS = range(18600, 18700)


def percentiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return p50, p99, ordered[-1]


def report(name: str, lateness: list[float], baseline_p99: float | None) -> None:
    p50, p99, worst = percentiles(lateness)
    vs_base = f"{p99 / baseline_p99:8.1f}x" if baseline_p99 else f"{'-':>9}"
    print(
        f"{name:<28} {len(lateness):>6} {p50 * 1000:>9.1f} {p99 * 1000:>9.1f} {worst * 1000:>9.1f}"
        f" {p99 / BOUND_S:>10.4f} {p99 / GOAL_S:>10.2f} {vs_base}"
    )


def wait_until(what: str, check: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def fire_and_measure(
    store: Store, beats: RecordingBeats, due_times: list[float], prefix: str
) -> list[float]:
    """Store one start per due time, wait until all fired, return their lateness (s)."""
    ids = [f"{prefix}-{n}" for n in range(len(due_times))]
    for sessionid, due in zip(ids, due_times, strict=True):
        schedule_start(store, due, sessionid=sessionid, document_hash="bench")
    wanted = set(ids)

    def all_fired() -> bool:
        return wanted <= {sid for op, sid, _, _ in beats.records() if op == "start"}

    wait_until(f"{prefix} to fire", all_fired, max(due_times) - time.time() + 120)
    first: dict[str, float] = {}
    for op, sid, ideal, at in beats.records():
        if op == "start" and sid in wanted and ideal is not None:
            first[sid] = min(first.get(sid, at), at) - ideal
    return list(first.values())


def lateness_benchmarks(env: dict[str, str], burst: int, spread: int, spread_s: float) -> None:
    config = load_config(None, env)
    store = open_store(config)
    beats = RecordingBeats(env, Path(tempfile.mkdtemp(prefix="bench-beats-")))
    try:
        beats.start()
        beats.start()
        wait_until("both beats to sweep", lambda: _beats_up(store) >= 2, 60)
        print(
            f"{'scenario':<28} {'items':>6} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}"
            f" {'p99/5s':>10} {'p99/100ms':>10} {'p99/base':>9}"
        )
        base: list[float] = []
        for n in range(5):
            base += fire_and_measure(store, beats, [time.time() + 1.5], f"base{n}")
        base_p99 = percentiles(base)[1]
        report("baseline (one start alone)", base, None)

        start = time.time() + 3
        burst_due = [start + random.random() for _ in range(burst)]
        report(
            f"burst ({burst} in 1 s)", fire_and_measure(store, beats, burst_due, "burst"), base_p99
        )

        write_s = spread / 2000 + 3  # time to store the items before the first falls due
        start = time.time() + write_s
        spread_due = [start + spread_s * n / spread for n in range(spread)]
        name = f"spread ({spread} over {spread_s:g} s)"
        report(name, fire_and_measure(store, beats, spread_due, "spread"), base_p99)
        assert not store.list_schedules(items.START, limit=1), "every start item was removed"
    finally:
        beats.stop()
        store.close()
        shutil.rmtree(beats.run_dir, ignore_errors=True)


def takeover_benchmark(env: dict[str, str], sessions: int) -> None:
    from tests.workers.procs import Cluster, counter_doc, fast_recovery_env
    from workers.orchestrator import Orchestrator

    env = {**env, **fast_recovery_env()}
    cluster = Cluster(env, Path(tempfile.mkdtemp(prefix="bench-takeover-")))
    config = cluster.config()
    client = Orchestrator(config, open_store(config))
    try:
        cluster.start_workers(2)
        cluster.start_beat()
        ids = [client.start_session(source=counter_doc(persist=True)) for _ in range(sessions)]
        wait_until("sessions to run", lambda: all(_seen(client, s) is not None for s in ids), 60)
        for sessionid in ids:
            client.send_event(sessionid, "item", {"seq": 0})
        wait_until("first events", lambda: all(_seen(client, s) == [0] for s in ids), 60)
        owners = {s: client.store.owner_of(s) for s in ids}
        victim = max(set(owners.values()), key=list(owners.values()).count)
        index = next(
            i for i, p in enumerate(cluster.workers) if p and str(victim).endswith(f"-{p.pid}")
        )
        orphans = [s for s, node in owners.items() if node == victim]
        killed_at = time.time()
        cluster.kill_worker(index)
        for sessionid in orphans:
            client.send_event(sessionid, "item", {"seq": 1})
        running_again: dict[str, float] = {}
        deadline = time.monotonic() + 120
        while len(running_again) < len(orphans) and time.monotonic() < deadline:
            for sessionid in orphans:
                if sessionid not in running_again and _seen(client, sessionid) == [0, 1]:
                    running_again[sessionid] = time.time() - killed_at
            time.sleep(0.02)
        wait_until(
            "the dead node to be removed",
            lambda: victim not in {n.node for n in client.store.nodes()},
            120,
        )
        removed_s = time.time() - killed_at
        times = list(running_again.values())
        delay = config.scheduler.dead_node_after
        print(
            f"\ntakeover: {len(orphans)} sessions of the killed worker "
            f"(dead-node-after {delay:g} s, lease-ttl {config.worker.lease_ttl:g} s)"
        )
        if times:
            p50, _, worst = percentiles(times)
            print(
                f"  death -> event applied again: p50 {p50:.2f} s, max {worst:.2f} s "
                f"({len(times)}/{len(orphans)} sessions; max/dead-node-after {worst / delay:.2f})"
            )
        print(
            f"  death -> sessions re-owned and node removed: {removed_s:.2f} s "
            f"(ratio to dead-node-after {removed_s / delay:.2f})"
        )
    finally:
        client.close()
        client.store.close()
        cluster.stop()
        shutil.rmtree(cluster.run_dir, ignore_errors=True)


def _beats_up(store: Store) -> int:
    return sum(1 for node in store.nodes() if node.info.get("role") == "beat")


def _seen(client: Any, sessionid: str) -> list[int] | None:
    try:
        state = client.query(sessionid)
    except Exception:
        return None
    if state.get("status") != "running":
        return None
    seen = state.get("datamodel", {}).get("seen")
    return list(seen) if isinstance(seen, list) else None


@contextmanager
def redis_server(address: str | None) -> Iterator[tuple[str, int]]:
    if address:
        host, _, port = address.rpartition(":")
        yield host, int(port)
        return
    with started_redis(PORTS) as started:
        yield started


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--spread", type=int, default=10000)
    parser.add_argument("--spread-s", type=float, default=60.0)
    parser.add_argument("--takeover-sessions", type=int, default=40)
    parser.add_argument("--no-takeover", action="store_true")
    parser.add_argument("--redis", default=None, help="HOST:PORT of a running Redis")
    args = parser.parse_args()
    with redis_server(args.redis) as (host, port):
        env = {
            "ORCHESTRION_PERSISTENCE_TYPE": "redis",
            "ORCHESTRION_PERSISTENCE_REDIS_NODES": f"{host}:{port}",
            "ORCHESTRION_PERSISTENCE_CLUSTER_NAME": f"bench{uuid.uuid4().hex[:8]}",
        }
        lateness_benchmarks(env, args.burst, args.spread, args.spread_s)
        if not args.no_takeover:
            broker = {
                "ORCHESTRION_BROKER_URL": f"redis://{host}:{port}/5",
                "ORCHESTRION_PERSISTENCE_CLUSTER_NAME": f"bench{uuid.uuid4().hex[:8]}",
            }
            takeover_benchmark({**env, **broker}, args.takeover_sessions)


if __name__ == "__main__":
    main()
