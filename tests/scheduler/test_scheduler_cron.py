"""Cron next-run computation (time zones, DST, bounds) and the missed-run policy."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from orchestrion.errors import InvalidRequest
from scheduler.cron import CronSpec, first_due, next_occurrence, plan_run, run_sessionid

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
ACTION = {"kind": "start", "document_hash": "h"}


def at(tz: ZoneInfo, *fields: int, fold: int = 0) -> float:
    return datetime(*fields, tzinfo=tz, fold=fold).timestamp()  # type: ignore[misc]


def spec(expression: str, timezone: str = "UTC", **kw: object) -> CronSpec:
    return CronSpec(name="job", expression=expression, timezone=timezone, action=ACTION, **kw)  # type: ignore[arg-type]


def occurrences(s: CronSpec, after: float, count: int) -> list[float]:
    found = []
    for _ in range(count):
        nxt = next_occurrence(s, after)
        if nxt is None:
            break
        found.append(nxt)
        after = nxt
    return found


def test_daily_in_a_time_zone_is_wall_clock_time() -> None:
    s = spec("0 9 * * *", "America/New_York")
    got = occurrences(s, at(NEW_YORK, 2026, 1, 10, 12, 0), 2)
    assert got == [at(NEW_YORK, 2026, 1, 11, 9, 0), at(NEW_YORK, 2026, 1, 12, 9, 0)]
    # 09:00 in New York in winter is 14:00 UTC
    assert datetime.fromtimestamp(got[0], UTC).hour == 14


def test_spring_forward_runs_once_after_the_gap() -> None:
    # 2026-03-29 02:00 -> 03:00 in Berlin: 02:30 does not exist that day.
    s = spec("30 2 * * *", "Europe/Berlin")
    got = occurrences(s, at(BERLIN, 2026, 3, 28, 12, 0), 3)
    assert got[0] == at(BERLIN, 2026, 3, 29, 3, 0)
    assert got[1:] == [at(BERLIN, 2026, 3, 30, 2, 30), at(BERLIN, 2026, 3, 31, 2, 30)]


def test_fall_back_runs_a_fixed_time_job_once() -> None:
    # 2026-10-25 03:00 CEST -> 02:00 CET: 02:30 happens twice; the daily job runs once.
    s = spec("30 2 * * *", "Europe/Berlin")
    got = occurrences(s, at(BERLIN, 2026, 10, 24, 12, 0), 2)
    assert got == [at(BERLIN, 2026, 10, 25, 2, 30), at(BERLIN, 2026, 10, 26, 2, 30)]


def test_fall_back_keeps_an_interval_job_running_through_the_repeated_hour() -> None:
    s = spec("*/30 * * * *", "Europe/Berlin")
    got = occurrences(s, at(BERLIN, 2026, 10, 25, 1, 50), 5)
    gaps = [b - a for a, b in itertools.pairwise(got)]
    assert gaps == [1800.0] * 4  # real time keeps flowing every 30 minutes
    assert got[2] == at(BERLIN, 2026, 10, 25, 2, 0, fold=1)


def test_start_and_end_bound_the_occurrences() -> None:
    start = at(ZoneInfo("UTC"), 2026, 5, 1, 0, 0)
    end = at(ZoneInfo("UTC"), 2026, 5, 3, 0, 0)
    s = spec("0 0 * * *", start_at=start, end_at=end)
    got = occurrences(s, start - 10 * 86400, 10)
    assert got == [start, start + 86400, end]  # inclusive on both ends


def test_macros_and_seconds_fields() -> None:
    base = at(ZoneInfo("UTC"), 2026, 5, 1, 10, 20)
    assert next_occurrence(spec("@hourly"), base) == at(ZoneInfo("UTC"), 2026, 5, 1, 11, 0)
    assert next_occurrence(spec("@daily"), base) == at(ZoneInfo("UTC"), 2026, 5, 2, 0, 0)
    assert next_occurrence(spec("* * * * * */10"), base) == base + 10


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("expression", {"expression": "61 * * * *"}),
        ("expression", {"expression": "every day"}),
        ("timezone", {"timezone": "Mars/Olympus"}),
        ("end_at", {"start_at": 100.0, "end_at": 50.0}),
        ("missed_run_policy", {"missed_run_policy": "all"}),
        ("action", {"action": {"kind": "start"}}),
        ("action.kind", {"action": {"kind": "send", "document_hash": "h"}}),
        ("name", {"name": "a:b"}),
        ("name", {"name": 7}),
        ("expression", {"expression": None}),
        ("timezone", {"timezone": 1}),
        ("action", {"action": "start"}),
    ],
)
def test_invalid_specs_say_which_field(field: str, kwargs: dict[str, object]) -> None:
    base = {"name": "job", "expression": "* * * * *", "action": ACTION}
    with pytest.raises(InvalidRequest) as caught:
        CronSpec(**{**base, **kwargs}).validate()  # type: ignore[arg-type]
    assert caught.value.where == field


def test_on_time_run_runs_and_moves_to_the_next_occurrence() -> None:
    s = spec("0 * * * *")
    due = at(ZoneInfo("UTC"), 2026, 5, 1, 10, 0)
    plan = plan_run(s, due, due + 0.01, grace_s=30, default_policy="skip")
    assert plan.run and not plan.missed
    assert plan.next_due == due + 3600


@pytest.mark.parametrize(("policy", "runs"), [("once", True), ("skip", False)])
def test_missed_runs_follow_the_policy_and_never_burst(policy: str, runs: bool) -> None:
    s = spec("0 * * * *", missed_run_policy=policy)
    due = at(ZoneInfo("UTC"), 2026, 5, 1, 10, 0)
    now = due + 5 * 3600 + 600  # five hours and ten minutes of downtime
    plan = plan_run(s, due, now, grace_s=30, default_policy="once")
    assert plan.missed
    assert plan.run is runs
    assert plan.next_due == due + 6 * 3600  # the next one after now, not 11:00
    if runs:
        assert plan.occurrence == due + 5 * 3600  # the missed period's latest occurrence


def test_a_run_interrupted_before_moving_on_still_leaves_the_missed_period_one_run() -> None:
    # A beat ran 10:00 and died before storing 11:00; the beats came back at 13:30.
    s = spec("0 * * * *", missed_run_policy="once")
    ran = at(ZoneInfo("UTC"), 2026, 5, 1, 10, 0)
    plan = plan_run(s, ran, ran + 3.5 * 3600, grace_s=30, default_policy="once")
    assert plan.run and plan.occurrence == ran + 3 * 3600
    assert run_sessionid(s, plan.occurrence) != run_sessionid(s, ran)
    # Retried (the beat died again at once): the same occurrence, the same session id.
    again = plan_run(s, ran, ran + 3.5 * 3600 + 40, grace_s=30, default_policy="once")
    assert again.occurrence == plan.occurrence


@pytest.mark.parametrize("policy", ["once", "skip"])
def test_occurrences_passed_within_the_grace_fold_into_the_latest(policy: str) -> None:
    # An every-second schedule: a beat ran :33 and died before storing :34; another took
    # the item over 6.2 s later, inside the 30 s grace. :34 to :39 fold into :39, on time.
    s = spec("* * * * * *", missed_run_policy=policy)
    ran = at(ZoneInfo("UTC"), 2026, 5, 1, 10, 0) + 33
    plan = plan_run(s, ran, ran + 6.2, grace_s=30, default_policy="once")
    assert plan.run and plan.missed
    assert plan.occurrence == ran + 6
    assert plan.next_due == ran + 7


def test_the_latest_occurrence_respects_the_end() -> None:
    s = spec("0 * * * *", end_at=at(ZoneInfo("UTC"), 2026, 5, 1, 12, 0))
    due = at(ZoneInfo("UTC"), 2026, 5, 1, 10, 0)
    plan = plan_run(s, due, due + 10 * 3600, grace_s=30, default_policy="once")
    assert plan.run and plan.occurrence == due + 2 * 3600 and plan.next_due is None


def test_default_policy_applies_when_the_schedule_sets_none() -> None:
    s = spec("0 * * * *")
    due = 3600.0 * 100
    assert plan_run(s, due, due + 100, grace_s=30, default_policy="skip").run is False
    assert plan_run(s, due, due + 100, grace_s=30, default_policy="once").run is True


def test_paused_or_ended_schedules_do_not_run() -> None:
    due = 3600.0 * 100
    assert not plan_run(spec("0 * * * *", paused=True), due, due, 30, "once").run
    ended = plan_run(spec("0 * * * *", end_at=due - 1), due, due, 30, "once")
    assert not ended.run and ended.next_due is None


def test_first_due_includes_an_occurrence_exactly_now() -> None:
    now = at(ZoneInfo("UTC"), 2026, 5, 1, 10, 0)
    assert first_due(spec("0 * * * *"), now) == now


def test_run_session_ids_are_stable_per_occurrence_and_schedule() -> None:
    a = spec("0 * * * *")
    assert run_sessionid(a, 3600.0) == run_sessionid(a, 3600.0)
    assert run_sessionid(a, 3600.0) != run_sessionid(a, 7200.0)
    recreated = CronSpec(**{**a.__dict__, "created_at": 5.0})
    assert run_sessionid(a, 3600.0) != run_sessionid(recreated, 3600.0)
