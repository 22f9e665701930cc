"""An in-process store: the contract on dictionaries, for fast unit tests.

Everything is lost when the process exits; one lock makes each operation atomic.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from persistence.contract import (
    MAILBOX_DEDUP_WINDOW,
    FinishedSession,
    Lease,
    MailboxEntry,
    NodeInfo,
    ScheduleItem,
    SessionRecord,
    Store,
)
from persistence.rules import LeaseState, check_session_write, claim_is_free, grant_lease


@dataclass
class _Mailbox:
    last_seq: int = 0
    entries: dict[int, MailboxEntry] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)  # event id -> seq, within the window


@dataclass
class _Claim:
    claimant: str
    until: float


class MemoryStore(Store):
    """The whole store in dictionaries guarded by one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, SessionRecord] = {}
        self._finished: dict[str, tuple[FinishedSession, float]] = {}
        self._mailboxes: dict[str, _Mailbox] = {}
        self._leases: dict[str, LeaseState] = {}
        self._documents: dict[str, str] = {}
        self._schedules: dict[str, ScheduleItem] = {}
        self._claims: dict[str, _Claim] = {}
        self._owners: dict[str, str] = {}
        self._owned: dict[str, set[str]] = {}
        self._nodes: dict[str, NodeInfo] = {}

    # -- sessions ---------------------------------------------------------------------------
    def read_session(self, sessionid: str) -> SessionRecord | None:
        with self._lock:
            return self._sessions.get(sessionid)

    def write_session(self, record: SessionRecord, *, fence: int | None = None) -> None:
        with self._lock:
            stored = self._sessions.get(record.sessionid)
            if check_session_write(
                record,
                stored.version if stored else None,
                stored.snapshot if stored else None,
                self._leases.get(record.sessionid),
                fence,
            ):
                self._sessions[record.sessionid] = record

    def clear_outbox(self, sessionid: str, version: int) -> None:
        with self._lock:
            stored = self._sessions.get(sessionid)
            if stored is not None and stored.version == version:
                self._sessions[sessionid] = replace(stored, outbox=())

    def finish_session(self, sessionid: str, finished: FinishedSession, ttl_s: float) -> None:
        with self._lock:
            self._sessions.pop(sessionid, None)
            self._mailboxes.pop(sessionid, None)
            self._leases.pop(sessionid, None)
            node = self._owners.pop(sessionid, None)
            if node is not None:
                self._owned.get(node, set()).discard(sessionid)
            self._finished[sessionid] = (finished, time.time() + ttl_s)

    def read_finished(self, sessionid: str) -> FinishedSession | None:
        with self._lock:
            entry = self._finished.get(sessionid)
            if entry is None:
                return None
            if entry[1] <= time.time():
                del self._finished[sessionid]
                return None
            return entry[0]

    # -- mailboxes --------------------------------------------------------------------------
    def append_events(
        self, sessionid: str, events: list[tuple[str, str]], *, fresh_ids: bool = False
    ) -> list[int]:
        with self._lock:
            box = self._mailboxes.setdefault(sessionid, _Mailbox())
            seqs = []
            for event_id, payload in events:
                seq = box.ids.get(event_id)
                if seq is None:
                    box.last_seq += 1
                    seq = box.last_seq
                    box.ids[event_id] = seq
                    box.entries[seq] = MailboxEntry(seq, event_id, payload)
                seqs.append(seq)
            return seqs

    def read_mailbox(self, sessionid: str, after_seq: int, limit: int = 1000) -> list[MailboxEntry]:
        with self._lock:
            box = self._mailboxes.get(sessionid)
            if box is None:
                return []
            return [box.entries[seq] for seq in sorted(box.entries) if seq > after_seq][:limit]

    def trim_mailbox(self, sessionid: str, upto_seq: int) -> None:
        with self._lock:
            box = self._mailboxes.get(sessionid)
            if box is None:
                return
            for seq in [seq for seq in box.entries if seq <= upto_seq]:
                del box.entries[seq]
            forget_upto = upto_seq - MAILBOX_DEDUP_WINDOW
            box.ids = {eid: seq for eid, seq in box.ids.items() if seq > forget_upto}

    # -- leases -----------------------------------------------------------------------------
    def acquire_lease(self, sessionid: str, owner: str, ttl_s: float, now: float) -> Lease | None:
        with self._lock:
            lease = grant_lease(sessionid, self._leases.get(sessionid), owner, ttl_s, now)
            if lease is not None:
                self._leases[sessionid] = LeaseState(lease.owner, lease.fence, lease.expires_at)
            return lease

    def release_lease(self, lease: Lease) -> None:
        with self._lock:
            current = self._leases.get(lease.sessionid)
            if current is not None and (current.owner, current.fence) == (lease.owner, lease.fence):
                self._leases[lease.sessionid] = LeaseState(None, current.fence, 0.0)

    # -- documents --------------------------------------------------------------------------
    def put_document(self, content_hash: str, source: str) -> None:
        with self._lock:
            self._documents.setdefault(content_hash, source)

    def get_document(self, content_hash: str) -> str | None:
        with self._lock:
            return self._documents.get(content_hash)

    # -- schedules --------------------------------------------------------------------------
    def put_schedule(self, item: ScheduleItem) -> None:
        with self._lock:
            self._schedules[item.item_id] = item
            self._claims.pop(item.item_id, None)

    def remove_schedule(self, item_id: str) -> None:
        with self._lock:
            self._schedules.pop(item_id, None)
            self._claims.pop(item_id, None)

    def get_schedule(self, item_id: str) -> ScheduleItem | None:
        with self._lock:
            return self._schedules.get(item_id)

    def due_schedules(self, until: float, now: float, limit: int = 1000) -> list[ScheduleItem]:
        with self._lock:
            due = [
                item
                for item in self._schedules.values()
                if item.due_at <= until and self._claim_free(item.item_id, now)
            ]
        due.sort(key=lambda item: (item.due_at, item.item_id))
        return due[:limit]

    def claim_schedule(self, item: ScheduleItem, claimant: str, ttl_s: float, now: float) -> bool:
        with self._lock:
            if self._schedules.get(item.item_id) != item or not self._claim_free(item.item_id, now):
                return False
            self._claims[item.item_id] = _Claim(claimant, now + ttl_s)
            return True

    def replace_schedule(self, current: ScheduleItem, new: ScheduleItem | None) -> bool:
        with self._lock:
            if self._schedules.get(current.item_id) != current:
                return False
            self._claims.pop(current.item_id, None)
            if new is None:
                del self._schedules[current.item_id]
            else:
                self._schedules[current.item_id] = new
            return True

    def _claim_free(self, item_id: str, now: float) -> bool:
        claim = self._claims.get(item_id)
        return claim_is_free(claim.until if claim else None, now)

    def list_schedules(self, kind: str | None = None, limit: int = 1000) -> list[ScheduleItem]:
        with self._lock:
            items = [i for i in self._schedules.values() if kind is None or i.kind == kind]
        items.sort(key=lambda item: (item.due_at, item.item_id))
        return items[:limit]

    # -- ownership --------------------------------------------------------------------------
    def set_owner(self, sessionid: str, node: str) -> None:
        with self._lock:
            previous = self._owners.get(sessionid)
            if previous is not None:
                self._owned.get(previous, set()).discard(sessionid)
            self._owners[sessionid] = node
            self._owned.setdefault(node, set()).add(sessionid)

    def owner_of(self, sessionid: str) -> str | None:
        with self._lock:
            return self._owners.get(sessionid)

    def sessions_of(self, node: str) -> list[str]:
        with self._lock:
            return sorted(self._owned.get(node, ()))

    def heartbeat(self, node: str, now: float, info: dict[str, Any] | None = None) -> None:
        with self._lock:
            self._nodes[node] = NodeInfo(node, now, dict(info or {}))

    def nodes(self) -> list[NodeInfo]:
        with self._lock:
            return sorted(self._nodes.values(), key=lambda n: n.node)

    def remove_node(self, node: str) -> None:
        with self._lock:
            self._nodes.pop(node, None)
            for sessionid in self._owned.pop(node, set()):
                if self._owners.get(sessionid) == node:
                    del self._owners[sessionid]

    def ping(self) -> None:
        return None
