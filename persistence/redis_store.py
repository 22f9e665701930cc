"""The Redis store: standalone Redis or Redis Cluster.

Layout (``p`` is ``[persistence] cluster-name``, the key prefix):

- per session, all with the hash tag ``{<sessionid>}`` so that they share one Cluster slot
  and one Lua script updates them atomically: ``p:s:{id}`` (string: the record, a short
  header then the snapshot, see ``redis_scripts``),
  ``p:m:{id}`` (sorted set: event id by sequence number, the dedup index),
  ``p:q:{id}`` (hash: payload by sequence number, ``n`` last number, ``t`` trimmed up to),
  ``p:l:{id}`` (hash: lease holder ``w``, fence ``f``, expiry ``x``), ``p:f:{id}``
  (the finished record, expiring);
- documents: ``p:d:<content hash>``, one key each;
- cluster-wide indexes, all with the hash tag ``{p}`` and therefore on one slot *by
  design*: schedules (``p:{p}:sched`` sorted by when an item may next fire, ``:items``,
  ``:claims``), ownership (``:owners`` session → node, ``:owned:<node>`` node → sessions)
  and heartbeats (``:nodes``). They are small, read as a whole by the scheduler and reaper,
  and one slot lets one script claim an item or move an owner atomically.

Every compare-and-set (session write, lease, claim, mailbox append with dedup) is one Lua
script. A script retried after a lost reply is harmless: see the contract's rules.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.commands.core import Script
from redis.retry import Retry

from orchestrion.config import PersistenceConfig
from orchestrion.errors import ConfigError, LeaseLost, StoreError, StoreUnavailable, VersionConflict
from persistence.codec import (
    finished_from_json,
    finished_to_json,
    node_from_json,
    node_to_json,
    outbox_from_json,
    outbox_to_json,
    schedule_from_json,
    schedule_to_json,
)
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
from persistence.redis_scripts import (
    ACQUIRE_LEASE,
    APPEND_EVENTS,
    CLAIM_SCHEDULE,
    CLEAR_OUTBOX,
    DROP_OWNER,
    DUE_SCHEDULES,
    FINISH_SESSION,
    PUT_SCHEDULE,
    READ_MAILBOX,
    RELEASE_LEASE,
    REMOVE_NODE,
    REMOVE_SCHEDULE,
    REPLACE_SCHEDULE,
    SET_OWNER,
    TRIM_MAILBOX,
    WRITE_SESSION,
)

# Errors that mean "Redis cannot be reached or cannot serve now".
_UNAVAILABLE = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.MasterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.SlotNotCoveredError,
    redis.exceptions.RedisClusterException,
)

AnyRedis = redis.Redis | RedisCluster


def _num(value: float) -> str:
    """A float as exact text (Lua and Python read it back identically)."""
    return repr(float(value))


def pack_header(record: SessionRecord) -> str:
    """The record's first two lines (see ``redis_scripts``); the snapshot follows them."""
    return (
        f"{record.version} {record.applied_seq} {_num(record.created_at)} "
        f"{_num(record.updated_at)} {record.document_hash}\n{outbox_to_json(record.outbox)}\n"
    )


def unpack_record(sessionid: str, text: str) -> SessionRecord:
    header, outbox, snapshot = text.split("\n", 2)
    version, applied, created, updated, document_hash = header.split(" ", 4)
    return SessionRecord(
        sessionid=sessionid,
        document_hash=document_hash,
        snapshot=snapshot,
        version=int(version),
        applied_seq=int(applied),
        outbox=outbox_from_json(outbox),
        created_at=float(created),
        updated_at=float(updated),
    )


class RedisStore(Store):
    """The store on Redis; connects lazily so that a down server does not stop start-up."""

    def __init__(self, connect: Callable[[], AnyRedis], prefix: str = "orchestrion") -> None:
        if "{" in prefix or "}" in prefix:
            raise ConfigError(
                f"[persistence] cluster-name = {prefix!r}: must not contain braces"
                " (they are Redis Cluster hash tags)"
            )
        self.prefix = prefix
        self._connect = connect
        self._client: AnyRedis | None = None
        self._connect_lock = threading.Lock()
        self._scripts: dict[str, Script] = {}
        tag = f"{prefix}:{{{prefix}}}"
        self._sched, self._items, self._claims = f"{tag}:sched", f"{tag}:items", f"{tag}:claims"
        self._owners, self._owned, self._nodes = f"{tag}:owners", f"{tag}:owned:", f"{tag}:nodes"

    @classmethod
    def from_config(cls, config: PersistenceConfig) -> RedisStore:
        options: dict[str, Any] = {
            "username": config.username or None,
            "password": config.password or None,
            "ssl": config.redis_tls,
            "decode_responses": True,
            "socket_timeout": 5.0,
            "socket_connect_timeout": 2.0,
            # Few, short retries: an outage must surface quickly as StoreUnavailable.
            "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), 2),
        }
        nodes = config.redis_nodes
        if config.redis_is_cluster:

            def connect() -> AnyRedis:
                return RedisCluster(
                    startup_nodes=[ClusterNode(n.host, n.port) for n in nodes],  # type: ignore[no-untyped-call]
                    **options,
                )
        else:

            def connect() -> AnyRedis:
                return redis.Redis(
                    host=nodes[0].host, port=nodes[0].port, db=config.redis_db, **options
                )

        return cls(connect, config.cluster_name)

    @classmethod
    def from_url(cls, url: str, prefix: str = "orchestrion") -> RedisStore:
        """A standalone store from a ``redis://`` URL (tests and tools)."""
        return cls(lambda: redis.Redis.from_url(url, decode_responses=True), prefix)

    # -- plumbing ---------------------------------------------------------------------------
    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"Redis store: {type(exc).__name__}: {exc}") from exc
        except redis.exceptions.RedisError as exc:
            raise StoreError(f"Redis store: {type(exc).__name__}: {exc}") from exc

    @property
    def _redis(self) -> AnyRedis:
        client = self._client
        if client is None:
            with self._connect_lock:  # threads share one client (its pool is thread-safe)
                if self._client is None:
                    self._client = self._connect()
                client = self._client
        return client

    def _run(self, lua: str, keys: list[str], args: list[Any]) -> Any:
        with self._errors():
            client = self._redis
            script = self._scripts.get(lua)
            if script is None:
                script = self._scripts[lua] = client.register_script(lua)
            return script(keys=keys, args=args, client=client)

    def _cmd(self, command: Callable[[AnyRedis], Any]) -> Any:
        with self._errors():
            return command(self._redis)

    def _session_key(self, kind: str, sessionid: str) -> str:
        return f"{self.prefix}:{kind}:{{{sessionid}}}"

    def ping(self) -> None:
        self._cmd(lambda r: r.ping())

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- sessions ---------------------------------------------------------------------------
    def read_session(self, sessionid: str) -> SessionRecord | None:
        text: str | None = self._cmd(lambda r: r.get(self._session_key("s", sessionid)))
        return None if text is None else unpack_record(sessionid, text)

    def write_session(self, record: SessionRecord, *, fence: int | None = None) -> None:
        sid = record.sessionid
        result = self._run(
            WRITE_SESSION,
            [self._session_key("s", sid), self._session_key("l", sid)],
            [record.version, "" if fence is None else fence, pack_header(record) + record.snapshot],
        )
        if result == "OK":
            return
        if result[0] == "L":
            raise LeaseLost(
                f"session {sid}: fence {fence} is not the current lease's ({result[1] or 'none'})"
            )
        if result[0] == "V":
            raise VersionConflict(
                f"session {sid}: writing version {record.version}, stored version is "
                f"{result[1] if result[1] != '0' else 'none'} (expected {int(result[1]) + 1})"
            )

    def clear_outbox(self, sessionid: str, version: int) -> None:
        self._run(CLEAR_OUTBOX, [self._session_key("s", sessionid)], [version])

    def finish_session(self, sessionid: str, finished: FinishedSession, ttl_s: float) -> None:
        self._run(
            FINISH_SESSION,
            [self._session_key(kind, sessionid) for kind in ("s", "m", "q", "l", "f")],
            [finished_to_json(finished), max(1, int(ttl_s * 1000))],
        )
        # The owner indexes live on the cluster-wide slot: a second script. If this process
        # dies in between, the stale entry names a session that no longer exists, which
        # takeover skips.
        self._drop_owner(sessionid)

    def read_finished(self, sessionid: str) -> FinishedSession | None:
        text = self._cmd(lambda r: r.get(self._session_key("f", sessionid)))
        return finished_from_json(sessionid, text) if text else None

    # -- mailboxes --------------------------------------------------------------------------
    def append_events(
        self, sessionid: str, events: list[tuple[str, str]], *, fresh_ids: bool = False
    ) -> list[int]:
        if not events:
            return []
        args = [part for pair in events for part in pair]
        keys = [self._session_key("m", sessionid), self._session_key("q", sessionid)]
        return [int(seq) for seq in self._run(APPEND_EVENTS, keys, args)]

    def read_mailbox(self, sessionid: str, after_seq: int, limit: int = 1000) -> list[MailboxEntry]:
        keys = [self._session_key("m", sessionid), self._session_key("q", sessionid)]
        flat = self._run(READ_MAILBOX, keys, [after_seq, limit])
        return [
            MailboxEntry(int(flat[i]), flat[i + 1], flat[i + 2]) for i in range(0, len(flat), 3)
        ]

    def trim_mailbox(self, sessionid: str, upto_seq: int) -> None:
        keys = [self._session_key("m", sessionid), self._session_key("q", sessionid)]
        self._run(TRIM_MAILBOX, keys, [upto_seq, MAILBOX_DEDUP_WINDOW])

    # -- leases -----------------------------------------------------------------------------
    def acquire_lease(self, sessionid: str, owner: str, ttl_s: float, now: float) -> Lease | None:
        expires_at = now + ttl_s
        fence = self._run(
            ACQUIRE_LEASE, [self._session_key("l", sessionid)], [owner, _num(now), _num(expires_at)]
        )
        return None if fence is None else Lease(sessionid, owner, int(fence), expires_at)

    def release_lease(self, lease: Lease) -> None:
        self._run(
            RELEASE_LEASE, [self._session_key("l", lease.sessionid)], [lease.owner, lease.fence]
        )

    # -- documents --------------------------------------------------------------------------
    def put_document(self, content_hash: str, source: str) -> None:
        self._cmd(lambda r: r.set(f"{self.prefix}:d:{content_hash}", source, nx=True))

    def get_document(self, content_hash: str) -> str | None:
        text: str | None = self._cmd(lambda r: r.get(f"{self.prefix}:d:{content_hash}"))
        return text

    # -- schedules --------------------------------------------------------------------------
    def _schedule_keys(self) -> list[str]:
        return [self._sched, self._items, self._claims]

    def put_schedule(self, item: ScheduleItem) -> None:
        self._run(
            PUT_SCHEDULE,
            self._schedule_keys(),
            [item.item_id, schedule_to_json(item), _num(item.due_at)],
        )

    def remove_schedule(self, item_id: str) -> None:
        self._run(REMOVE_SCHEDULE, self._schedule_keys(), [item_id])

    def get_schedule(self, item_id: str) -> ScheduleItem | None:
        text = self._cmd(lambda r: r.hget(self._items, item_id))
        return schedule_from_json(text) if text else None

    def due_schedules(self, until: float, now: float, limit: int = 1000) -> list[ScheduleItem]:
        texts = self._run(DUE_SCHEDULES, self._schedule_keys(), [_num(until), _num(now), limit])
        items = [schedule_from_json(text) for text in texts]
        items.sort(key=lambda item: (item.due_at, item.item_id))
        return items

    # Items are compared as the JSON text put stored: one encoder writes them all.
    def claim_schedule(self, item: ScheduleItem, claimant: str, ttl_s: float, now: float) -> bool:
        args = [item.item_id, _num(now), _num(now + ttl_s), schedule_to_json(item)]
        return bool(self._run(CLAIM_SCHEDULE, self._schedule_keys(), args))

    def replace_schedule(self, current: ScheduleItem, new: ScheduleItem | None) -> bool:
        args = [
            current.item_id,
            schedule_to_json(current),
            "" if new is None else schedule_to_json(new),
            _num(current.due_at if new is None else new.due_at),
        ]
        return bool(self._run(REPLACE_SCHEDULE, self._schedule_keys(), args))

    def list_schedules(self, kind: str | None = None, limit: int = 1000) -> list[ScheduleItem]:
        texts: dict[str, str] = self._cmd(lambda r: r.hgetall(self._items))
        items = [schedule_from_json(text) for text in texts.values()]
        items = [item for item in items if kind is None or item.kind == kind]
        items.sort(key=lambda item: (item.due_at, item.item_id))
        return items[:limit]

    # -- ownership --------------------------------------------------------------------------
    def set_owner(self, sessionid: str, node: str) -> None:
        # The script checks the previous owner read here (compare-and-set) because the
        # keys it touches must be named up front for Redis Cluster.
        while True:
            previous = self.owner_of(sessionid) or ""
            keys = [self._owners, self._owned + node, self._owned + previous]
            if self._run(SET_OWNER, keys, [sessionid, node, previous]):
                return

    def _drop_owner(self, sessionid: str) -> None:
        while True:
            previous = self.owner_of(sessionid)
            if previous is None:
                return
            keys = [self._owners, self._owned + previous]
            if self._run(DROP_OWNER, keys, [sessionid, previous]):
                return

    def owner_of(self, sessionid: str) -> str | None:
        node: str | None = self._cmd(lambda r: r.hget(self._owners, sessionid))
        return node

    def sessions_of(self, node: str) -> list[str]:
        members: set[str] = self._cmd(lambda r: r.smembers(self._owned + node))
        return sorted(members)

    def heartbeat(self, node: str, now: float, info: dict[str, Any] | None = None) -> None:
        self._cmd(lambda r: r.hset(self._nodes, node, node_to_json(now, info or {})))

    def nodes(self) -> list[NodeInfo]:
        texts: dict[str, str] = self._cmd(lambda r: r.hgetall(self._nodes))
        return sorted((node_from_json(n, t) for n, t in texts.items()), key=lambda n: n.node)

    def remove_node(self, node: str) -> None:
        self._run(REMOVE_NODE, [self._nodes, self._owners, self._owned + node], [node])
