"""The facade the API, the CLI and the scheduler call to work with sessions.

No call here runs a session: each one writes what was asked durably to the store (a
document, a pending start, a mailbox entry, a schedule item) and wakes a worker through the
broker. The workers (``workers.host``) do the running. See docs/workers.md.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from celery import Celery

from engine.effects import StartChild
from engine.events import Event
from orchestrion.bounded import BoundedMap
from orchestrion.config import Config
from orchestrion.errors import (
    BrokerUnavailable,
    InvalidRequest,
    OrchestrionError,
    SessionNotFound,
    VersionConflict,
)
from persistence.contract import ScheduleItem, SessionRecord, Store
from workers.celery_app import QUERY_TASK, SHARED_QUEUE, WAKE_TASK, create_app, node_queue
from workers.codec import (
    MailboxItem,
    PendingStart,
    TerminateRequest,
    Transient,
    client_event_id,
    decode_snapshot,
    encode_item,
    encode_pending,
)
from workers.documents import DocumentCache, Loader
from workers.node import node_id
from workers.wakeups import Waker

log = logging.getLogger(__name__)

ROUTE_TTL_S = 2.0
"""How long a session's route (and existence) is trusted without reading its record."""

ROUTE_CACHE_SIZE = 100_000

LIVE_QUERY_TIMEOUT_S = 3.0
"""How long a query of a non-persisted session waits for its worker's answer."""
LIVE_QUERY_POLL_S = 0.02

NODES_TTL_S = 1.0
"""How long the list of node heartbeats is trusted when routing by owner."""


@dataclass(frozen=True)
class Route:
    """Where a session's wake-ups go, trusted until ``until`` (monotonic clock)."""

    queue: str
    until: float
    persisted: bool


def default_loader(config: Config) -> Loader:
    """The fetcher restricted to ``[api] allowed-locations``."""
    from orchestrion.fetching import Fetcher

    return Fetcher(config.api.allowed_locations, max_bytes=config.scxml.max_document_bytes)


class Orchestrator:
    """Start, signal, query and terminate sessions; load documents; wake sessions.

    ``Orchestrator(config, store)`` publishes wake-ups on the broker named by the config.
    Every method may raise ``StoreUnavailable``; publishing failures are not raised
    (the store's ``mailbox:`` items get the work done later, see ``workers.wakeups``).
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        app: Celery | None = None,
        loader: Loader | None = None,
    ) -> None:
        self.config = config
        self._store = store
        self.node = node_id(config)
        self.app = app or create_app(config)
        self.documents = DocumentCache(
            config, store, loader if loader is not None else default_loader(config)
        )
        self.waker = Waker(store, self._publish, grace_s=config.worker.lease_ttl)
        self._routes: BoundedMap[str, Route] = BoundedMap(ROUTE_CACHE_SIZE)
        self._nodes_lock = threading.Lock()
        self._heartbeats: dict[str, float] = {}
        self._nodes_read_at = 0.0
        # Routing to a dead owner only delays (the safety net recovers): be quick to give up.
        self._affinity_s = min(
            2 * config.worker.heartbeat_interval + 1.0, config.scheduler.dead_node_after
        )

    @classmethod
    def from_config(cls, config: Config) -> Orchestrator:
        from persistence import open_store

        return cls(config, open_store(config))

    @property
    def store(self) -> Store:
        return self._store

    def close(self) -> None:
        """Send queued wake-ups and release the broker connections (not the store)."""
        self.waker.close()
        self.app.close()

    # -- documents --------------------------------------------------------------------------
    def load_document(self, source: str | None = None, src: str | None = None) -> Any:
        """Validate a document (text, or fetched from an allowed ``src``) and store it.

        Returns the compiled ``engine.Document`` (``content_hash``, ``name``, ``persist``).
        Raises ``DocumentError`` (invalid), ``DocumentFetchError`` (``src`` not allowed or
        unreachable) or ``InvalidRequest`` (not exactly one of ``source`` and ``src``).
        """
        if (source is None) == (src is None):
            raise InvalidRequest("give exactly one of a document's source and its src")
        if src is not None:
            loader = self.documents.loader
            if loader is None:
                raise InvalidRequest("no document locations are allowed on this server")
            return self.documents.compile(loader(src), src)
        assert source is not None
        return self.documents.compile(source)

    # -- sessions ---------------------------------------------------------------------------
    def start_session(
        self,
        *,
        source: str | None = None,
        src: str | None = None,
        data: dict[str, Any] | None = None,
        at: float | None = None,
        sessionid: str | None = None,
    ) -> str:
        """Start a session of a document now, or at epoch ``at`` (a ``start:`` schedule item).

        Returns the session id (``sessionid`` if given, else a new one, prefixed with the
        node id when ``[orchestration] sessionid-with-nodeid``). The start is durable when
        this returns; a worker runs the initial macrostep shortly after.
        """
        doc = self.load_document(source=source, src=src)
        sessionid = sessionid or self.new_sessionid()
        if at is not None and at > time.time():
            self._store.put_schedule(
                ScheduleItem(
                    f"start:{sessionid}",
                    at,
                    "start",
                    {"sessionid": sessionid, "document_hash": doc.content_hash, "data": data},
                )
            )
            return sessionid
        return self.start_now(
            sessionid=sessionid, document_hash=doc.content_hash, data=data, location=src
        )

    def start_now(
        self,
        *,
        sessionid: str,
        document_hash: str | None = None,
        src: str | None = None,
        data: dict[str, Any] | None = None,
        idealtime: float | None = None,
        parent: str | None = None,
        invokeid: str | None = None,
        location: str | None = None,
    ) -> str:
        """Start session ``sessionid`` of a stored document (by hash) or of ``src``, now.

        Idempotent (the scheduler fires a start again when its claim expired): a session id
        that exists or already ended is left alone. ``idealtime`` (when the start was due)
        is accepted for the scheduler's sake and not used. ``parent``/``invokeid`` make the
        session an invoked child.
        """
        del idealtime
        if self._store.read_session(sessionid) or self._store.read_finished(sessionid):
            return sessionid
        if document_hash is None:
            if src is None:
                raise InvalidRequest("start needs a document hash or a src")
            document_hash = self.load_document(src=src).content_hash
            location = location or src
        doc = self.documents.get(document_hash, location)
        persist = self.config.scxml.persistence_default if doc.persist is None else doc.persist
        start = PendingStart(
            data=dict(data or {}),
            parent=parent,
            invokeid=invokeid,
            location=location,
            persist=bool(persist),
        )
        now = time.time()
        record = SessionRecord(sessionid, document_hash, encode_pending(start), 1, 0, (), now, now)
        try:
            self._store.write_session(record)
        except VersionConflict:
            return sessionid  # started by a concurrent call
        self.waker.wake(sessionid, SHARED_QUEUE)
        return sessionid

    def start_child(self, effect: StartChild) -> None:
        """Start an ``<invoke>``d child (``DocumentError`` if its document is invalid)."""
        doc = self.documents.compile(effect.source, effect.location)
        self.start_now(
            sessionid=effect.sessionid,
            document_hash=doc.content_hash,
            data=effect.data,
            parent=effect.parent_sessionid,
            invokeid=effect.invokeid,
            location=effect.location,
        )

    def send_event(
        self, sessionid: str, name: str, data: Any = None, *, event_id: str | None = None
    ) -> str:
        """Accept an external event for the session; returns its event id.

        When this returns, the event is durably in the session's mailbox: it is applied
        once, after every event accepted before it. Sending the same ``event_id`` again is
        a no-op. Raises ``SessionNotFound`` for an unknown or ended session.
        """
        if not name:
            raise InvalidRequest("an event needs a name", where="name")
        return self.accept_event(sessionid, Event(name, data=data), key=event_id)

    def accept_event(self, sessionid: str, event: Event, *, key: str | None = None) -> str:
        """Accept an external event as an I/O processor built it; returns its event id.

        ``key`` is the sender's idempotency key (the event id then): the same key again is
        a no-op. Without one the event gets a fresh id.
        """
        if key is not None:
            self.post(sessionid, event, event_id=client_event_id(key))
            return key
        event_id = uuid.uuid4().hex
        self.post(sessionid, event, event_id=event_id, fresh_id=True)
        return event_id

    def post(
        self, sessionid: str, item: MailboxItem, *, event_id: str, fresh_id: bool = False
    ) -> None:
        """Accept a mailbox item (event or terminate request) and make sure a worker wakes.

        ``fresh_id``: ``event_id`` is a new uuid, so the store need not look it up."""
        queue = self._route(sessionid)
        self.waker.accept(sessionid, [(event_id, encode_item(item))], queue, fresh_ids=fresh_id)

    def terminate(
        self, sessionid: str, *, at: float | None = None, reason: str = "terminated"
    ) -> None:
        """End the session (exit every state, cancel children), ordered after accepted events.

        With ``at`` in the future, a ``terminate:`` schedule item does it then. Repeated
        calls are harmless. Raises ``SessionNotFound`` for an unknown or ended session.
        """
        if at is not None and at > time.time():
            self._route(sessionid)
            self._store.put_schedule(
                ScheduleItem(
                    f"terminate:{sessionid}",
                    at,
                    "terminate",
                    {"sessionid": sessionid, "reason": reason},
                )
            )
            return
        self.post(sessionid, TerminateRequest(reason), event_id=f"terminate:{reason}")

    def wake(self, sessionid: str) -> bool:
        """Have a worker look at the session now: due delayed sends, pending events, takeover.

        The scheduler calls it for due ``wakeup``-kind items and for the sessions of a dead
        node (after their leases expired). False, and a no-op, for an unknown session.
        """
        return self._wake(sessionid, self._store.read_session(sessionid))

    def _wake(self, sessionid: str, record: SessionRecord | None) -> bool:
        try:
            queue = self._route_record(sessionid, record)
        except SessionNotFound:
            return False
        self.waker.wake(sessionid, queue)
        return True

    def wake_if_pending(self, sessionid: str) -> bool:
        """Wake the session if a worker still has to run its start or apply accepted events.

        The beat calls it when a ``mailbox:`` safety-net item fires; the stored
        ``applied_seq`` tells what is applied (a non-persisted session's worker trims its
        mailbox as it goes, so what is left there is pending).
        """
        record = self._store.read_session(sessionid)
        if record is None:
            return False
        pending = isinstance(decode_snapshot(record.snapshot), PendingStart)
        if not pending and not self._store.read_mailbox(sessionid, record.applied_seq, 1):
            return False
        self._wake(sessionid, record)
        return True

    def node_alive(self, node: str, within_s: float | None = None) -> bool:
        """Whether ``node`` heart-beat within ``within_s`` (default ``[scheduler]
        dead-node-after``); the heartbeats are read at most once a second."""
        now = time.time()
        with self._nodes_lock:
            fresh = now - self._nodes_read_at < NODES_TTL_S
            heartbeats = self._heartbeats
        if not fresh:
            heartbeats = {info.node: info.heartbeat_at for info in self._store.nodes()}
            with self._nodes_lock:
                self._heartbeats, self._nodes_read_at = heartbeats, now
        at = heartbeats.get(node)
        limit = self.config.scheduler.dead_node_after if within_s is None else within_s
        return at is not None and self._store.alarm.silent_for(at, now) <= limit

    def query(self, sessionid: str) -> dict[str, Any]:
        """The session's state: status, configuration and data model (``SessionNotFound``).

        A running persisted session answers from its last stored snapshot (events accepted
        and not yet applied are not in it). A non-persisted session's state is only in its
        worker's memory: that worker answers, between two drains, and the answer also names
        the node; if it cannot answer in time (or there is no result backend) the answer
        names the node only.
        """
        record = self._store.read_session(sessionid)
        if record is None:
            finished = self._store.read_finished(sessionid)
            if finished is None:
                raise SessionNotFound(f"no session {sessionid}")
            return {
                "sessionid": sessionid,
                "status": "finished",
                "final_state": finished.final_state,
                "reason": finished.reason,
                "ended_at": finished.ended_at,
            }
        state = decode_snapshot(record.snapshot)
        base = {"sessionid": sessionid, "version": record.version}
        if isinstance(state, PendingStart):
            return {**base, "status": "starting", "configuration": [], "datamodel": {}}
        if isinstance(state, Transient):
            live = self._query_live(sessionid, state.node)
            node = {"persisted": False, "node": state.node}
            return {**base, "status": "running", **node, **(live or {})}
        from engine import Session

        session = Session.restore(self.documents.get(record.document_hash), state)
        try:
            return {**base, "status": "running", **session.query()}
        finally:
            session.close()

    def _query_live(self, sessionid: str, node: str) -> dict[str, Any] | None:
        """Ask ``node`` for the live state of a non-persisted session it holds."""
        if not self.app.conf.result_backend or not self.node_alive(node):
            return None
        backend = self.app.backend
        # Not Celery's result waiting (AsyncResult.get): its Redis subscription is not
        # thread-safe. The worker stores the answer; this thread polls for it.
        answer_by = time.time() + LIVE_QUERY_TIMEOUT_S
        sent = self.app.send_task(
            QUERY_TASK, args=[sessionid, answer_by], queue=node_queue(node), ignore_result=True
        )
        try:
            while time.time() < answer_by:
                try:
                    meta = backend.get_task_meta(sent.id, cache=False)
                except Exception:  # an answer being written, or the backend is down
                    meta = {}
                if meta.get("status") == "SUCCESS":
                    live: dict[str, Any] | None = meta.get("result")
                    return live
                time.sleep(LIVE_QUERY_POLL_S)
            log.warning("node %s did not answer a query of %s in time", node, sessionid)
            return None
        finally:
            try:
                backend.forget(sent.id)
            except Exception:  # never answered
                log.debug("could not forget the query answer for %s", sessionid)

    def health(self) -> dict[str, Any]:
        """Store and broker alarms: ``{"ok": bool, "store": {...}, "broker": {...}}``."""
        store = _probe(self._store.ping)
        broker = _probe(self._ping_broker)
        return {"ok": store["ok"] and broker["ok"], "store": store, "broker": broker}

    # -- helpers ----------------------------------------------------------------------------
    def new_sessionid(self) -> str:
        unique = uuid.uuid4().hex
        if self.config.orchestration.sessionid_with_nodeid:
            return f"{self.node}-{unique}"
        return unique

    def route_of(self, sessionid: str) -> str:
        """The queue that wakes the session (the shared one, or its owner's node queue)."""
        try:
            return self._route(sessionid, fresh=True)
        except SessionNotFound:
            return SHARED_QUEUE

    def _route(self, sessionid: str, *, fresh: bool = False) -> str:
        """The queue that wakes the session; ``SessionNotFound`` if it does not exist."""
        if not fresh:
            cached = self._routes.get(sessionid)
            if cached is not None and cached.until > time.monotonic():
                return cached.queue
            if cached is not None and cached.persisted:
                # A running persisted session stays one until it ends, and its end drops
                # its owner: while it has one, the owner is all there is to read.
                owner = self._store.owner_of(sessionid)
                if owner is not None:
                    return self._remember(sessionid, self._affinity_queue(owner), persisted=True)
        return self._route_record(sessionid, self._store.read_session(sessionid))

    def _route_record(self, sessionid: str, record: SessionRecord | None) -> str:
        """The queue that wakes the session whose stored record is ``record``."""
        if record is None:
            self._routes.pop(sessionid)
            raise SessionNotFound(f"no session {sessionid}")
        state = decode_snapshot(record.snapshot)
        if isinstance(state, PendingStart):  # not remembered: it may still become transient
            return SHARED_QUEUE
        if isinstance(state, Transient):
            if not self.node_alive(state.node):
                return SHARED_QUEUE  # its node died: any worker declares the session lost
            return self._remember(sessionid, node_queue(state.node), persisted=False)
        # Affinity: the owner has the session in its cache (no restore on this event).
        owner = self._store.owner_of(sessionid)
        queue = SHARED_QUEUE if owner is None else self._affinity_queue(owner)
        return self._remember(sessionid, queue, persisted=True)

    def _affinity_queue(self, owner: str) -> str:
        """The owner's queue while it is alive, else the shared one."""
        if not self.node_alive(owner, within_s=self._affinity_s):
            return SHARED_QUEUE
        return node_queue(owner)

    def _remember(self, sessionid: str, queue: str, *, persisted: bool) -> str:
        self._routes.put(sessionid, Route(queue, time.monotonic() + ROUTE_TTL_S, persisted))
        return queue

    def _publish(self, queue: str, sessionids: list[str], delay_s: float = 0.0) -> None:
        with self.app.producer_or_acquire() as producer:
            self.app.send_task(
                WAKE_TASK,
                args=[sessionids],
                queue=queue,
                producer=producer,
                countdown=delay_s or None,
                # No result to wait for: no subscription to the result backend per message.
                ignore_result=True,
            )

    def _ping_broker(self) -> None:
        try:
            with self.app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
        except Exception as exc:
            raise BrokerUnavailable(f"broker unreachable: {exc}") from exc


def _probe(check: Any) -> dict[str, Any]:
    try:
        check()
    except OrchestrionError as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True}
