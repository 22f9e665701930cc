"""The store on Apache Cassandra (cassandra-driver), for clusters that outlive any node.

Tables and migrations are in ``cassandra_schema``; mailboxes and schedules in their own
modules. Lightweight transactions (Paxos) are used only where correctness needs a
compare-and-set: a session write (version and fence in one condition, the lease living in
the session's row), lease grants and releases, schedule claims, mailbox appends, and the
removal of a finished session. Everything else is a plain write at the configured
consistency. Driver errors become ``StoreUnavailable`` (see ``cassandra_cql``); the driver
reconnects by itself with exponential backoff.
"""

from __future__ import annotations

import json
import math
import time
from typing import TYPE_CHECKING, Any

from cassandra import AuthenticationFailed, ProtocolVersion
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
from cassandra.policies import (
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    TokenAwarePolicy,
)

from orchestrion.errors import ConfigError, StoreUnavailable
from persistence.cassandra_cql import Cql, Write, consistency_level, row_factory, translate_errors
from persistence.cassandra_mailbox import DROP_MAILBOX, CassandraMailbox
from persistence.cassandra_schedules import CassandraSchedules
from persistence.cassandra_schema import check_keyspace_name, ensure_schema
from persistence.codec import dumps, outbox_from_json, outbox_to_json
from persistence.contract import (
    FinishedSession,
    Lease,
    MailboxEntry,
    NodeInfo,
    ScheduleItem,
    SessionRecord,
    Store,
)
from persistence.rules import LeaseState, check_session_write, grant_lease

if TYPE_CHECKING:
    from orchestrion.config import PersistenceConfig

_CAS_ATTEMPTS = 20
_BATCH_LIMIT = 100

_READ_SESSION = (
    "SELECT document_hash, snapshot, version, applied_seq, outbox, created_at, updated_at"
    " FROM {ks}.sessions WHERE sessionid = ?"
)
_SESSION_SET = (
    "UPDATE {ks}.sessions SET document_hash = ?, snapshot = ?, version = ?, applied_seq = ?,"
    " outbox = ?, created_at = ?, updated_at = ? WHERE sessionid = ?"
)
_WRITE_SESSION = _SESSION_SET + " IF version = ?"
_WRITE_SESSION_FENCED = _SESSION_SET + " IF version = ? AND lease_fence = ? AND lease_owner != null"
_READ_SNAPSHOT = "SELECT snapshot FROM {ks}.sessions WHERE sessionid = ?"
_CLEAR_OUTBOX = "UPDATE {ks}.sessions SET outbox = null WHERE sessionid = ? IF version = ?"
_DROP_SESSION = "DELETE FROM {ks}.sessions WHERE sessionid = ? IF EXISTS"
_READ_LEASE = (
    "SELECT lease_owner, lease_fence, lease_expires FROM {ks}.sessions WHERE sessionid = ?"
)
_GRANT_LEASE = (
    "UPDATE {ks}.sessions SET lease_owner = ?, lease_fence = ?, lease_expires = ?"
    " WHERE sessionid = ? IF lease_owner = ? AND lease_fence = ? AND lease_expires = ?"
)
_RELEASE_LEASE = (
    "UPDATE {ks}.sessions SET lease_owner = null, lease_expires = 0 WHERE sessionid = ?"
    " IF lease_owner = ? AND lease_fence = ?"
)
_READ_OWNER = "SELECT owner FROM {ks}.sessions WHERE sessionid = ?"
_SET_OWNER = "UPDATE {ks}.sessions SET owner = ? WHERE sessionid = ?"
_DROP_OWNER = "DELETE owner FROM {ks}.sessions WHERE sessionid = ?"
_ADD_OWNED = "INSERT INTO {ks}.node_sessions (node, sessionid) VALUES (?, ?)"
_DROP_OWNED = "DELETE FROM {ks}.node_sessions WHERE node = ? AND sessionid = ?"
_READ_OWNED = "SELECT sessionid FROM {ks}.node_sessions WHERE node = ?"
_DROP_ALL_OWNED = "DELETE FROM {ks}.node_sessions WHERE node = ?"
_WRITE_FINISHED = (
    "INSERT INTO {ks}.finished (sessionid, final_state, ended_at, reason, expires_at)"
    " VALUES (?, ?, ?, ?, ?) USING TTL ?"
)
_READ_FINISHED = (
    "SELECT final_state, ended_at, reason, expires_at FROM {ks}.finished WHERE sessionid = ?"
)
_WRITE_DOCUMENT = "INSERT INTO {ks}.documents (content_hash, source) VALUES (?, ?) IF NOT EXISTS"
_READ_DOCUMENT = "SELECT source FROM {ks}.documents WHERE content_hash = ?"
_HEARTBEAT = "INSERT INTO {ks}.nodes (marker, node, heartbeat_at, info) VALUES (0, ?, ?, ?)"
_READ_NODES = "SELECT node, heartbeat_at, info FROM {ks}.nodes WHERE marker = 0"
_DROP_NODE = "DELETE FROM {ks}.nodes WHERE marker = 0 AND node = ?"


def _contact_points(nodes: tuple[str, ...] | list[str], port: int) -> list[Any]:
    """Hosts as given; ``host:port`` entries become (host, port) pairs for the driver."""
    points: list[Any] = []
    for node in nodes:
        host, sep, node_port = node.rpartition(":")
        points.append((host, int(node_port)) if sep and node_port.isdigit() else node)
    return points


def _connect(cluster: Cluster, where: str) -> Any:
    """A driver session; ConfigError for refused credentials, else StoreUnavailable."""
    try:
        return cluster.connect()
    except NoHostAvailable as exc:
        cluster.shutdown()
        if exc.errors and all(isinstance(e, AuthenticationFailed) for e in exc.errors.values()):
            raise ConfigError(
                f"[persistence] username/password: Cassandra at {where} refused them: {exc}"
            ) from exc
        raise StoreUnavailable(f"cassandra at {where}: {exc}") from exc
    except Exception:
        cluster.shutdown()
        raise


class CassandraStore(Store):
    """The store contract on a Cassandra keyspace (created and migrated on connect)."""

    def __init__(
        self,
        nodes: tuple[str, ...] | list[str] = ("127.0.0.1",),
        port: int = 9042,
        *,
        keyspace: str = "orchestrion",
        replication: dict[str, str | int] | None = None,
        schema_version: int = 1,
        username: str | None = None,
        password: str | None = None,
        read_consistency: str = "LOCAL_QUORUM",
        write_consistency: str = "LOCAL_QUORUM",
        serial_consistency: str = "LOCAL_SERIAL",
        reconnect_max_backoff_s: float = 30.0,
        request_timeout_s: float = 10.0,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.keyspace = check_keyspace_name(keyspace)
        for level in (read_consistency, write_consistency, serial_consistency):
            consistency_level(level)  # an unknown name fails here, not on first use
        # The store's own statements carry the configured levels (see Cql). The profile's
        # level serves only the schema bookkeeping, where a stale read merely re-runs
        # idempotent migrations: LOCAL_ONE lets a store open whatever the replication.
        profile = ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()),
            request_timeout=request_timeout_s,
            consistency_level=consistency_level("LOCAL_ONE"),
            serial_consistency_level=consistency_level(serial_consistency),
            row_factory=row_factory,
        )
        auth = PlainTextAuthProvider(username, password or "") if username else None
        self._cluster = Cluster(
            contact_points=_contact_points(nodes, port),
            port=port,
            auth_provider=auth,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            reconnection_policy=ExponentialReconnectionPolicy(
                0.2, max(0.2, reconnect_max_backoff_s), max_attempts=None
            ),
            connect_timeout=connect_timeout_s,
            control_connection_timeout=connect_timeout_s,
            idle_heartbeat_interval=10,
            # Native protocol v5 (Cassandra 4.0 and newer); no downgrade dance on connect.
            protocol_version=ProtocolVersion.V5,
        )
        session = _connect(self._cluster, f"{';'.join(nodes)} port {port}")
        try:
            with translate_errors("create or migrate the schema"):
                self.schema_version = ensure_schema(
                    session,
                    self.keyspace,
                    replication or {"class": "SimpleStrategy", "replication_factor": 1},
                    schema_version,
                )
        except BaseException:
            self._cluster.shutdown()
            raise
        self._cql = Cql(
            session,
            self.keyspace,
            read_consistency=read_consistency,
            write_consistency=write_consistency,
            serial_consistency=serial_consistency,
        )
        self._mailbox = CassandraMailbox(self._cql)
        self._schedules = CassandraSchedules(self._cql)

    @classmethod
    def from_config(cls, persistence: PersistenceConfig) -> CassandraStore:
        """The store described by the ``[persistence]`` options."""
        return cls(
            persistence.cassandra_nodes,
            persistence.cassandra_listenport,
            keyspace=persistence.cassandra_keyspace,
            replication=persistence.cassandra_replication(),
            schema_version=persistence.cassandra_schema_version,
            username=persistence.username or None,
            password=persistence.password or None,
            read_consistency=persistence.cassandra_read_consistency,
            write_consistency=persistence.cassandra_write_consistency,
            serial_consistency=persistence.cassandra_serial_consistency,
            reconnect_max_backoff_s=persistence.reconnect_max_backoff,
        )

    # -- sessions -------------------------------------------------------------------------
    def read_session(self, sessionid: str) -> SessionRecord | None:
        row = self._cql.read_one(_READ_SESSION, (sessionid,))
        if row is None or row.version is None:  # absent, or only a lease/owner so far
            return None
        return SessionRecord(
            sessionid=sessionid,
            document_hash=row.document_hash,
            snapshot=row.snapshot,
            version=row.version,
            applied_seq=row.applied_seq or 0,
            outbox=outbox_from_json(row.outbox),
            created_at=row.created_at or 0.0,
            updated_at=row.updated_at or 0.0,
        )

    def write_session(self, record: SessionRecord, *, fence: int | None = None) -> None:
        values = (
            record.document_hash,
            record.snapshot,
            record.version,
            record.applied_seq,
            outbox_to_json(record.outbox) or None,
            record.created_at,
            record.updated_at,
            record.sessionid,
        )
        expected = record.version - 1 if record.version > 1 else None
        for _ in range(_CAS_ATTEMPTS):
            if fence is None:
                applied, current = self._cql.cas(_WRITE_SESSION, (*values, expected))
            else:
                applied, current = self._cql.cas(_WRITE_SESSION_FENCED, (*values, expected, fence))
            if applied:
                return
            stored_version = getattr(current, "version", None)
            lease_fence = getattr(current, "lease_fence", None)
            lease = (
                LeaseState(getattr(current, "lease_owner", None), lease_fence, 0.0)
                if lease_fence is not None
                else None
            )
            stored_snapshot = None
            if stored_version == record.version:
                row = self._cql.read_one(_READ_SNAPSHOT, (record.sessionid,), serial=True)
                stored_snapshot = row.snapshot if row is not None else None
            # Raises LeaseLost or VersionConflict, or says the write is a harmless repeat;
            # True means the state changed between the attempt and now: try again.
            if not check_session_write(record, stored_version, stored_snapshot, lease, fence):
                return
        raise StoreUnavailable(f"cassandra: session {record.sessionid}: write lost to contention")

    def clear_outbox(self, sessionid: str, version: int) -> None:
        self._cql.cas(_CLEAR_OUTBOX, (sessionid, version))

    def finish_session(self, sessionid: str, finished: FinishedSession, ttl_s: float) -> None:
        owner = self.owner_of(sessionid)
        # Cassandra expires whole seconds: keep the row a second longer and compare the
        # exact expiry on read.
        self._cql.write(
            _WRITE_FINISHED,
            (
                sessionid,
                finished.final_state,
                finished.ended_at,
                finished.reason,
                time.time() + ttl_s,
                math.ceil(ttl_s) + 1,
            ),
        )
        # The session row was written with Paxos; deleting it with Paxos too orders the
        # delete after those writes whatever the clocks say.
        self._cql.cas(_DROP_SESSION, (sessionid,))
        writes: list[Write] = [(DROP_MAILBOX, (sessionid,))]
        if owner is not None:
            writes.append((_DROP_OWNED, (owner, sessionid)))
        self._cql.batch(writes)

    def read_finished(self, sessionid: str) -> FinishedSession | None:
        row = self._cql.read_one(_READ_FINISHED, (sessionid,))
        if row is None or (row.expires_at is not None and row.expires_at <= time.time()):
            return None
        return FinishedSession(sessionid, row.final_state, row.ended_at, row.reason)

    # -- mailboxes ------------------------------------------------------------------------
    def append_events(
        self, sessionid: str, events: list[tuple[str, str]], *, fresh_ids: bool = False
    ) -> list[int]:
        return self._mailbox.append(sessionid, events, fresh_ids=fresh_ids)

    def read_mailbox(self, sessionid: str, after_seq: int, limit: int = 1000) -> list[MailboxEntry]:
        return self._mailbox.read(sessionid, after_seq, limit)

    def trim_mailbox(self, sessionid: str, upto_seq: int) -> None:
        self._mailbox.trim(sessionid, upto_seq)

    # -- leases ---------------------------------------------------------------------------
    def acquire_lease(self, sessionid: str, owner: str, ttl_s: float, now: float) -> Lease | None:
        current = self._cql.read_one(_READ_LEASE, (sessionid,))
        for _ in range(_CAS_ATTEMPTS):
            state = _lease_state(current)
            lease = grant_lease(sessionid, state, owner, ttl_s, now)
            if lease is None:
                return None
            seen = (state.owner, state.fence, state.expires_at) if state else (None, None, None)
            applied, current = self._cql.cas(
                _GRANT_LEASE, (lease.owner, lease.fence, lease.expires_at, sessionid, *seen)
            )
            if applied:
                return lease
        raise StoreUnavailable(f"cassandra: lease of {sessionid}: lost to contention")

    def release_lease(self, lease: Lease) -> None:
        self._cql.cas(_RELEASE_LEASE, (lease.sessionid, lease.owner, lease.fence))

    # -- documents ------------------------------------------------------------------------
    def put_document(self, content_hash: str, source: str) -> None:
        # Stored once: the first text under a hash stays. Most puts find it there already,
        # so a plain read spares them the transaction.
        if self.get_document(content_hash) is None:
            self._cql.cas(_WRITE_DOCUMENT, (content_hash, source))

    def get_document(self, content_hash: str) -> str | None:
        row = self._cql.read_one(_READ_DOCUMENT, (content_hash,))
        return row.source if row is not None else None

    # -- schedules ------------------------------------------------------------------------
    def put_schedule(self, item: ScheduleItem) -> None:
        self._schedules.put(item)

    def remove_schedule(self, item_id: str) -> None:
        self._schedules.remove(item_id)

    def get_schedule(self, item_id: str) -> ScheduleItem | None:
        return self._schedules.get(item_id)

    def due_schedules(self, until: float, now: float, limit: int = 1000) -> list[ScheduleItem]:
        return self._schedules.due(until, now, limit)

    def claim_schedule(self, item: ScheduleItem, claimant: str, ttl_s: float, now: float) -> bool:
        return self._schedules.claim(item, claimant, ttl_s, now)

    def replace_schedule(self, current: ScheduleItem, new: ScheduleItem | None) -> bool:
        return self._schedules.replace(current, new)

    def list_schedules(self, kind: str | None = None, limit: int = 1000) -> list[ScheduleItem]:
        return self._schedules.by_kind(kind, limit)

    # -- ownership ------------------------------------------------------------------------
    def set_owner(self, sessionid: str, node: str) -> None:
        previous = self.owner_of(sessionid)
        writes: list[Write] = [
            (_SET_OWNER, (node, sessionid)),
            (_ADD_OWNED, (node, sessionid)),
        ]
        if previous is not None and previous != node:
            writes.append((_DROP_OWNED, (previous, sessionid)))
        self._cql.batch(writes)

    def owner_of(self, sessionid: str) -> str | None:
        row = self._cql.read_one(_READ_OWNER, (sessionid,))
        return row.owner if row is not None else None

    def sessions_of(self, node: str) -> list[str]:
        return [row.sessionid for row in self._cql.read(_READ_OWNED, (node,))]

    def heartbeat(self, node: str, now: float, info: dict[str, Any] | None = None) -> None:
        self._cql.write(_HEARTBEAT, (node, now, dumps(info or {})))

    def nodes(self) -> list[NodeInfo]:
        return [
            NodeInfo(row.node, row.heartbeat_at, json.loads(row.info) if row.info else {})
            for row in self._cql.read(_READ_NODES)
        ]

    def remove_node(self, node: str) -> None:
        owned = self.sessions_of(node)
        owners = self._cql.read_many([(_READ_OWNER, (sessionid,)) for sessionid in owned])
        writes: list[Write] = [
            (_DROP_OWNER, (sessionid,))
            for sessionid, rows in zip(owned, owners, strict=True)
            if rows and rows[0].owner == node  # not already taken over by another node
        ]
        # Batches stay small (Cassandra refuses big ones); each statement is idempotent.
        for start in range(0, len(writes), _BATCH_LIMIT):
            self._cql.batch(writes[start : start + _BATCH_LIMIT], logged=False)
        self._cql.batch([(_DROP_ALL_OWNED, (node,)), (_DROP_NODE, (node,))])

    # -- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        self._cluster.shutdown()


def _lease_state(row: Any) -> LeaseState | None:
    fence = getattr(row, "lease_fence", None)
    if fence is None:
        return None
    return LeaseState(row.lease_owner, fence, row.lease_expires or 0.0)
