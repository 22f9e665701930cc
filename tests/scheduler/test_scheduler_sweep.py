"""The due -> claim -> fire -> remove cycle on the in-memory store: exactly once, claim
expiry, cancels and reschedules during firing."""

from __future__ import annotations

import pytest
from scheduler_fakes import (
    DeferredExecutor,
    ManualClock,
    RecordingControl,
    make_sweeper,
    scheduler_config,
)

from orchestrion.errors import StoreUnavailable
from persistence.contract import ScheduleItem
from persistence.memory import MemoryStore
from scheduler import items
from scheduler.schedules import schedule_start, schedule_terminate


def cycle(*sweepers: object, now: float) -> None:
    for sweeper in sweepers:
        sweeper.sweep(now)  # type: ignore[attr-defined]
    for sweeper in sweepers:
        sweeper.fire_ready(now)  # type: ignore[attr-defined]


def test_two_beats_fire_each_due_item_exactly_once() -> None:
    store, clock = MemoryStore(), ManualClock()
    control = RecordingControl()
    run_a, run_b = DeferredExecutor(), DeferredExecutor()
    a = make_sweeper(store, control, clock, claimant="beat-a", executor=run_a)
    b = make_sweeper(store, control, clock, claimant="beat-b", executor=run_b)
    for n in range(200):
        schedule_start(store, clock.now + (n % 20) * 0.1, sessionid=f"s{n}", document_hash="h")
    for _ in range(40):
        now = clock.advance(0.05)
        a.sweep(now)
        b.sweep(now)  # both read the same due items before either claims
        run_a.run_pending()
        run_b.run_pending()
        a.fire_ready(now)
        b.fire_ready(now)
        run_b.run_pending()
        run_a.run_pending()
    started = [call.sessionid for call in control.ops("start")]
    assert sorted(started) == sorted(f"s{n}" for n in range(200))
    assert store.list_schedules(items.START) == []
    assert a.stats["claimed"] + b.stats["claimed"] == 200
    assert a.stats["lost_claims"] + b.stats["lost_claims"] > 0  # they really competed


def test_items_fire_at_their_time_not_when_first_seen() -> None:
    store, clock = MemoryStore(), ManualClock()
    control = RecordingControl()
    sweeper = make_sweeper(store, control, clock)
    due = clock.now + 0.8
    schedule_start(store, due, sessionid="later", document_hash="h")
    sweeper.sweep(clock.now)  # within lookahead: claimed now
    assert sweeper.next_due() == due
    assert sweeper.fire_ready(clock.advance(0.5)) == 0
    assert control.ops("start") == []
    assert sweeper.fire_ready(clock.advance(0.3)) == 1
    (call,) = control.ops("start")
    assert call.args["idealtime"] == due


def test_a_claim_of_a_dead_beat_expires_and_another_beat_fires_it() -> None:
    store, clock = MemoryStore(), ManualClock()
    control = RecordingControl()
    config = scheduler_config(claim_ttl=5.0)
    dead = make_sweeper(store, control, clock, claimant="dead", config=config)
    live = make_sweeper(store, control, clock, claimant="live", config=config)
    schedule_start(store, clock.now, sessionid="s1", document_hash="h")
    dead.sweep(clock.now)  # claims, then "dies" before firing
    cycle(live, now=clock.advance(1.0))
    assert control.ops("start") == []  # still claimed by the dead beat
    cycle(live, now=clock.advance(4.5))
    assert [call.sessionid for call in control.ops("start")] == ["s1"]
    assert store.get_schedule("start:s1") is None


def test_a_cancel_after_the_early_claim_is_honoured() -> None:
    store, clock = MemoryStore(), ManualClock()
    control = RecordingControl()
    sweeper = make_sweeper(store, control, clock)
    schedule_start(store, clock.now + 0.5, sessionid="s1", document_hash="h")
    sweeper.sweep(clock.now)
    store.remove_schedule("start:s1")
    sweeper.fire_ready(clock.advance(0.5))
    assert control.ops("start") == []
    assert sweeper.stats["skipped"] == 1


def test_a_wakeup_rewritten_by_the_worker_while_firing_keeps_its_new_time() -> None:
    store, clock = MemoryStore(), ManualClock()
    control = RecordingControl()
    sweeper = make_sweeper(store, control, clock)
    store.put_schedule(items.wakeup_item("s1", clock.now))
    later = clock.now + 60

    def worker_runs_and_reschedules(sessionid: str) -> bool:
        store.put_schedule(items.wakeup_item(sessionid, later))
        return True

    control.wake = worker_runs_and_reschedules  # type: ignore[method-assign]
    cycle(sweeper, now=clock.now)
    kept = store.get_schedule("wakeup:s1")
    assert kept is not None and kept.due_at == later
    assert store.due_schedules(later, clock.now) == [kept]  # and it is not claimed


def test_transient_failures_retry_after_the_claim_expires() -> None:
    store, clock = MemoryStore(), ManualClock()
    control = RecordingControl()
    config = scheduler_config(claim_ttl=3.0)
    sweeper = make_sweeper(store, control, clock, config=config)
    schedule_start(store, clock.now, sessionid="s1", document_hash="h")
    control.fail_with = StoreUnavailable("redis down")
    cycle(sweeper, now=clock.now)
    assert sweeper.stats["retried"] == 1
    assert store.get_schedule("start:s1") is not None
    control.fail_with = None
    cycle(sweeper, now=clock.advance(1.0))
    assert control.ops("start") == []  # claim still held
    cycle(sweeper, now=clock.advance(2.5))
    assert [call.sessionid for call in control.ops("start")] == ["s1"]


def test_terminate_of_a_session_that_is_gone_is_done() -> None:
    store, clock = MemoryStore(), ManualClock()
    control = RecordingControl(missing={"gone"})
    sweeper = make_sweeper(store, control, clock)
    schedule_terminate(store, "gone", clock.now)
    cycle(sweeper, now=clock.now)
    assert store.get_schedule("terminate:gone") is None
    assert control.ops("terminate")[0].args["reason"] == "scheduled"


def test_a_wakeup_wakes_and_stays_claimed_for_the_worker_to_rewrite() -> None:
    store, clock = MemoryStore(), ManualClock()
    control = RecordingControl()
    config = scheduler_config(claim_ttl=10.0)
    sweeper = make_sweeper(store, control, clock, config=config)
    store.put_schedule(items.wakeup_item("s1", clock.now))
    cycle(sweeper, now=clock.now)
    assert [call.sessionid for call in control.ops("wake")] == ["s1"]
    assert store.get_schedule("wakeup:s1") is not None  # the worker removes or rewrites it
    cycle(sweeper, now=clock.advance(5))
    assert len(control.ops("wake")) == 1
    cycle(sweeper, now=clock.advance(6))  # no worker acted: the safety net fires again
    assert len(control.ops("wake")) == 2


@pytest.mark.parametrize("item_id", ["wakeup:gone", "mailbox:gone"])
def test_a_wakeup_for_an_ended_session_is_dropped(item_id: str) -> None:
    store, clock = MemoryStore(), ManualClock()
    control = RecordingControl(missing={"gone"})
    sweeper = make_sweeper(store, control, clock)
    store.put_schedule(ScheduleItem(item_id, clock.now, items.WAKEUP, {"sessionid": "gone"}))
    cycle(sweeper, now=clock.now)
    assert control.ops("wake") == []
    assert store.get_schedule(item_id) is None


def test_release_unfired_gives_claims_back() -> None:
    store, clock = MemoryStore(), ManualClock()
    control = RecordingControl()
    stopping = make_sweeper(store, control, clock, claimant="a")
    other = make_sweeper(store, control, clock, claimant="b")
    schedule_start(store, clock.now + 0.5, sessionid="s1", document_hash="h")
    stopping.sweep(clock.now)
    assert stopping.release_unfired() == 1
    cycle(other, now=clock.advance(0.5))
    assert [call.sessionid for call in control.ops("start")] == ["s1"]


def test_a_claim_released_on_stop_leaves_an_item_changed_meanwhile_as_it_is() -> None:
    class RescheduledAtTheLastMoment(MemoryStore):
        def replace_schedule(self, current: ScheduleItem, new: ScheduleItem | None) -> bool:
            schedule_start(self, clock.now + 60, sessionid="s1", document_hash="h")
            return super().replace_schedule(current, new)

    store, clock = RescheduledAtTheLastMoment(), ManualClock()
    stopping = make_sweeper(store, RecordingControl(), clock, claimant="a")
    schedule_start(store, clock.now + 0.5, sessionid="s1", document_hash="h")
    stopping.sweep(clock.now)
    assert stopping.release_unfired() == 0
    item = store.get_schedule("start:s1")
    assert item is not None and item.due_at == clock.now + 60


def _store_session(store: MemoryStore, sessionid: str) -> None:
    from persistence.contract import SessionRecord

    store.write_session(SessionRecord(sessionid, "h", "{}", 1, created_at=1.0, updated_at=1.0))


def test_a_claim_held_too_long_is_not_fired_by_its_holder() -> None:
    # Beat "slow" claims ahead, then stalls past claim_ttl - 2 x skew: by a clock that runs
    # ahead, its claim may already look expired to beat "fast", which may fire the item.
    store, clock = MemoryStore(), ManualClock()
    control = RecordingControl()
    config = scheduler_config(claim_ttl=10.0, max_clock_skew=2.0, lookahead=1.0)
    slow = make_sweeper(store, control, clock, claimant="slow", config=config)
    fast = make_sweeper(store, control, clock, claimant="fast", config=config)
    schedule_start(store, clock.now + 1, sessionid="s1", document_hash="h")
    slow.sweep(clock.now)
    clock.advance(6.5)  # stalled: 6.5 s > 10 - 2 x 2
    assert slow.fire_ready(clock.now) == 1
    assert control.ops("start") == [] and slow.stats["skipped"] == 1
    cycle(fast, now=clock.advance(4))  # the claim expired: the other beat fires it once
    assert [call.sessionid for call in control.ops("start")] == ["s1"]


def test_a_terminate_firing_before_its_sessions_start_waits_for_it() -> None:
    # Both fell due while the beats were down; the terminate happens to fire first.
    store, clock = MemoryStore(), ManualClock()
    control = RecordingControl(missing={"s1"})
    sweeper = make_sweeper(store, control, clock)
    schedule_start(store, clock.now - 20, sessionid="s1", document_hash="h")
    schedule_terminate(store, "s1", clock.now - 10)
    start = store.get_schedule("start:s1")
    assert start is not None
    store.claim_schedule(start, "slow-beat", 30, clock.now)  # in flight elsewhere
    cycle(sweeper, now=clock.now)
    assert store.get_schedule("terminate:s1") is not None  # postponed, not dropped
    store.remove_schedule("start:s1")  # the start fired: the session exists now
    control.missing.clear()
    _store_session(store, "s1")
    cycle(sweeper, now=clock.advance(1))
    assert [c.op for c in control.calls] == ["terminate", "terminate"]
    assert store.get_schedule("terminate:s1") is None


def test_a_terminate_scheduled_before_the_start_is_moot() -> None:
    store, clock = MemoryStore(), ManualClock()
    control = RecordingControl(missing={"s1"})
    sweeper = make_sweeper(store, control, clock)
    schedule_start(store, clock.now + 100, sessionid="s1", document_hash="h")
    schedule_terminate(store, "s1", clock.now)
    cycle(sweeper, now=clock.now)
    assert store.get_schedule("terminate:s1") is None


def test_two_beats_split_early_claims_and_take_over_a_silent_beats_share() -> None:
    store, clock = MemoryStore(), ManualClock()
    control = RecordingControl()
    a = make_sweeper(store, control, clock, claimant="beat-a")
    b = make_sweeper(store, control, clock, claimant="beat-b")
    for sweeper in (a, b):
        sweeper.set_peers(["beat-a", "beat-b"])
    for n in range(100):
        schedule_start(store, clock.now + 0.9, sessionid=f"s{n}", document_hash="h")
    a.sweep(clock.now)
    b.sweep(clock.now)
    assert a.stats["claimed"] + b.stats["claimed"] == 100
    assert a.stats["lost_claims"] == b.stats["lost_claims"] == 0  # no wasted round trips
    assert 20 < a.stats["claimed"] < 80  # each took about half
    a.fire_ready(clock.advance(0.9))
    b.fire_ready(clock.now)
    # beat-b goes silent: its share of later items is claimed by beat-a when nearly due.
    for n in range(100, 200):
        schedule_start(store, clock.now + 1.0, sessionid=f"s{n}", document_hash="h")
    a.sweep(clock.now)
    taken = a.stats["claimed"]
    a.sweep(clock.advance(0.95))
    assert a.stats["claimed"] > taken
    for _ in range(3):
        cycle(a, now=clock.advance(0.05))
    assert sorted(c.sessionid for c in control.ops("start")) == sorted(f"s{n}" for n in range(200))


def test_an_unexpected_claim_error_does_not_strand_the_items() -> None:
    store, clock = MemoryStore(), ManualClock()
    control = RecordingControl()
    sweeper = make_sweeper(store, control, clock)
    schedule_start(store, clock.now, sessionid="s1", document_hash="h")
    real_claim = store.claim_schedule

    def driver_bug(*args: object, **kwargs: object) -> bool:
        raise TimeoutError("driver timed out")

    store.claim_schedule = driver_bug  # type: ignore[method-assign]
    sweeper.sweep(clock.now)
    assert sweeper.inflight() == 0
    store.claim_schedule = real_claim  # type: ignore[method-assign]
    cycle(sweeper, now=clock.advance(0.1))
    assert [c.sessionid for c in control.ops("start")] == ["s1"]
