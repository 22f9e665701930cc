"""What is particular to the SQLite backend: several processes on one file, the indexes."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import sqlite3
from pathlib import Path

from persistence.contract import ScheduleItem
from persistence.sqlite import SqliteStore

ITEMS = 200


def claim_all(
    path: str,
    name: str,
    go: multiprocessing.synchronize.Event,
    results: multiprocessing.Queue[tuple[str, list[str]]],
) -> None:
    """A scheduler process: claim whatever is due until nothing is left."""
    store = SqliteStore(path)
    go.wait(60)
    claimed = []
    while True:
        due = store.due_schedules(until=1000.0, now=500.0, limit=20)
        if not due:
            break
        claimed += [i.item_id for i in due if store.claim_schedule(i, name, 60, 500.0)]
    results.put((name, claimed))
    store.close()


def test_schedulers_in_separate_processes_claim_each_item_once(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = SqliteStore(path)
    for i in range(ITEMS):
        store.put_schedule(ScheduleItem(f"i{i:04d}", float(i), "wake", {"i": i}))
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[tuple[str, list[str]]] = context.Queue()
    go = context.Event()
    processes = [
        context.Process(target=claim_all, args=(str(path), name, go, results)) for name in "abc"
    ]
    for process in processes:
        process.start()
    go.set()
    claimed = dict(results.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    together = [item for items in claimed.values() for item in items]
    assert sorted(together) == [f"i{i:04d}" for i in range(ITEMS)]
    store.close()


def test_file_is_in_wal_mode_and_due_query_uses_the_index(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    SqliteStore(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    plan = db.execute(
        "EXPLAIN QUERY PLAN SELECT item_id FROM schedules WHERE eligible_at <= 1"
        " AND due_at <= 1 AND (claim_until IS NULL OR claim_until <= 1)"
    ).fetchall()
    assert "schedules_eligible" in str(plan)
    db.close()
