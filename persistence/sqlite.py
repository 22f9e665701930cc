"""The embedded default store: one SQLite file in WAL mode.

Several processes on one machine share the file (the embedded ``orchestrion serve`` runs
the API, a worker and the beat as separate processes): WAL lets readers run beside the one
writer, ``BEGIN IMMEDIATE`` serialises read-modify-write operations, and a busy timeout
makes writers wait for each other instead of failing. Single-statement operations (the
common session write, a schedule claim) rely on SQLite's statement atomicity and skip the
explicit transaction.

Durability: ``synchronous=NORMAL`` in WAL mode survives the crash or kill of any process;
an operating-system crash or power loss may lose the last transactions.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from orchestrion.errors import StoreError, StoreUnavailable
from persistence.codec import dumps, outbox_from_json, outbox_to_json
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
from persistence.rules import LeaseState, check_session_write, grant_lease

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    sessionid TEXT PRIMARY KEY, document_hash TEXT NOT NULL, snapshot TEXT NOT NULL,
    version INTEGER NOT NULL, applied_seq INTEGER NOT NULL, outbox TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS finished (
    sessionid TEXT PRIMARY KEY, final_state TEXT, ended_at REAL NOT NULL,
    reason TEXT NOT NULL, expires_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS finished_expiry ON finished (expires_at);
CREATE TABLE IF NOT EXISTS mailbox (
    sessionid TEXT NOT NULL, seq INTEGER NOT NULL, event_id TEXT NOT NULL, payload TEXT,
    PRIMARY KEY (sessionid, seq)) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS mailbox_event ON mailbox (sessionid, event_id);
CREATE TABLE IF NOT EXISTS mailbox_state (
    sessionid TEXT PRIMARY KEY, last_seq INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (
    sessionid TEXT PRIMARY KEY, owner TEXT, fence INTEGER NOT NULL,
    expires_at REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS documents (content_hash TEXT PRIMARY KEY, source TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS schedules (
    item_id TEXT PRIMARY KEY, due_at REAL NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL,
    claimant TEXT, claim_until REAL, eligible_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS schedules_eligible ON schedules (eligible_at);
CREATE INDEX IF NOT EXISTS schedules_kind ON schedules (kind, due_at);
CREATE TABLE IF NOT EXISTS owners (sessionid TEXT PRIMARY KEY, node TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS owners_node ON owners (node);
CREATE TABLE IF NOT EXISTS nodes (node TEXT PRIMARY KEY, heartbeat_at REAL NOT NULL,
    info TEXT NOT NULL);
"""

# Errors that mean "cannot use the file now" rather than "this request is wrong".
_UNAVAILABLE_MARKERS = ("locked", "busy", "unable to open", "disk i/o", "readonly", "full")


class SqliteStore(Store):
    """The store in one SQLite file, safe for several processes and threads."""

    def __init__(self, path: Path | str, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        with self._errors(), self._write() as db:
            for statement in SCHEMA.split(";"):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # -- connections ------------------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        """This thread's connection (a new one after fork: connections must not cross it)."""
        local = self._local
        db: sqlite3.Connection | None = getattr(local, "db", None)
        if db is not None and local.pid == os.getpid():
            return db
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(
            self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
        local.db, local.pid = db, os.getpid()
        with self._all_lock:
            self._all.append(db)
        return db

    def _translate(self, exc: sqlite3.Error) -> StoreError:
        """The contract's error for a driver error."""
        text = str(exc).lower()
        if isinstance(exc, sqlite3.OperationalError) and any(
            marker in text for marker in _UNAVAILABLE_MARKERS
        ):
            return StoreUnavailable(f"SQLite store {self.path}: {exc}")
        return StoreError(f"SQLite store {self.path}: {exc}")

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A read-modify-write transaction: BEGIN IMMEDIATE takes the write lock first."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # _query and _execute are the hot paths: plain try/except, no context manager.
    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        try:
            return self._db().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc

    def _execute(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        """One statement in its own (implicit) transaction; the number of rows changed."""
        try:
            return self._db().execute(sql, args).rowcount
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc

    def close(self) -> None:
        with self._all_lock:
            for db in self._all:
                db.close()
            self._all.clear()
        self._local = threading.local()

    def ping(self) -> None:
        self._query("SELECT 1")

    # -- sessions ---------------------------------------------------------------------------
    def read_session(self, sessionid: str) -> SessionRecord | None:
        rows = self._query(
            "SELECT document_hash, snapshot, version, applied_seq, outbox, created_at,"
            " updated_at FROM sessions WHERE sessionid = ?",
            (sessionid,),
        )
        if not rows:
            return None
        doc, snapshot, version, applied, outbox, created, updated = rows[0]
        return SessionRecord(
            sessionid, doc, snapshot, version, applied, outbox_from_json(outbox), created, updated
        )

    def write_session(self, record: SessionRecord, *, fence: int | None = None) -> None:
        values = (
            record.document_hash,
            record.snapshot,
            record.version,
            record.applied_seq,
            outbox_to_json(record.outbox),
            record.created_at,
            record.updated_at,
        )
        # Fast path: one conditional statement does the whole compare-and-set.
        if record.version == 1 and fence is None:
            changed = self._execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (record.sessionid, *values),
            )
        else:
            fence_clause = (
                ""
                if fence is None
                else " AND EXISTS (SELECT 1 FROM leases WHERE sessionid = ?"
                " AND owner IS NOT NULL AND fence = ?)"
            )
            fence_args: tuple[Any, ...] = () if fence is None else (record.sessionid, fence)
            changed = self._execute(
                "UPDATE sessions SET document_hash = ?, snapshot = ?, version = ?,"
                " applied_seq = ?, outbox = ?, created_at = ?, updated_at = ?"
                " WHERE sessionid = ? AND version = ?" + fence_clause,
                (*values, record.sessionid, record.version - 1, *fence_args),
            )
        if changed:
            return
        # Slow path: find out why (or write after all, e.g. a first write under a lease).
        with self._errors(), self._write() as db:
            row = db.execute(
                "SELECT version FROM sessions WHERE sessionid = ?", (record.sessionid,)
            ).fetchone()
            stored_version = row[0] if row else None
            stored_snapshot = None
            if stored_version == record.version:
                stored_snapshot = db.execute(
                    "SELECT snapshot FROM sessions WHERE sessionid = ?", (record.sessionid,)
                ).fetchone()[0]
            if check_session_write(
                record, stored_version, stored_snapshot, self._lease(db, record.sessionid), fence
            ):
                db.execute(
                    "INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (record.sessionid, *values),
                )

    def clear_outbox(self, sessionid: str, version: int) -> None:
        self._execute(
            "UPDATE sessions SET outbox = '' WHERE sessionid = ? AND version = ?",
            (sessionid, version),
        )

    def finish_session(self, sessionid: str, finished: FinishedSession, ttl_s: float) -> None:
        now = time.time()
        with self._errors(), self._write() as db:
            for table in ("sessions", "mailbox", "mailbox_state", "leases", "owners"):
                db.execute(f"DELETE FROM {table} WHERE sessionid = ?", (sessionid,))
            db.execute("DELETE FROM finished WHERE expires_at <= ?", (now,))
            db.execute(
                "INSERT OR REPLACE INTO finished VALUES (?, ?, ?, ?, ?)",
                (sessionid, finished.final_state, finished.ended_at, finished.reason, now + ttl_s),
            )

    def read_finished(self, sessionid: str) -> FinishedSession | None:
        rows = self._query(
            "SELECT final_state, ended_at, reason FROM finished"
            " WHERE sessionid = ? AND expires_at > ?",
            (sessionid, time.time()),
        )
        return FinishedSession(sessionid, *rows[0]) if rows else None

    # -- mailboxes --------------------------------------------------------------------------
    def append_events(
        self, sessionid: str, events: list[tuple[str, str]], *, fresh_ids: bool = False
    ) -> list[int]:
        with self._errors(), self._write() as db:
            row = db.execute(
                "SELECT last_seq FROM mailbox_state WHERE sessionid = ?", (sessionid,)
            ).fetchone()
            last_seq = row[0] if row else 0
            seqs = []
            for event_id, payload in events:
                known = db.execute(
                    "SELECT seq FROM mailbox WHERE sessionid = ? AND event_id = ?",
                    (sessionid, event_id),
                ).fetchone()
                if known:
                    seqs.append(known[0])
                    continue
                last_seq += 1
                db.execute(
                    "INSERT INTO mailbox VALUES (?, ?, ?, ?)",
                    (sessionid, last_seq, event_id, payload),
                )
                seqs.append(last_seq)
            db.execute("INSERT OR REPLACE INTO mailbox_state VALUES (?, ?)", (sessionid, last_seq))
            return seqs

    def read_mailbox(self, sessionid: str, after_seq: int, limit: int = 1000) -> list[MailboxEntry]:
        rows = self._query(
            "SELECT seq, event_id, payload FROM mailbox WHERE sessionid = ? AND seq > ?"
            " AND payload IS NOT NULL ORDER BY seq LIMIT ?",
            (sessionid, after_seq, limit),
        )
        return [MailboxEntry(*row) for row in rows]

    def trim_mailbox(self, sessionid: str, upto_seq: int) -> None:
        # Trimmed entries keep their id (payload NULL) for the dedup window.
        with self._errors(), self._write() as db:
            db.execute(
                "UPDATE mailbox SET payload = NULL"
                " WHERE sessionid = ? AND seq <= ? AND payload IS NOT NULL",
                (sessionid, upto_seq),
            )
            db.execute(
                "DELETE FROM mailbox WHERE sessionid = ? AND seq <= ?",
                (sessionid, upto_seq - MAILBOX_DEDUP_WINDOW),
            )

    # -- leases -----------------------------------------------------------------------------
    @staticmethod
    def _lease(db: sqlite3.Connection, sessionid: str) -> LeaseState | None:
        row = db.execute(
            "SELECT owner, fence, expires_at FROM leases WHERE sessionid = ?", (sessionid,)
        ).fetchone()
        return LeaseState(*row) if row else None

    def acquire_lease(self, sessionid: str, owner: str, ttl_s: float, now: float) -> Lease | None:
        with self._errors(), self._write() as db:
            lease = grant_lease(sessionid, self._lease(db, sessionid), owner, ttl_s, now)
            if lease is not None:
                db.execute(
                    "INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?)",
                    (sessionid, owner, lease.fence, lease.expires_at),
                )
            return lease

    def release_lease(self, lease: Lease) -> None:
        self._execute(
            "UPDATE leases SET owner = NULL, expires_at = 0"
            " WHERE sessionid = ? AND owner = ? AND fence = ?",
            (lease.sessionid, lease.owner, lease.fence),
        )

    # -- documents --------------------------------------------------------------------------
    def put_document(self, content_hash: str, source: str) -> None:
        self._execute("INSERT OR IGNORE INTO documents VALUES (?, ?)", (content_hash, source))

    def get_document(self, content_hash: str) -> str | None:
        rows = self._query("SELECT source FROM documents WHERE content_hash = ?", (content_hash,))
        return str(rows[0][0]) if rows else None

    # -- schedules --------------------------------------------------------------------------
    # eligible_at = max(due_at, claim_until): the index finds unclaimed due items without
    # walking over items whose claim is still running.
    _ITEM = "SELECT item_id, due_at, kind, payload FROM schedules"

    @staticmethod
    def _item(row: tuple[Any, ...]) -> ScheduleItem:
        return ScheduleItem(row[0], row[1], row[2], json.loads(row[3]))

    def put_schedule(self, item: ScheduleItem) -> None:
        self._execute(
            "INSERT OR REPLACE INTO schedules VALUES (?, ?, ?, ?, NULL, NULL, ?)",
            (item.item_id, item.due_at, item.kind, dumps(item.payload), item.due_at),
        )

    def remove_schedule(self, item_id: str) -> None:
        self._execute("DELETE FROM schedules WHERE item_id = ?", (item_id,))

    def get_schedule(self, item_id: str) -> ScheduleItem | None:
        rows = self._query(self._ITEM + " WHERE item_id = ?", (item_id,))
        return self._item(rows[0]) if rows else None

    def due_schedules(self, until: float, now: float, limit: int = 1000) -> list[ScheduleItem]:
        rows = self._query(
            self._ITEM + " WHERE eligible_at <= ? AND due_at <= ?"
            " AND (claim_until IS NULL OR claim_until <= ?) ORDER BY due_at, item_id LIMIT ?",
            (until, until, now, limit),
        )
        return [self._item(row) for row in rows]

    # The stored item is compared column by column, its payload as the text put stored.
    _IS_ITEM = "item_id = ? AND due_at = ? AND kind = ? AND payload = ?"

    def claim_schedule(self, item: ScheduleItem, claimant: str, ttl_s: float, now: float) -> bool:
        return (
            self._execute(
                "UPDATE schedules SET claimant = ?, claim_until = ?, eligible_at = max(due_at, ?)"
                f" WHERE {self._IS_ITEM} AND (claim_until IS NULL OR claim_until <= ?)",
                (claimant, now + ttl_s, now + ttl_s, *_item_columns(item), now),
            )
            == 1
        )

    def replace_schedule(self, current: ScheduleItem, new: ScheduleItem | None) -> bool:
        if new is None:
            changed = self._execute(
                f"DELETE FROM schedules WHERE {self._IS_ITEM}", _item_columns(current)
            )
        else:
            changed = self._execute(
                "UPDATE schedules SET due_at = ?, kind = ?, payload = ?, claimant = NULL,"
                f" claim_until = NULL, eligible_at = ? WHERE {self._IS_ITEM}",
                (new.due_at, new.kind, dumps(new.payload), new.due_at, *_item_columns(current)),
            )
        return changed == 1

    def list_schedules(self, kind: str | None = None, limit: int = 1000) -> list[ScheduleItem]:
        if kind is None:
            rows = self._query(self._ITEM + " ORDER BY due_at, item_id LIMIT ?", (limit,))
        else:
            rows = self._query(
                self._ITEM + " WHERE kind = ? ORDER BY due_at, item_id LIMIT ?", (kind, limit)
            )
        return [self._item(row) for row in rows]

    # -- ownership --------------------------------------------------------------------------
    def set_owner(self, sessionid: str, node: str) -> None:
        self._execute("INSERT OR REPLACE INTO owners VALUES (?, ?)", (sessionid, node))

    def owner_of(self, sessionid: str) -> str | None:
        rows = self._query("SELECT node FROM owners WHERE sessionid = ?", (sessionid,))
        return str(rows[0][0]) if rows else None

    def sessions_of(self, node: str) -> list[str]:
        rows = self._query(
            "SELECT sessionid FROM owners WHERE node = ? ORDER BY sessionid", (node,)
        )
        return [row[0] for row in rows]

    def heartbeat(self, node: str, now: float, info: dict[str, Any] | None = None) -> None:
        self._execute(
            "INSERT OR REPLACE INTO nodes VALUES (?, ?, ?)", (node, now, dumps(info or {}))
        )

    def nodes(self) -> list[NodeInfo]:
        rows = self._query("SELECT node, heartbeat_at, info FROM nodes ORDER BY node")
        return [NodeInfo(node, at, json.loads(info)) for node, at, info in rows]

    def remove_node(self, node: str) -> None:
        with self._errors(), self._write() as db:
            db.execute("DELETE FROM nodes WHERE node = ?", (node,))
            db.execute("DELETE FROM owners WHERE node = ?", (node,))


def _item_columns(item: ScheduleItem) -> tuple[str, float, str, str]:
    """``item`` as the values ``SqliteStore._IS_ITEM`` compares."""
    return (item.item_id, item.due_at, item.kind, dumps(item.payload))
