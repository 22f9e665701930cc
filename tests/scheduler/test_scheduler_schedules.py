"""The schedules API (cron management, one-shot starts and terminates) and cron firing
through the sweep: runs, next occurrences, missed runs, pause/resume, deletes."""

from __future__ import annotations

import pytest
from scheduler_fakes import ManualClock, RecordingControl, make_sweeper, scheduler_config

from orchestrion.errors import InvalidRequest
from persistence.contract import ScheduleItem
from persistence.memory import MemoryStore
from scheduler import items
from scheduler.cron import run_sessionid
from scheduler.schedules import (
    cancel_start,
    create_cron,
    delete_cron,
    get_cron,
    list_crons,
    pause_cron,
    resume_cron,
    schedule_start,
)

HOUR = 3600.0
T0 = 1_800_000_000.0 - (1_800_000_000.0 % HOUR)  # on the hour
ACTION = {"document_hash": "doc", "data": {"x": 1}}


def fire_all(sweeper: object, clock: ManualClock) -> None:
    sweeper.sweep(clock.now)  # type: ignore[attr-defined]
    sweeper.fire_ready(clock.now)  # type: ignore[attr-defined]


def test_create_list_get_and_delete() -> None:
    store = MemoryStore()
    info = create_cron(store, "hourly", "0 * * * *", action=ACTION, now=T0 + 10)
    assert info.next_due == T0 + HOUR
    assert info.spec.action == {"kind": "start", **ACTION}
    assert [i.spec.name for i in list_crons(store)] == ["hourly"]
    assert get_cron(store, "hourly").to_json()["next_due"] == T0 + HOUR
    with pytest.raises(InvalidRequest) as exists:
        create_cron(store, "hourly", "0 * * * *", action=ACTION, now=T0)
    assert exists.value.code == "cron_exists"
    delete_cron(store, "hourly")
    assert list_crons(store) == []
    with pytest.raises(InvalidRequest) as missing:
        delete_cron(store, "hourly")
    assert missing.value.code == "cron_not_found"


def test_create_refuses_bad_input_with_the_field_named() -> None:
    store = MemoryStore()
    with pytest.raises(InvalidRequest) as caught:
        create_cron(store, "x", "0 * * *", action=ACTION)
    assert caught.value.where == "expression"
    with pytest.raises(InvalidRequest) as ended:
        create_cron(store, "x", "0 * * * *", end_at=T0 - HOUR, action=ACTION, now=T0)
    assert ended.value.where == "end_at"
    with pytest.raises(InvalidRequest):
        schedule_start(store, T0, sessionid="s")  # no document


def test_a_cron_runs_each_occurrence_once_and_moves_on() -> None:
    store, clock = MemoryStore(), ManualClock(T0 + 1)
    control = RecordingControl()
    sweeper = make_sweeper(store, control, clock)
    spec = create_cron(store, "hourly", "0 * * * *", action=ACTION, now=clock.now).spec
    for _ in range(3):
        clock.now = get_cron(store, "hourly").next_due or 0
        fire_all(sweeper, clock)
        fire_all(sweeper, clock)  # a second sweep at the same instant fires nothing more
    started = control.ops("start")
    assert [c.sessionid for c in started] == [run_sessionid(spec, T0 + n * HOUR) for n in (1, 2, 3)]
    assert started[0].args["data"] == {"x": 1}
    assert get_cron(store, "hourly").next_due == T0 + 4 * HOUR


@pytest.mark.parametrize(("policy", "runs"), [("once", 1), ("skip", 0)])
def test_runs_missed_while_the_beat_was_down_follow_the_policy(policy: str, runs: int) -> None:
    store, clock = MemoryStore(), ManualClock(T0 + 1)
    control = RecordingControl()
    create_cron(
        store, "hourly", "0 * * * *", missed_run_policy=policy, action=ACTION, now=clock.now
    )
    clock.now = T0 + 5 * HOUR + 60  # down from before 01:00 until 05:01
    fire_all(make_sweeper(store, control, clock), clock)
    assert len(control.ops("start")) == runs  # never a burst of five
    spec = get_cron(store, "hourly").spec
    if runs:
        assert control.ops("start")[0].sessionid == run_sessionid(spec, T0 + 5 * HOUR)
    assert get_cron(store, "hourly").next_due == T0 + 6 * HOUR


def test_the_configured_default_policy_applies() -> None:
    store, clock = MemoryStore(), ManualClock(T0 + 1)
    control = RecordingControl()
    create_cron(store, "hourly", "0 * * * *", action=ACTION, now=clock.now)
    clock.now = T0 + 3 * HOUR + 60
    config = scheduler_config(missed_run_policy="skip")
    fire_all(make_sweeper(store, control, clock, config=config), clock)
    assert control.ops("start") == []


def test_a_run_late_within_the_grace_is_not_missed() -> None:
    store, clock = MemoryStore(), ManualClock(T0 + 1)
    control = RecordingControl()
    create_cron(
        store, "hourly", "0 * * * *", missed_run_policy="skip", action=ACTION, now=clock.now
    )
    clock.now = T0 + HOUR + 20  # a beat died holding the claim; the retry came 20 s late
    fire_all(make_sweeper(store, control, clock, config=scheduler_config(claim_ttl=30)), clock)
    assert len(control.ops("start")) == 1


def test_pause_and_resume() -> None:
    store, clock = MemoryStore(), ManualClock(T0 + 1)
    control = RecordingControl()
    sweeper = make_sweeper(store, control, clock)
    create_cron(store, "hourly", "0 * * * *", action=ACTION, now=clock.now)
    assert pause_cron(store, "hourly").next_due is None
    clock.now = T0 + 3 * HOUR + 5
    fire_all(sweeper, clock)
    assert control.ops("start") == []
    resumed = resume_cron(store, "hourly", now=clock.now)
    assert resumed.next_due == T0 + 4 * HOUR  # runs missed while paused are not run
    clock.now = T0 + 4 * HOUR
    fire_all(sweeper, clock)
    assert len(control.ops("start")) == 1


def test_a_cron_past_its_end_is_removed_after_its_last_run() -> None:
    store, clock = MemoryStore(), ManualClock(T0 + 1)
    control = RecordingControl()
    sweeper = make_sweeper(store, control, clock)
    create_cron(store, "twice", "0 * * * *", end_at=T0 + 2 * HOUR, action=ACTION, now=clock.now)
    for n in (1, 2):
        clock.now = T0 + n * HOUR
        fire_all(sweeper, clock)
    assert len(control.ops("start")) == 2
    assert store.get_schedule(items.item_id(items.CRON, "twice")) is None


def test_a_cron_deleted_while_firing_is_not_brought_back() -> None:
    store, clock = MemoryStore(), ManualClock(T0 + 1)
    control = RecordingControl()
    sweeper = make_sweeper(store, control, clock)
    create_cron(store, "hourly", "0 * * * *", action=ACTION, now=clock.now)
    original = control.start_now

    def delete_during_start(**kwargs: object) -> str:
        delete_cron(store, "hourly")
        return original(**kwargs)  # type: ignore[arg-type]

    control.start_now = delete_during_start  # type: ignore[method-assign]
    clock.now = T0 + HOUR
    fire_all(sweeper, clock)
    assert len(control.ops("start")) == 1
    assert list_crons(store) == []


def test_cancel_a_scheduled_start() -> None:
    store, clock = MemoryStore(), ManualClock()
    control = RecordingControl()
    schedule_start(store, clock.now + 10, sessionid="s1", src="file:///d.scxml")
    cancel_start(store, "s1")
    clock.advance(10)
    fire_all(make_sweeper(store, control, clock), clock)
    assert control.ops("start") == []


def test_a_start_due_in_the_past_fires_at_once() -> None:
    store, clock = MemoryStore(), ManualClock()
    control = RecordingControl()
    schedule_start(store, clock.now - 3600, sessionid="s1", src="file:///d.scxml", data={"a": 1})
    fire_all(make_sweeper(store, control, clock), clock)
    (call,) = control.ops("start")
    assert call.args == {
        "document_hash": None,
        "src": "file:///d.scxml",
        "data": {"a": 1},
        "idealtime": clock.now - 3600,
    }


def test_a_pause_landing_just_before_the_move_on_stands() -> None:
    class PausedAtTheLastMoment(MemoryStore):
        def replace_schedule(self, current: ScheduleItem, new: ScheduleItem | None) -> bool:
            pause_cron(self, "hourly")  # an API call wins the race with the beat
            return super().replace_schedule(current, new)

    store, clock = PausedAtTheLastMoment(), ManualClock(T0 + 1)
    control = RecordingControl()
    sweeper = make_sweeper(store, control, clock)
    create_cron(store, "hourly", "0 * * * *", action=ACTION, now=clock.now)
    clock.now = T0 + HOUR
    fire_all(sweeper, clock)
    assert len(control.ops("start")) == 1
    info = get_cron(store, "hourly")
    assert info.spec.paused and info.next_due is None
