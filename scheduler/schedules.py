"""Create and manage schedules in the store: the API the REST layer (and the facade) call.

Every function takes the store first and works on any backend; the beat fires what they
store. Times are epoch seconds, UTC. Bad input raises ``InvalidRequest`` (``where`` names
the field); an unknown cron name raises ``InvalidRequest`` with code ``cron_not_found``.

One-shot schedules::

    schedule_start(store, at, *, sessionid, document_hash=None, src=None, data=None)
        -> ScheduleItem       # start session `sessionid` at `at` (past: as soon as swept)
    cancel_start(store, sessionid) -> None
    schedule_terminate(store, sessionid, at) -> ScheduleItem
    cancel_terminate(store, sessionid) -> None

Recurring schedules (see :mod:`scheduler.cron` for expressions, time zones and DST)::

    create_cron(store, name, expression, timezone="UTC", start_at=None, end_at=None,
                missed_run_policy=None, action={"kind": "start", "document_hash": ...},
                *, now=None, replace=False) -> CronInfo
    pause_cron(store, name) -> CronInfo      # no run until resumed
    resume_cron(store, name, *, now=None) -> CronInfo   # next occurrence after now
    delete_cron(store, name) -> None
    get_cron(store, name) -> CronInfo
    list_crons(store) -> list[CronInfo]

``missed_run_policy`` None means ``[scheduler] missed-run-policy``; ``once`` runs a missed
occurrence once when the beat comes back, ``skip`` drops it. Runs missed while paused are
never run. ``replace=False`` refuses an existing name (code ``cron_exists``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from orchestrion.errors import InvalidRequest
from persistence.contract import ScheduleItem, Store
from scheduler import items
from scheduler.cron import CronSpec, first_due


@dataclass(frozen=True)
class CronInfo:
    """A cron schedule as the API shows it: its spec and next due time (None: ended)."""

    spec: CronSpec
    next_due: float | None

    def to_json(self) -> dict[str, Any]:
        return {**self.spec.to_payload(), "next_due": self.next_due}


def schedule_start(
    store: Store,
    at: float,
    *,
    sessionid: str,
    document_hash: str | None = None,
    src: str | None = None,
    data: dict[str, Any] | None = None,
) -> ScheduleItem:
    """Store ``start:<sessionid>`` due at ``at``; the beat starts the session then."""
    if not sessionid:
        raise InvalidRequest("a scheduled start needs a session id", where="sessionid")
    if not document_hash and not src:
        raise InvalidRequest("a scheduled start needs a document_hash or a src", where="src")
    if data is not None and not isinstance(data, dict):
        raise InvalidRequest("start data must be an object", where="data")
    item = ScheduleItem(
        items.item_id(items.START, sessionid),
        _time(at, "at"),
        items.START,
        {"sessionid": sessionid, "document_hash": document_hash, "src": src, "data": data or {}},
    )
    store.put_schedule(item)
    return item


def cancel_start(store: Store, sessionid: str) -> None:
    store.remove_schedule(items.item_id(items.START, sessionid))


def schedule_terminate(store: Store, sessionid: str, at: float) -> ScheduleItem:
    """Store ``terminate:<sessionid>`` due at ``at``."""
    if not sessionid:
        raise InvalidRequest("a scheduled terminate needs a session id", where="sessionid")
    item = ScheduleItem(
        items.item_id(items.TERMINATE, sessionid),
        _time(at, "at"),
        items.TERMINATE,
        {"sessionid": sessionid},
    )
    store.put_schedule(item)
    return item


def cancel_terminate(store: Store, sessionid: str) -> None:
    store.remove_schedule(items.item_id(items.TERMINATE, sessionid))


def create_cron(  # noqa: PLR0917 - the documented positional order
    store: Store,
    name: str,
    expression: str,
    timezone: str = "UTC",
    start_at: float | None = None,
    end_at: float | None = None,
    missed_run_policy: str | None = None,
    action: dict[str, Any] | None = None,
    *,
    now: float | None = None,
    replace: bool = False,
) -> CronInfo:
    """Validate and store a recurring schedule, due at its first occurrence from now."""
    at = time.time() if now is None else now
    if not replace and store.get_schedule(items.item_id(items.CRON, name)) is not None:
        raise InvalidRequest(f"cron schedule {name!r} already exists", code="cron_exists")
    spec = CronSpec(
        name=name,
        expression=expression,
        timezone=timezone,
        start_at=None if start_at is None else _time(start_at, "start_at"),
        end_at=None if end_at is None else _time(end_at, "end_at"),
        missed_run_policy=missed_run_policy,
        action={"kind": "start", **(action or {})},
        created_at=at,
    ).validate()
    due = first_due(spec, at)
    if due is None:
        raise InvalidRequest(
            f"cron schedule {name!r} has no occurrence before its end_at", where="end_at"
        )
    return _store_cron(store, spec, due)


def get_cron(store: Store, name: str) -> CronInfo:
    item = store.get_schedule(items.item_id(items.CRON, name))
    if item is None:
        raise InvalidRequest(f"no cron schedule named {name!r}", code="cron_not_found")
    spec = CronSpec.from_payload(item.payload)
    return CronInfo(spec, None if spec.paused else item.due_at)


def list_crons(store: Store) -> list[CronInfo]:
    found = []
    for item in store.list_schedules(items.CRON, limit=100_000):
        spec = CronSpec.from_payload(item.payload)
        found.append(CronInfo(spec, None if spec.paused else item.due_at))
    return sorted(found, key=lambda info: info.spec.name)


def pause_cron(store: Store, name: str) -> CronInfo:
    """Stop firing ``name`` until resumed (idempotent)."""
    spec = get_cron(store, name).spec.with_paused(True)
    store.put_schedule(cron_item(spec, items.PAUSED_DUE_AT))
    return CronInfo(spec, None)


def resume_cron(store: Store, name: str, *, now: float | None = None) -> CronInfo:
    """Fire ``name`` again from its next occurrence after now (runs missed while paused
    are not run)."""
    info = get_cron(store, name)
    if not info.spec.paused:
        return info
    spec = info.spec.with_paused(False)
    return _store_cron(store, spec, first_due(spec, time.time() if now is None else now))


def delete_cron(store: Store, name: str) -> None:
    get_cron(store, name)
    store.remove_schedule(items.item_id(items.CRON, name))


def _store_cron(store: Store, spec: CronSpec, due: float | None) -> CronInfo:
    if due is None:
        # Its end is already behind it: nothing would ever run.
        store.remove_schedule(items.item_id(items.CRON, spec.name))
        return CronInfo(spec, None)
    store.put_schedule(cron_item(spec, due))
    return CronInfo(spec, due)


def cron_item(spec: CronSpec, due_at: float) -> ScheduleItem:
    """The stored item of ``spec`` due at ``due_at``."""
    return ScheduleItem(items.item_id(items.CRON, spec.name), due_at, items.CRON, spec.to_payload())


def _time(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"{where} must be epoch seconds (a number)", where=where)
    return float(value)
