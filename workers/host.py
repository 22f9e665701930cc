"""The session host: runs one session's pending work on this worker, safely.

One drain of a session: hold the lease (its fence guards every write; a lease is kept by
the node between drains and renewed at half its life, so a busy session costs no lease
round trips) → read the record → carry out a leftover outbox → get the live session (cache,
validated by version; else restore) → read the mailbox after ``applied_seq`` → run the
engine once over the whole batch → store the snapshot, the new ``applied_seq`` and the
outbox in one fenced write → dispatch the outbox → trim → repeat while the mailbox is not
empty. Threads of one node never drain one session at once: a wake-up that arrives during
a drain makes that drain look once more instead. See docs/workers.md for why each step is
where it is.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from engine import Session, child_ended
from engine.datamodel import create as create_datamodel
from engine.datamodel.base import DataModel
from engine.effects import Effect
from engine.ioprocessor import BASICHTTP_TYPE
from orchestrion.config import Config, ScxmlConfig
from orchestrion.errors import (
    DocumentError,
    LeaseLost,
    MacrostepLimitError,
    SnapshotError,
    VersionConflict,
)
from persistence.contract import FinishedSession, Lease, MailboxEntry, SessionRecord, Store
from workers.cache import LiveSession, SessionCache
from workers.codec import (
    CANCELLED_BY_PARENT,
    PendingStart,
    TerminateRequest,
    Transient,
    decode_item,
    decode_snapshot,
    encode_effect,
    encode_transient,
    invoked_by,
)
from workers.documents import DocumentCache
from workers.held_leases import HeldLeases
from workers.outbox import Outbox
from workers.wakeups import Waker, mailbox_item_id, wakeup_item_id

log = logging.getLogger(__name__)

UNKNOWN_WAKEUP = -1.0
"""``next_wakeup`` of a session restored from the store: the wake-up item must be rewritten."""

NodeAlive = Callable[[str], bool]
RouteOf = Callable[[str], str]


def limited_datamodels(scxml: ScxmlConfig) -> Callable[[str], DataModel]:
    """Data models bounded by ``[scxml] script-time-limit-ms`` and ``script-memory-limit-mb``:
    scripts come from untrusted documents."""
    return partial(
        create_datamodel,
        time_limit_s=scxml.script_time_limit_ms / 1000,
        memory_limit_bytes=scxml.script_memory_limit_mb * 1024 * 1024,
    )


class SessionMovedOnError(Exception):
    """The session was taken over (lease lost) or written by someone else (``stale``)."""

    def __init__(self, sessionid: str, *, stale: bool) -> None:
        super().__init__(sessionid)
        self.stale = stale


STALE = object()
"""A drain outcome: the cached copy was older than the store; drain again from the store."""

BUSY_RETRY_S = 0.1
"""Delay of the wake-up re-sent when the lease was busy."""

QUERY_WAIT_S = 0.005
"""How often a live query looks whether the session's drain has ended."""

APPLIED_KEY = "orchestrion.applied_seq"


@dataclass
class Batch:
    """What one engine run over a batch of mailbox entries produced."""

    effects: list[Effect] = field(default_factory=list)
    status: str = "running"
    final_state: str | None = None
    next_wakeup: float | None = None
    end_reason: str | None = None

    def add(self, result: Any) -> None:
        self.effects.extend(result.effects)
        self.status = result.status
        self.final_state = result.final_state
        self.next_wakeup = result.next_wakeup


class SessionHost:
    """Drains sessions on this node; one instance per worker process, shared by its threads."""

    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        node: str,
        documents: DocumentCache,
        cache: SessionCache,
        outbox: Outbox,
        waker: Waker,
        node_alive: NodeAlive,
        route_of: RouteOf,
    ) -> None:
        self._config = config
        self._store = store
        self._node = node
        self._documents = documents
        self._cache = cache
        self._outbox = outbox
        self._waker = waker
        self._node_alive = node_alive
        self._route_of = route_of
        self._lease_ttl = config.worker.lease_ttl
        self._batch_size = config.worker.batch_size
        # Non-persisted sessions live here only: never evicted, lost with the process.
        self._transient: dict[str, LiveSession] = {}
        self._transient_lock = threading.Lock()
        # Leases this node holds (kept between drains, renewed at half their life).
        self._leases = HeldLeases()
        # Sessions being drained here -> whether another wake-up came meanwhile.
        self._draining: dict[str, bool] = {}
        self._draining_lock = threading.Lock()
        # drains, busy, batches, events, restores, starts: reported in the heartbeat.
        self.stats: Counter[str] = Counter()

    @property
    def transient_count(self) -> int:
        return len(self._transient)

    def drain(self, sessionid: str) -> None:
        """Apply every event accepted for the session so far (and due delayed sends)."""
        with self._draining_lock:
            if sessionid in self._draining:
                self._draining[sessionid] = True  # the running drain looks once more
                return
            self._draining[sessionid] = False
        self._drain_claimed(sessionid)

    def query_transient(self, sessionid: str, wait_until: float) -> dict[str, Any] | None:
        """The live configuration and data model of a non-persisted session held here, read
        between two drains, never during one. None if this node does not hold it, or if its
        drains went on until ``wait_until`` (epoch s): a query must not hold a worker thread
        longer than its asker waits."""
        while True:
            with self._draining_lock:
                if sessionid not in self._draining:
                    self._draining[sessionid] = False
                    break
            if time.time() >= wait_until:
                return None
            time.sleep(QUERY_WAIT_S)
        try:
            with self._transient_lock:
                live = self._transient.get(sessionid)
            return None if live is None else live.session.query()
        finally:
            if not self._release_unless_woken(sessionid):
                self._drain_claimed(sessionid)  # a wake-up came meanwhile and left it to us

    def _drain_claimed(self, sessionid: str) -> None:
        """Drain while this thread holds the session's claim in ``_draining``, until no
        wake-up came during the last round; the claim is given up either way."""
        released = False
        try:
            while not released:
                trust_cache = True
                while self._drain_once(sessionid, trust_cache) is STALE:
                    trust_cache = False  # a stale cached copy costs one round from the store
                released = self._release_unless_woken(sessionid)
        finally:
            if not released:
                with self._draining_lock:
                    del self._draining[sessionid]

    def _release_unless_woken(self, sessionid: str) -> bool:
        """Give up the claim, in the same step as seeing that no wake-up came while it was
        held (a wake-up between the two would be left to a drain that already ended).
        False: one came; the claim is kept, to look once more."""
        with self._draining_lock:
            if self._draining[sessionid]:
                self._draining[sessionid] = False
                return False
            del self._draining[sessionid]
            return True

    def close(self) -> None:
        """Give up the leases this node holds, so that other nodes need not wait them out."""
        for lease in self._leases.take_all():
            try:
                self._store.release_lease(lease)
            except Exception:  # they expire anyway
                log.warning("could not release the lease of %s", lease.sessionid)

    # -- one lease --------------------------------------------------------------------------
    def _lease(self, sessionid: str, now: float) -> Lease | None:
        """This node's lease on the session: the one held, or a new grant (None: busy)."""
        held = self._leases.get(sessionid)
        if held is not None and held.expires_at - now > self._lease_ttl / 2:
            return held
        lease = self._store.acquire_lease(sessionid, self._node, self._lease_ttl, now)
        if lease is None:
            self._leases.forget(sessionid)
        else:
            self._leases.put(lease, now)
        return lease

    def _drain_once(self, sessionid: str, trust_cache: bool) -> object:
        """Drain under one lease; ``STALE`` when the cached copy turned out to be old."""
        now = time.time()
        lease = self._lease(sessionid, now)
        if lease is None:
            # Another node holds it; it may have read the mailbox before this wake-up's
            # events: hand the wake-up to the owner's queue, shortly.
            self.stats["busy"] += 1
            self._waker.send_later(sessionid, self._route_of(sessionid), BUSY_RETRY_S)
            return None
        self.stats["drains"] += 1
        try:
            return self._run_batches(sessionid, lease, trust_cache)
        except SessionMovedOnError as exc:
            self._cache.drop(sessionid)
            if not exc.stale:
                self._leases.forget(sessionid)
            return STALE if exc.stale else None
        except (MacrostepLimitError, SnapshotError, DocumentError) as exc:
            # Running it again cannot help (an endless loop, a corrupt snapshot, a lost
            # document): end it, so that its mailbox stops being retried forever.
            log.error("session %s cannot run and is ended: %s", sessionid, exc)
            self._end_abnormally(sessionid, "failed", self._store.read_session(sessionid))
            return None
        except BaseException:
            # Whatever failed (the store, this thread), the next drain starts afresh.
            self._leases.forget(sessionid)
            with contextlib.suppress(Exception):
                self._store.release_lease(lease)
            raise

    def _live(
        self, sessionid: str, lease: Lease, trust_cache: bool
    ) -> tuple[LiveSession, Batch | None] | None:
        """The session to run: this worker's copy when it has one, else from the store.

        A cached copy is used without reading the record: the fenced write of its batch
        fails with a version conflict if anyone else wrote the session since (``STALE``).
        """
        with self._transient_lock:
            transient = self._transient.get(sessionid)
        if transient is not None:
            return transient, None
        if trust_cache:
            cached = self._cache.take(sessionid)
            if cached is not None:
                return cached, None
        record = self._store.read_session(sessionid)
        if record is None:  # ended: nothing is left to wake it for
            self._store.remove_schedule(mailbox_item_id(sessionid))
            self._clear_after_end(sessionid)
            return None
        if record.outbox:  # a runner died between its write and its dispatch
            self._outbox.dispatch(sessionid, record.version, record.outbox)
            self._store.clear_outbox(sessionid, record.version)
        return self._load(record, lease)

    def _run_batches(self, sessionid: str, lease: Lease, trust_cache: bool) -> object:
        """Apply batches; ``STALE``, or None (done, ended or handed on)."""
        loaded = self._live(sessionid, lease, trust_cache)
        if loaded is None:
            return None
        live, first = loaded
        # Leave a quarter of the lease for the last batch's write.
        deadline = lease.expires_at - self._lease_ttl / 4
        while True:
            now = time.time()
            entries = self._store.read_mailbox(sessionid, live.applied_seq, self._batch_size)
            due = live.next_wakeup is not None and (
                live.next_wakeup == UNKNOWN_WAKEUP or live.next_wakeup <= now
            )
            if not entries and first is None and not due:
                break
            batch = first or Batch(next_wakeup=live.next_wakeup)
            first = None
            self._apply(live, entries, batch, now)
            self.stats["batches"] += 1
            self.stats["events"] += len(entries)
            if not self._store_batch(live, entries, batch, lease, now):
                return None  # ended
            if len(entries) < self._batch_size:
                break
            if time.time() > deadline:  # hand the rest to a new wake-up, under a new lease
                self._keep(sessionid, live)
                self._waker.wake(sessionid, self._route_of(sessionid))
                return None
        self._keep(sessionid, live)
        return None

    # -- loading ----------------------------------------------------------------------------
    def _load(self, record: SessionRecord, lease: Lease) -> tuple[LiveSession, Batch | None] | None:
        sessionid = record.sessionid
        marker = decode_snapshot(record.snapshot)
        if isinstance(marker, PendingStart):
            return self._start(record, marker, lease)
        if isinstance(marker, Transient):
            with self._transient_lock:
                live = self._transient.get(sessionid)
            if live is not None and marker.node == self._node:
                return live, None
            self._transient_elsewhere(record, marker)
            return None
        doc = self._documents.get(record.document_hash)
        session = Session.restore(
            doc,
            marker,
            loader=self._documents.loader,
            datamodel_factory=limited_datamodels(self._config.scxml),
        )
        live = LiveSession(
            session,
            record.document_hash,
            record.version,
            record.applied_seq,
            persist=True,
            next_wakeup=UNKNOWN_WAKEUP,
            created_at=record.created_at,
        )
        self._store.set_owner(sessionid, self._node)
        self.stats["restores"] += 1
        return live, None

    def _start(
        self, record: SessionRecord, start: PendingStart, lease: Lease
    ) -> tuple[LiveSession, Batch]:
        sessionid = record.sessionid
        doc = self._documents.get(record.document_hash, start.location)
        session = Session.create(
            doc,
            sessionid=sessionid,
            data=start.data,
            parent=start.parent,
            invokeid=start.invokeid,
            loader=self._documents.loader,
            ioprocessors=self._ioprocessors(sessionid),
            datamodel_factory=limited_datamodels(self._config.scxml),
        )
        now = time.time()
        batch = Batch()
        batch.add(session.start(now))
        self.stats["starts"] += 1
        self._store.set_owner(sessionid, self._node)
        live = LiveSession(
            session,
            record.document_hash,
            record.version,
            record.applied_seq,
            persist=start.persist,
            next_wakeup=None,
            created_at=record.created_at,
        )
        if not start.persist:
            marked = SessionRecord(
                sessionid,
                record.document_hash,
                encode_transient(Transient(self._node, start.parent, start.invokeid)),
                record.version + 1,
                record.applied_seq,
                (),
                record.created_at,
                now,
            )
            self._write(marked, lease)
            live.version = marked.version
            with self._transient_lock:
                self._transient[sessionid] = live
        return live, batch

    def _ioprocessors(self, sessionid: str) -> dict[str, Any]:
        """The Basic HTTP Event I/O Processor's access URI, when the API's URL is known.

        The path is the one ``api.ioprocessor`` serves (``/scxml/session/<id>/basichttp``).
        """
        public_url = self._config.api.public_url.rstrip("/")
        if not public_url:
            return {}
        location = f"{public_url}/scxml/session/{sessionid}/basichttp"
        return {BASICHTTP_TYPE: {"location": location}}

    def _transient_elsewhere(self, record: SessionRecord, marker: Transient) -> None:
        """A non-persisted session held by ``marker.node``: hand on the wake-up, or end it."""
        if marker.node != self._node and self._node_alive(marker.node):
            self._waker.send(record.sessionid, self._route_of(record.sessionid))
            return
        # Its worker died (or restarted): the state was never stored, as with ORS.
        log.warning("non-persisted session %s was lost with node %s", record.sessionid, marker.node)
        self._end_abnormally(record.sessionid, "lost", record)

    # -- running ----------------------------------------------------------------------------
    def _apply(
        self, live: LiveSession, entries: list[MailboxEntry], batch: Batch, now: float
    ) -> None:
        session = live.session
        queued = False
        for entry in entries:
            item = decode_item(entry.payload)
            if isinstance(item, TerminateRequest):
                if queued:
                    batch.add(session.run(now))
                told = None if item.reason == CANCELLED_BY_PARENT else item.reason
                batch.add(session.terminate(now, told))
                batch.status = "final"
                batch.end_reason = item.reason
                break
            session.enqueue(item)
            queued = True
        else:
            batch.add(session.run(now))
        if entries:
            live.applied_seq = entries[-1].seq

    def _store_batch(
        self, live: LiveSession, entries: list[MailboxEntry], batch: Batch, lease: Lease, now: float
    ) -> bool:
        """Store (if persisted), dispatch, trim, reschedule; False once the session ended."""
        sessionid = live.session.sessionid
        outbox = tuple(encode_effect(effect) for effect in batch.effects)
        version = live.version + 1
        if live.persist:
            # applied_seq inside the text too: two writes of one version never look equal
            # (the store accepts an equal rewrite as a retry) unless they applied the same.
            snapshot = {**live.session.snapshot(), APPLIED_KEY: live.applied_seq}
            record = SessionRecord(
                sessionid,
                live.document_hash,
                json.dumps(snapshot),
                version,
                live.applied_seq,
                outbox,
                live.created_at,
                now,
            )
            self._write(record, lease)
        live.version = version
        self._outbox.dispatch(sessionid, version, outbox)
        if live.persist and outbox:
            self._store.clear_outbox(sessionid, version)
        if batch.status == "final":
            self._finish(sessionid, batch.final_state, batch.end_reason or "final")
            return False
        # Trimming only bounds the mailbox (reads start after applied_seq): do it in bulk,
        # but at once for a non-persisted session, whose stored applied_seq never moves
        # (the safety net looks after it: see Orchestrator.wake_if_pending).
        if live.applied_seq - live.trimmed_seq >= (self._batch_size if live.persist else 1):
            self._store.trim_mailbox(sessionid, live.applied_seq)
            live.trimmed_seq = live.applied_seq
        if batch.next_wakeup != live.next_wakeup:
            if batch.next_wakeup is None:
                self._store.remove_schedule(wakeup_item_id(sessionid))
            else:
                self._waker.schedule_wakeup(sessionid, batch.next_wakeup)
        live.next_wakeup = batch.next_wakeup
        return True

    def _write(self, record: SessionRecord, lease: Lease) -> None:
        try:
            self._store.write_session(record, fence=lease.fence)
        except LeaseLost as exc:
            log.info("session %s: lease lost, not writing: %s", record.sessionid, exc)
            raise SessionMovedOnError(record.sessionid, stale=False) from exc
        except VersionConflict as exc:
            log.debug("session %s: cached copy was stale: %s", record.sessionid, exc)
            raise SessionMovedOnError(record.sessionid, stale=True) from exc

    def _finish(self, sessionid: str, final_state: str | None, reason: str) -> None:
        self._store.finish_session(
            sessionid,
            FinishedSession(sessionid, final_state, time.time(), reason),
            self._config.persistence.finished_ttl,
        )
        for item_id in (wakeup_item_id(sessionid), mailbox_item_id(sessionid)):
            self._store.remove_schedule(item_id)
        self._cache.drop(sessionid)
        self._leases.forget(sessionid)
        with self._transient_lock:
            self._transient.pop(sessionid, None)

    def _end_abnormally(self, sessionid: str, reason: str, record: SessionRecord | None) -> None:
        """End a session that cannot run on. Its parent, if any, is told first (it would
        wait forever): a crash in between tells it again, under the same event id."""
        parent = invoked_by(record.snapshot) if record is not None else None
        if parent is not None:
            parent_sessionid, invokeid = parent
            told = child_ended(parent_sessionid, sessionid, invokeid, reason)
            self._outbox.carry_out(sessionid, f"{sessionid}:ended", told)
        self._finish(sessionid, None, reason)

    def _clear_after_end(self, sessionid: str) -> None:
        """Drop what came after the session ended: events the facade accepted while it
        still trusted the session's route, and the lease this drain just took."""
        finished = self._store.read_finished(sessionid)
        if finished is None:
            return
        if self._store.read_mailbox(sessionid, 0, 1):
            log.warning("session %s had ended: the events accepted after it are dropped", sessionid)
        left_s = self._config.persistence.finished_ttl - (time.time() - finished.ended_at)
        if left_s > 0:  # finishing again removes them and keeps the record as it was
            self._store.finish_session(sessionid, finished, left_s)
        self._leases.forget(sessionid)

    def _keep(self, sessionid: str, live: LiveSession) -> None:
        if live.persist:
            self._cache.put(sessionid, live)
