"""Hung-session reaping: terminate sessions past their lifetime or idle deadline.

The scan (the ``system:reap-scan`` item, run by exactly one beat every ``reap_interval``)
walks the ownership indexes (every node's sessions) and, for each session whose deadline
falls before the next scan, stores a ``reap:<sessionid>`` item due at that deadline. The
sweep fires it like any other item, so it is claimed once and retried if a beat dies.
Firing re-reads the session: a session that was active since the scan is not reaped.

Deadlines: ``created_at + max-lifetime`` and ``max(updated_at, pending wake-up) +
idle-timeout``; a session waiting for its own delayed send is not idle before that send.
A non-persisted session's record is not rewritten as it runs (its state lives in its
worker's memory), so only its lifetime is limited, not its idleness.

The scan does not read a session again before it could possibly reach a deadline: a
session's document and its limits never change, its lifetime ends at a fixed time, and
its idle deadline is never before its last update plus the timeout (activity only moves
it later). So thousands of idle sessions cost the scan their index entries only, read
once per idle timeout at most, and sessions without limits (the default) once.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from orchestrion.config import OrchestrationConfig
from orchestrion.errors import SessionNotFound
from persistence.contract import ScheduleItem, SessionRecord, Store
from scheduler import items
from scheduler.control import SessionControl
from scheduler.limits import Limits, LimitsByDocument
from workers.codec import Transient, decode_snapshot

log = logging.getLogger(__name__)

# A transient marker is a few dozen bytes; engine snapshots are never decoded here.
_MARKER_MAX_BYTES = 512
MAX_LIFETIME = "max-lifetime"
IDLE_TIMEOUT = "idle-timeout"


@dataclass(frozen=True)
class Deadline:
    """When a session is to be reaped, and why."""

    at: float
    reason: str
    limit_s: float


class Reaper:
    """Finds sessions past their limits and terminates them."""

    def __init__(self, store: Store, control: SessionControl, config: OrchestrationConfig) -> None:
        self._store = store
        self._control = control
        self._limits = LimitsByDocument(store, config)
        # Sessions owned at the last scan -> a time before which they cannot reach a
        # deadline (inf: no limits); the scan skips their records until then.
        self._not_before: dict[str, float] = {}

    def deadline(self, record: SessionRecord) -> Deadline | None:
        """The earliest deadline of a session, or None when no limit applies."""
        limits = self._limits.limits(record.document_hash)
        return _earliest_deadline(record, limits, self._pending_wakeup)

    def scan(self, now: float, horizon_s: float) -> int:
        """Store a reap item for every session due by ``now + horizon_s``; return how many."""
        stored = 0
        until = now + horizon_s
        not_before: dict[str, float] = {}
        for node in self._store.nodes():
            for sessionid in self._store.sessions_of(node.node):
                known = self._not_before.get(sessionid)
                if known is not None and known > until:
                    not_before[sessionid] = known
                    continue
                record = self._store.read_session(sessionid)
                if record is None:
                    continue
                limits = self._limits.limits(record.document_hash)
                # Its deadline as if it had no delayed send pending: no later than the real
                # one, and no store read for the pending send when it is beyond reach.
                bound = _earliest_deadline(record, limits, lambda _sessionid: 0.0)
                not_before[sessionid] = math.inf if bound is None else bound.at
                if bound is None or bound.at > until:
                    continue
                deadline = _earliest_deadline(record, limits, self._pending_wakeup)
                if deadline is None or deadline.at > until:
                    continue
                reap_id = items.item_id(items.REAP, sessionid)
                existing = self._store.get_schedule(reap_id)
                if existing is not None and existing.due_at == deadline.at:
                    continue  # already planned (re-putting it would drop a claim)
                self._store.put_schedule(
                    ScheduleItem(
                        reap_id,
                        deadline.at,
                        items.REAP,
                        {"sessionid": sessionid, "reason": deadline.reason},
                    )
                )
                stored += 1
        self._not_before = not_before
        return stored

    def reap(self, item: ScheduleItem, now: float) -> bool:
        """Fire a reap item: terminate the session if its deadline has really passed.

        Returns True when the item is done (reaped, gone, or not due any more: the next
        scan plans it again).
        """
        sessionid = str(item.payload.get("sessionid") or items.key_of(item))
        record = self._store.read_session(sessionid)
        if record is None:
            return True
        deadline = self.deadline(record)
        if deadline is None or deadline.at > now:
            return True
        try:
            self._control.terminate(sessionid, reason=deadline.reason)
        except SessionNotFound:
            return True
        age = now - (record.created_at if deadline.reason == MAX_LIFETIME else record.updated_at)
        log.info(
            "session %s reaped: %s (%.0f s, limit %.0f s), terminated and removed",
            sessionid,
            deadline.reason,
            age,
            deadline.limit_s,
        )
        return True

    def _pending_wakeup(self, sessionid: str) -> float:
        wakeup = self._store.get_schedule(items.item_id(items.WAKEUP, sessionid))
        return 0.0 if wakeup is None else wakeup.due_at


def _earliest_deadline(
    record: SessionRecord, limits: Limits, pending_wakeup: Callable[[str], float]
) -> Deadline | None:
    """The earliest of the session's deadlines; ``pending_wakeup`` gives the due time of its
    next delayed send (0.0: none), before which it is not idle."""
    found: list[Deadline] = []
    if limits.max_lifetime_s > 0:
        found.append(
            Deadline(record.created_at + limits.max_lifetime_s, MAX_LIFETIME, limits.max_lifetime_s)
        )
    if limits.idle_timeout_s > 0 and not _is_transient(record):
        active_at = max(record.updated_at, pending_wakeup(record.sessionid))
        found.append(
            Deadline(active_at + limits.idle_timeout_s, IDLE_TIMEOUT, limits.idle_timeout_s)
        )
    return min(found, key=lambda d: d.at) if found else None


def _is_transient(record: SessionRecord) -> bool:
    if len(record.snapshot) > _MARKER_MAX_BYTES:
        return False
    try:
        return isinstance(decode_snapshot(record.snapshot), Transient)
    except ValueError:
        return False
