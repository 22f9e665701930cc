"""Recurring schedules: cron expressions in a time zone, and what to do when a run is due.

A cron schedule is one stored item, ``cron:<name>``, due at its next occurrence; its
payload is :meth:`CronSpec.to_payload`. When the beat fires it, :func:`plan_run` decides
which occurrence runs (the latest one due; if it is found more than ``grace_s`` late it was
*missed*: policy ``once`` runs it once, ``skip`` does not) and when the next one is; the
next occurrence is always after *now*, so a beat that was down for a day never fires a
burst of missed runs.

Expressions are croniter's: five fields (minute hour day month weekday), an optional sixth
for seconds, or ``@yearly``, ``@monthly``, ``@weekly``, ``@daily``, ``@hourly``. They are
matched against wall-clock time in ``timezone``. Across daylight saving changes:

- a wall time that does not exist (spring forward) runs at the first existing time after
  the gap (croniter's choice), once;
- a wall time that occurs twice (fall back) runs once, at its first occurrence, for
  expressions with fixed hours (``30 2 * * *``); expressions whose hour field is a
  wildcard (``*/15 * * * *``) keep running at their usual real-time interval through the
  repeated hour, as Vixie cron does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from orchestrion.errors import InvalidRequest

POLICIES: Final = ("once", "skip")
ACTION_KINDS: Final = ("start",)

_MACROS: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# Skipping repeated fall-back times never needs more than a few extra steps.
_MAX_SKIPS: Final = 8
_RUN_NAMESPACE: Final = uuid.UUID("6f1d3c2e-5b7a-4e8f-9c0d-1a2b3c4d5e6f")


@dataclass(frozen=True)
class CronSpec:
    """One recurring schedule as stored in the payload of its ``cron:<name>`` item.

    ``start_at``/``end_at`` bound the occurrences (epoch s, inclusive); ``missed_run_policy``
    None means the configured default. ``action`` is ``{"kind": "start", "document_hash"
    or "src": ..., "data": {...}}``. ``created_at`` tells apart two schedules that had the
    same name, so that their runs get different session ids.
    """

    name: str
    expression: str
    timezone: str = "UTC"
    start_at: float | None = None
    end_at: float | None = None
    paused: bool = False
    missed_run_policy: str | None = None
    action: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0

    def validate(self) -> CronSpec:
        """Return self, or raise ``InvalidRequest`` saying which field is wrong and why."""
        for where, value in (
            ("name", self.name),
            ("expression", self.expression),
            ("timezone", self.timezone),
        ):
            if not isinstance(value, str):
                raise _invalid(where, f"{where} must be a string, got {type(value).__name__}")
        if not isinstance(self.action, dict):
            raise _invalid("action", "action must be an object")
        if not self.name or ":" in self.name or "/" in self.name:
            raise _invalid("name", f"cron name {self.name!r} must be non-empty without ':' or '/'")
        expanded = _expand(self.expression)
        if not croniter.is_valid(expanded):
            raise _invalid(
                "expression",
                f"cron expression {self.expression!r} is not valid: expected five fields "
                "(minute hour day month weekday), an optional sixth for seconds, or @daily etc.",
            )
        zone(self.timezone)
        if self.start_at is not None and self.end_at is not None and self.end_at < self.start_at:
            raise _invalid("end_at", f"end_at {self.end_at} is before start_at {self.start_at}")
        if self.missed_run_policy is not None and self.missed_run_policy not in POLICIES:
            raise _invalid(
                "missed_run_policy",
                f"missed_run_policy {self.missed_run_policy!r} must be one of "
                + ", ".join(POLICIES),
            )
        _check_action(self.action)
        return self

    def to_payload(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "expression": self.expression,
            "timezone": self.timezone,
            "start_at": self.start_at,
            "end_at": self.end_at,
            "paused": self.paused,
            "missed_run_policy": self.missed_run_policy,
            "action": self.action,
            "created_at": self.created_at,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> CronSpec:
        return cls(
            name=str(payload["name"]),
            expression=str(payload["expression"]),
            timezone=str(payload.get("timezone") or "UTC"),
            start_at=_opt_float(payload.get("start_at")),
            end_at=_opt_float(payload.get("end_at")),
            paused=bool(payload.get("paused", False)),
            missed_run_policy=payload.get("missed_run_policy"),
            action=dict(payload.get("action") or {}),
            created_at=float(payload.get("created_at") or 0.0),
        )

    def with_paused(self, paused: bool) -> CronSpec:
        return replace(self, paused=paused)


@dataclass(frozen=True)
class RunPlan:
    """What to do with a fired cron item: whether to run, for which occurrence (its session
    id derives from it), and when the schedule is next due."""

    run: bool
    missed: bool
    occurrence: float
    next_due: float | None


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ``InvalidRequest`` if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _invalid("timezone", f"unknown time zone {name!r} (expected an IANA name)") from None


def next_occurrence(spec: CronSpec, after: float) -> float | None:
    """The first occurrence strictly after ``after`` within the spec's bounds, or None."""
    expression = _expand(spec.expression)
    tz = zone(spec.timezone)
    base = after
    if spec.start_at is not None and spec.start_at > after:
        base = spec.start_at - 1e-3  # start_at itself may be an occurrence
    fixed_hours = "*" not in expression.split()[1]
    it = croniter(expression, datetime.fromtimestamp(base, tz))
    for _ in range(_MAX_SKIPS):
        candidate: datetime = it.get_next(datetime)
        if fixed_hours and candidate.fold == 1 and _is_repeated(candidate):
            continue  # the same wall time already ran before the clocks went back
        when = candidate.timestamp()
        if spec.end_at is not None and when > spec.end_at:
            return None
        return when
    return None


def first_due(spec: CronSpec, now: float) -> float | None:
    """When a new (or resumed) schedule is first due: its next occurrence from now on."""
    return next_occurrence(spec, now - 1e-3)


def plan_run(
    spec: CronSpec, due_at: float, now: float, grace_s: float, default_policy: str
) -> RunPlan:
    """Decide the fate of the item due at ``due_at``, fired at ``now``.

    One firing runs at most one occurrence: the latest one due by ``now``. Occurrences
    between ``due_at`` and it were missed and fold into it, however short the schedule's
    period: a beat that died after running ``due_at`` but before storing the next time
    still leaves the period after it its one run (a retry of the same handling finds the
    same latest occurrence, hence the same session id). That occurrence is *late* when
    ``now`` is more than ``grace_s`` after it: policy ``once`` runs it anyway, ``skip``
    does not. Either way the next due time is after ``now``.
    """
    latest = last_occurrence(spec, now)
    occurrence = max(due_at, latest) if latest is not None else due_at
    late = now - occurrence > grace_s
    policy = spec.missed_run_policy or default_policy
    in_bounds = spec.end_at is None or due_at <= spec.end_at
    return RunPlan(
        run=in_bounds and not spec.paused and (not late or policy == "once"),
        missed=late or occurrence > due_at,
        occurrence=occurrence,
        next_due=next_occurrence(spec, max(due_at, now)),
    )


def last_occurrence(spec: CronSpec, at: float) -> float | None:
    """The latest occurrence at or before ``at`` (and ``end_at``), or None."""
    until = at if spec.end_at is None else min(at, spec.end_at)
    it = croniter(
        _expand(spec.expression), datetime.fromtimestamp(until + 1e-3, zone(spec.timezone))
    )
    when: float = it.get_prev(datetime).timestamp()
    if spec.start_at is not None and when < spec.start_at:
        return None
    return when


def run_sessionid(spec: CronSpec, occurrence: float) -> str:
    """The session id of the run for ``occurrence``: the same on every retry of it."""
    return str(uuid.uuid5(_RUN_NAMESPACE, f"{spec.name}|{spec.created_at!r}|{occurrence!r}"))


def _expand(expression: str) -> str:
    text = " ".join(expression.split())
    return _MACROS.get(text.lower(), text)


def _is_repeated(candidate: datetime) -> bool:
    """True when ``candidate``'s wall time also existed earlier (fold 0, another offset)."""
    first = candidate.replace(fold=0)
    return first.utcoffset() != candidate.utcoffset()


def _check_action(action: dict[str, Any]) -> None:
    kind = action.get("kind", "start")
    if kind not in ACTION_KINDS:
        raise _invalid("action.kind", f"action kind {kind!r} must be one of {ACTION_KINDS}")
    has_hash = isinstance(action.get("document_hash"), str) and action["document_hash"]
    has_src = isinstance(action.get("src"), str) and action["src"]
    if not has_hash and not has_src:
        raise _invalid("action", "a start action needs a document_hash or a src")
    if not isinstance(action.get("data", {}), dict):
        raise _invalid("action.data", "action data must be an object")


def _invalid(where: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, code="invalid_schedule", where=where)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def utc_text(epoch_s: float) -> str:
    """ISO 8601 UTC text of an epoch time, for logs and listings."""
    return datetime.fromtimestamp(epoch_s, UTC).isoformat()
