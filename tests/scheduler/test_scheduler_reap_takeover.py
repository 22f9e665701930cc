"""Hung-session reaping (lifetime, idle, per-document overrides, the 24 h cap without node
ids) and dead-node takeover, on the in-memory store."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from counting import Counting
from scheduler_fakes import ManualClock, RecordingControl, make_sweeper, scheduler_config

from orchestrion.config import Config
from persistence.contract import SessionRecord
from persistence.memory import MemoryStore
from persistence.resilient import ResilientStore
from scheduler import items
from scheduler.limits import (
    WITHOUT_NODEID_LIFETIME_S,
    Overrides,
    document_overrides,
    effective_limits,
    parse_duration,
)
from scheduler.reaper import Reaper
from scheduler.takeover import Takeover
from workers.codec import Transient, encode_transient

PLAIN = (
    '<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" initial="a">'
    '<state id="a"/></scxml>'
)
LIMITED = (
    '<scxml xmlns="http://www.w3.org/2005/07/scxml" xmlns:o="http://orchestrion.dev/scxml"'
    ' version="1.0" o:max-lifetime="10m" o:idle-timeout="0"><state id="a"/></scxml>'
)


def with_orchestration(config: Config, **options: object) -> Config:
    return replace(config, orchestration=replace(config.orchestration, **options))


def add_session(
    store: MemoryStore,
    sessionid: str,
    *,
    doc: str = "plain",
    created: float,
    updated: float,
    node: str = "w1",
    snapshot: str = "{}",
) -> None:
    store.write_session(
        SessionRecord(sessionid, doc, snapshot, 1, created_at=created, updated_at=updated)
    )
    store.set_owner(sessionid, node)


def setup(config: Config, clock: ManualClock) -> tuple[MemoryStore, RecordingControl, object]:
    store = MemoryStore()
    store.put_document("plain", PLAIN)
    store.put_document("limited", LIMITED)
    store.heartbeat("w1", clock.now)
    control = RecordingControl()
    return store, control, make_sweeper(store, control, clock, config=config)


def run_scan(store: MemoryStore, sweeper: object, clock: ManualClock) -> None:
    store.put_schedule(items.ScheduleItem(items.REAP_SCAN_ID, clock.now, items.SYSTEM, {}))
    for _ in range(2):  # the scan stores reap items; the next sweep fires the due ones
        sweeper.sweep(clock.now)  # type: ignore[attr-defined]
        sweeper.fire_ready(clock.now)  # type: ignore[attr-defined]


def test_parse_duration() -> None:
    assert [parse_duration(t) for t in ("90", "90s", "15m", "2h", "1d", "0.5h")] == [
        90,
        90,
        900,
        7200,
        86400,
        1800,
    ]
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_document_overrides_and_the_24h_cap() -> None:
    assert document_overrides(LIMITED) == Overrides(600.0, 0.0)
    assert document_overrides(PLAIN) == Overrides()
    config = Config().orchestration
    assert effective_limits(config, Overrides()).max_lifetime_s == 0  # no limit by default
    without = replace(config, sessionid_with_nodeid=False)
    assert effective_limits(without, Overrides()).max_lifetime_s == WITHOUT_NODEID_LIFETIME_S
    assert effective_limits(without, Overrides(600.0)).max_lifetime_s == 600.0


def test_sessions_past_their_lifetime_or_idle_are_reaped_with_a_reason() -> None:
    clock = ManualClock()
    config = with_orchestration(scheduler_config(), max_session_lifetime=3600, idle_timeout=600)
    store, control, sweeper = setup(config, clock)
    now = clock.now
    add_session(store, "old", created=now - 4000, updated=now - 10)
    add_session(store, "idle", created=now - 1000, updated=now - 700)
    add_session(store, "fine", created=now - 1000, updated=now - 100)
    add_session(store, "waiting", created=now - 1000, updated=now - 700)
    store.put_schedule(items.wakeup_item("waiting", now + 300))  # its own delayed send
    run_scan(store, sweeper, clock)
    reasons = {c.sessionid: c.args["reason"] for c in control.ops("terminate")}
    assert reasons == {"old": "max-lifetime", "idle": "idle-timeout"}


def test_a_session_that_became_active_after_the_scan_is_not_reaped() -> None:
    clock = ManualClock()
    config = with_orchestration(scheduler_config(reap_interval=10), idle_timeout=600)
    store, control, sweeper = setup(config, clock)
    add_session(store, "s", created=clock.now - 1000, updated=clock.now - 595)
    run_scan(store, sweeper, clock)  # due in 5 s: planned, not fired yet
    assert store.get_schedule("reap:s") is not None
    store.write_session(
        SessionRecord("s", "plain", "{}", 2, created_at=clock.now - 1000, updated_at=clock.now)
    )
    clock.advance(6)
    sweeper.sweep(clock.now)  # type: ignore[attr-defined]
    sweeper.fire_ready(clock.now)  # type: ignore[attr-defined]
    assert control.ops("terminate") == []
    assert store.get_schedule("reap:s") is None


def test_document_overrides_win_and_transient_sessions_are_not_reaped_for_idleness() -> None:
    clock = ManualClock()
    config = with_orchestration(scheduler_config(), idle_timeout=60)
    store, control, sweeper = setup(config, clock)
    now = clock.now
    add_session(store, "limited-old", doc="limited", created=now - 700, updated=now)
    add_session(store, "limited-idle", doc="limited", created=now - 100, updated=now - 100)
    add_session(
        store,
        "transient",
        created=now - 100,
        updated=now - 100,
        snapshot=encode_transient(Transient("w1")),
    )
    run_scan(store, sweeper, clock)
    assert {c.sessionid for c in control.ops("terminate")} == {"limited-old"}


def test_sessions_of_a_dead_worker_are_woken_then_the_node_is_removed() -> None:
    clock = ManualClock()
    config = scheduler_config(dead_node_after=30, max_clock_skew=1)
    config = replace(config, worker=replace(config.worker, lease_ttl=10, heartbeat_interval=2))
    store, control, _ = setup(config, clock)
    takeover = Takeover(store, control, config)
    assert takeover.handover_delay_s == 31
    for sid in ("a", "b"):
        add_session(store, sid, created=clock.now, updated=clock.now, node="w1")
    store.heartbeat("w2", clock.now)
    clock.advance(20)
    store.heartbeat("w2", clock.now)
    assert takeover.scan(clock.now).dead == []
    clock.advance(12)
    store.heartbeat("w2", clock.now)
    report = takeover.scan(clock.now)
    assert report.dead == ["w1"] and report.woken == 2
    assert sorted(c.sessionid for c in control.ops("wake")) == ["a", "b"]
    assert takeover.scan(clock.now).woken == 0  # not re-woken at once
    store.set_owner("a", "w2")  # the woken workers re-own them
    store.set_owner("b", "w2")
    assert takeover.scan(clock.now).removed == ["w1"]
    assert [n.node for n in store.nodes()] == ["w2"]


def test_sessions_not_re_owned_are_woken_again() -> None:
    clock = ManualClock()
    config = scheduler_config(dead_node_after=5, max_clock_skew=0)
    config = replace(config, worker=replace(config.worker, lease_ttl=1, heartbeat_interval=1))
    store, control, _ = setup(config, clock)
    takeover = Takeover(store, control, config)
    add_session(store, "a", created=clock.now, updated=clock.now, node="w1")
    clock.advance(6)
    takeover.scan(clock.now)
    clock.advance(takeover.rewake_s)
    takeover.scan(clock.now)
    assert [c.sessionid for c in control.ops("wake")] == ["a", "a"]
    assert [n.node for n in store.nodes()] == ["w1"]


def test_the_reaper_deadline_uses_the_earliest_limit() -> None:
    config = with_orchestration(Config(), max_session_lifetime=100, idle_timeout=30)
    store = MemoryStore()
    store.put_document("plain", PLAIN)
    reaper = Reaper(store, RecordingControl(), config.orchestration)
    record = SessionRecord("s", "plain", "{}", 1, created_at=1000, updated_at=1050)
    deadline = reaper.deadline(record)
    assert deadline is not None and (deadline.at, deadline.reason) == (1080, "idle-timeout")


def test_the_scan_reads_a_session_without_limits_once() -> None:
    clock = ManualClock()
    store = MemoryStore()
    store.put_document("plain", PLAIN)
    store.put_document("limited", LIMITED)
    store.heartbeat("w1", clock.now)
    counting = Counting(store)
    reaper = Reaper(counting, RecordingControl(), scheduler_config().orchestration)  # type: ignore[arg-type]
    for n in range(50):
        add_session(store, f"idle-{n}", created=clock.now - 10, updated=clock.now - 10)
    add_session(store, "limited", doc="limited", created=clock.now - 595, updated=clock.now)
    assert reaper.scan(clock.now, horizon_s=10) == 1  # "limited" reaches 10 min in 5 s
    assert counting.calls["read_session"] == 51
    counting.calls.clear()
    add_session(store, "new", created=clock.now, updated=clock.now)
    assert reaper.scan(clock.advance(1), horizon_s=10) == 0  # "limited" is planned already
    assert counting.calls["read_session"] == 2, "only the limited session and the new one"


def test_the_scan_reads_an_idle_limited_session_again_only_when_it_could_be_due() -> None:
    clock = ManualClock()
    store = MemoryStore()
    store.put_document("plain", PLAIN)
    store.heartbeat("w1", clock.now)
    counting = Counting(store)
    config = with_orchestration(scheduler_config(), idle_timeout=60)
    reaper = Reaper(counting, RecordingControl(), config.orchestration)  # type: ignore[arg-type]
    add_session(store, "quiet", created=clock.now, updated=clock.now)
    assert reaper.scan(clock.now, horizon_s=10) == 0
    assert counting.calls["read_session"] == 1
    counting.calls.clear()
    for _ in range(4):  # 40 s: its idle deadline (60 s after its update) is still beyond reach
        assert reaper.scan(clock.advance(10), horizon_s=10) == 0
    assert counting.calls["read_session"] == 0
    # Active meanwhile (its deadline moved later); read once it could be due, then skipped.
    updated_at = clock.now
    store.write_session(
        SessionRecord("quiet", "plain", "{}", 2, created_at=clock.now - 40, updated_at=clock.now)
    )
    assert reaper.scan(clock.advance(10), horizon_s=10) == 0  # 50 s + 10 s reaches 60 s
    assert counting.calls["read_session"] == 1
    assert reaper.scan(clock.advance(10), horizon_s=10) == 0
    assert counting.calls["read_session"] == 1
    # Left idle: it is planned for its real deadline.
    assert reaper.scan(clock.advance(30), horizon_s=10) == 1
    reap = store.get_schedule(items.item_id(items.REAP, "quiet"))
    assert reap is not None and reap.due_at == updated_at + 60


def test_after_a_store_outage_a_nodes_silence_counts_from_its_end() -> None:
    config = scheduler_config(dead_node_after=30, max_clock_skew=1)
    config = replace(config, worker=replace(config.worker, lease_ttl=10, heartbeat_interval=2))
    store = ResilientStore(MemoryStore())
    takeover = Takeover(store, RecordingControl(), config)
    now = time.time()
    store.heartbeat("w1", now - 120)  # its last heartbeat before a two-minute outage
    store.write_session(SessionRecord("a", "plain", "{}", 1, created_at=now, updated_at=now))
    store.set_owner("a", "w1")
    store.alarm.raise_("connection refused", now - 120)
    store.alarm.clear()  # the store answers again now: w1 could not heartbeat until now
    assert takeover.scan(now).dead == []
    assert takeover.scan(now + takeover.handover_delay_s + 1).dead == ["w1"]
