"""The beat loop with its threads, on the in-memory store and the real clock: it fires
items at their time, survives a store outage with its alarm raised, and catches up."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from scheduler_fakes import RecordingControl, scheduler_config

from orchestrion.errors import StoreUnavailable
from persistence.contract import ScheduleItem
from persistence.memory import MemoryStore
from scheduler import items
from scheduler.beat import Beat
from scheduler.schedules import schedule_start


class FlakyStore(MemoryStore):
    """The memory store whose schedule and node operations fail while ``down``."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise StoreUnavailable("store is down (test)")

    def due_schedules(self, until: float, now: float, limit: int = 1000) -> list[ScheduleItem]:
        self._check()
        return super().due_schedules(until, now, limit)

    def claim_schedule(self, item: ScheduleItem, claimant: str, ttl_s: float, now: float) -> bool:
        self._check()
        return super().claim_schedule(item, claimant, ttl_s, now)

    def heartbeat(self, node: str, now: float, info: dict[str, Any] | None = None) -> None:
        self._check()
        super().heartbeat(node, now, info)


@contextmanager
def running(beat: Beat) -> Iterator[Beat]:
    thread = threading.Thread(target=beat.run, daemon=True)
    thread.start()
    try:
        yield beat
    finally:
        beat.stop()
        thread.join(timeout=10)
        assert not thread.is_alive()


def wait_for(condition: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_the_beat_fires_items_and_runs_its_system_scans() -> None:
    store, control = MemoryStore(), RecordingControl()
    beat = Beat(scheduler_config(), store, control, claimant="beat-t")
    due = time.time() + 0.3
    for n in range(50):
        schedule_start(store, due, sessionid=f"s{n}", document_hash="h")
    with running(beat):
        wait_for(lambda: len(control.ops("start")) == 50)
        wait_for(lambda: store.get_schedule(items.TAKEOVER_SCAN_ID) is not None)
        assert [n.info["role"] for n in store.nodes()] == ["beat"]
    assert store.nodes() == []  # a clean stop leaves the list of live beats
    starts = control.ops("start")
    assert all(call.at >= due for call in starts)  # never before its time
    assert {call.sessionid for call in starts} == {f"s{n}" for n in range(50)}
    assert store.list_schedules(items.START) == []


def test_a_store_outage_raises_the_alarm_and_the_beat_catches_up() -> None:
    store, control = FlakyStore(), RecordingControl()
    config = scheduler_config(sweep_interval=0.01)
    beat = Beat(config, store, control, claimant="beat-t")
    with running(beat):
        wait_for(lambda: beat.sweeper.stats["fired"] > 0)  # its system scans ran
        store.down = True
        wait_for(lambda: beat.alarm.active)
        schedule_start(store, time.time(), sessionid="during", document_hash="h")
        time.sleep(0.2)
        assert control.ops("start") == []  # scheduling is unavailable...
        assert beat.health()["alarm"]["active"]
        store.down = False  # ...and resumes when the store is back
        wait_for(lambda: [c.sessionid for c in control.ops("start")] == ["during"])
        wait_for(lambda: not beat.alarm.active)
