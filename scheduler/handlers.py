"""One function per item kind: what firing a claimed schedule item does.

Each handler is idempotent, because an item whose claim expired (its beat died, or the
call failed) is fired again: a start of a session id that exists is a no-op, a terminate
of a session that is gone is done, a wake only makes a worker look.

A handler returns an :class:`Outcome`: ``DONE`` (the sweep removes the item if nobody
replaced it meanwhile), ``KEPT`` (the handler stored the item's next due time, or someone
else owns its removal) or ``RETRY`` (a transient failure: the claim is left to expire, and
then any beat fires the item again).
"""

from __future__ import annotations

import contextlib
import enum
import logging
from collections.abc import Callable
from typing import Any

from orchestrion.config import Config
from orchestrion.errors import (
    BrokerUnavailable,
    DocumentError,
    DocumentFetchError,
    InvalidRequest,
    SessionNotFound,
    StoreError,
)
from persistence.contract import ScheduleItem, Store
from scheduler import items
from scheduler.control import SessionControl
from scheduler.cron import CronSpec, plan_run, run_sessionid, utc_text
from scheduler.reaper import Reaper
from scheduler.schedules import cron_item
from scheduler.takeover import Takeover
from workers.wakeups import mailbox_item_id

log = logging.getLogger(__name__)

# Errors after which firing again cannot succeed: the item is dropped, loudly.
PERMANENT_ERRORS = (DocumentError, DocumentFetchError, InvalidRequest)
TRANSIENT_ERRORS = (StoreError, BrokerUnavailable)


class Outcome(enum.Enum):
    DONE = "done"
    KEPT = "kept"
    RETRY = "retry"


Handler = Callable[[ScheduleItem, float], Outcome]


class Handlers:
    """Fires items by kind against the session layer and the store."""

    def __init__(
        self,
        store: Store,
        control: SessionControl,
        config: Config,
        reaper: Reaper,
        takeover: Takeover,
    ) -> None:
        self._store = store
        self._control = control
        self._config = config
        self._reaper = reaper
        self._takeover = takeover
        scheduler = config.scheduler
        # A cron run found later than this was missed (the beat was down): see docs.
        self.missed_grace_s = scheduler.claim_ttl + scheduler.max_clock_skew
        self.takeover_interval_s = min(max(scheduler.dead_node_after / 10, 0.2), 5.0)
        # How long a terminate waits for the start of its session to fire first.
        self.postpone_s = max(scheduler.sweep_interval, 0.1)
        self._by_kind: dict[str, Handler] = {
            items.START: self.start,
            items.TERMINATE: self.terminate,
            items.WAKEUP: self.wakeup,
            items.CRON: self.cron,
            items.REAP: self.reap,
            items.SYSTEM: self.system,
        }

    def fire(self, item: ScheduleItem, now: float) -> Outcome:
        handler = self._by_kind.get(item.kind)
        if handler is None:
            log.error("schedule item %s has unknown kind %r: dropped", item.item_id, item.kind)
            return Outcome.DONE
        try:
            return handler(item, now)
        except PERMANENT_ERRORS as exc:
            log.error("schedule item %s cannot fire and is dropped: %s", item.item_id, exc)
            return Outcome.DONE
        except TRANSIENT_ERRORS as exc:
            log.warning("schedule item %s will be retried: %s", item.item_id, exc)
            return Outcome.RETRY

    def start(self, item: ScheduleItem, now: float) -> Outcome:
        payload = item.payload
        self._start(_sessionid(item), payload, item.due_at)
        return Outcome.DONE

    def terminate(self, item: ScheduleItem, now: float) -> Outcome:
        sessionid = _sessionid(item)
        reason = str(item.payload.get("reason") or "scheduled")
        try:
            self._control.terminate(sessionid, reason=reason)
            return Outcome.DONE
        except SessionNotFound:
            pass
        # Not started yet? Both items fell due while the beats were down and fire side by
        # side: a start due no later than this terminate must come first.
        start = self._store.get_schedule(items.item_id(items.START, sessionid))
        if start is not None and start.due_at <= item.due_at:
            later = ScheduleItem(item.item_id, now + self.postpone_s, item.kind, item.payload)
            self._store.replace_schedule(item, later)  # unless it was cancelled or moved
            return Outcome.KEPT
        if self._store.read_session(sessionid) is not None:  # it started meanwhile
            with contextlib.suppress(SessionNotFound):
                self._control.terminate(sessionid, reason=reason)
        return Outcome.DONE  # it ended already (or never will start): nothing to do

    def wakeup(self, item: ScheduleItem, now: float) -> Outcome:
        sessionid = _sessionid(item)
        if item.item_id == mailbox_item_id(sessionid):
            # The safety net of accepted work. Removed first, then looked at (a no-op for an
            # ended session): an accept after the look puts it again; one before is seen,
            # and re-arms it by waking.
            self._store.remove_schedule(item.item_id)
            self._control.wake_if_pending(sessionid)
            return Outcome.KEPT
        if not self._control.wake(sessionid):
            return Outcome.DONE  # ended: nobody will run it any more
        # The worker that runs the session rewrites or removes the item; until then the
        # claim holds it, and if no worker does it in claim_ttl it is fired again.
        return Outcome.KEPT

    def cron(self, item: ScheduleItem, now: float) -> Outcome:
        spec = CronSpec.from_payload(item.payload)
        plan = plan_run(
            spec, item.due_at, now, self.missed_grace_s, self._config.scheduler.missed_run_policy
        )
        if plan.run:
            sessionid = run_sessionid(spec, plan.occurrence)
            self._start(sessionid, spec.action, plan.occurrence)
            log.info(
                "cron %s: started session %s for %s%s",
                spec.name,
                sessionid,
                utc_text(plan.occurrence),
                " (for missed runs)" if plan.missed else "",
            )
        elif plan.missed:
            log.info("cron %s: skipped the run missed at %s", spec.name, utc_text(plan.occurrence))
        # Moved on only as it fired: a pause, change or delete meanwhile stands.
        following = None if plan.next_due is None else cron_item(spec, plan.next_due)
        if self._store.replace_schedule(item, following) and following is None:
            log.info("cron %s: ended (no occurrence before its end)", spec.name)
        return Outcome.KEPT

    def reap(self, item: ScheduleItem, now: float) -> Outcome:
        self._reaper.reap(item, now)
        return Outcome.DONE

    def system(self, item: ScheduleItem, now: float) -> Outcome:
        if item.item_id == items.REAP_SCAN_ID:
            interval = self._config.scheduler.reap_interval
            self._reaper.scan(now, horizon_s=interval)
        elif item.item_id == items.TAKEOVER_SCAN_ID:
            interval = self.takeover_interval_s
            self._takeover.scan(now)
        else:
            log.error("unknown system item %s: dropped", item.item_id)
            return Outcome.DONE
        self._store.replace_schedule(
            item, ScheduleItem(item.item_id, now + interval, items.SYSTEM, {})
        )
        return Outcome.KEPT

    def _start(self, sessionid: str, spec: dict[str, Any], idealtime: float) -> None:
        data = spec.get("data")
        self._control.start_now(
            sessionid=sessionid,
            document_hash=spec.get("document_hash") or None,
            src=spec.get("src") or None,
            data=data if isinstance(data, dict) else {},
            idealtime=idealtime,
        )


def _sessionid(item: ScheduleItem) -> str:
    return str(item.payload.get("sessionid") or items.key_of(item))
