"""The Cassandra keyspace and tables of the store, and their migrations.

Each table is shaped after the queries it serves, with partitions that spread load:

- ``sessions``: one row per session holding the snapshot, its version and outbox, and also
  the lease (owner, fence, expiry) and the owning node, so that one lightweight transaction
  checks the version and the fence together.
- ``mailbox``: one partition per session. ``kind`` 0 rows are the queued events by
  sequence number; kind 1 rows map an event id to its number (deduplication); kind 2 rows
  remember which ids were trimmed when, so that ids older than the dedup window are
  forgotten. The static ``last_seq`` is the compare-and-set point of every append.
- ``schedules``: an item by id, with its claim (claimed with a lightweight transaction).
- ``schedule_due``: items by due time in partitions of ``BUCKET_S`` seconds (and a few
  shards per bucket), so that the beat reads only the buckets up to now, never the table;
  ``schedule_buckets`` lists the buckets that hold items (one small partition).
- ``schedule_kinds``: items by kind and due time, for listings (``schedule_kind_names``
  lists the kinds).
- ``node_sessions``: the sessions a node owns, one partition per node; ``nodes`` the
  heartbeats (one small partition).
- ``finished`` (kept with a TTL) and ``documents`` (by content hash).

Migrations are numbered; ``cassandra-schema-version`` says which to apply up to. Every
statement is idempotent (``IF NOT EXISTS``), so a migration interrupted half-way is simply
run again.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from orchestrion.errors import ConfigError

log = logging.getLogger("orchestrion.persistence.cassandra")

BUCKET_S = 10
"""Width in seconds of one due-time partition of ``schedule_due``."""

SCHEDULE_SHARDS = 4
"""Partitions per due-time bucket and per kind: many items due together spread over nodes."""

MAILBOX_EVENT, MAILBOX_ID, MAILBOX_TRIMMED = 0, 1, 2
"""The ``kind`` of mailbox rows: queued event, event id → seq, trimmed id awaiting expiry."""

_TOMBSTONE_GC = "gc_grace_seconds = 86400"  # deletes are frequent; repair at least daily

MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE IF NOT EXISTS {ks}.sessions (
            sessionid text PRIMARY KEY,
            document_hash text,
            snapshot text,
            version bigint,
            applied_seq bigint,
            outbox text,
            created_at double,
            updated_at double,
            lease_owner text,
            lease_fence bigint,
            lease_expires double,
            owner text)""",
        """CREATE TABLE IF NOT EXISTS {ks}.finished (
            sessionid text PRIMARY KEY,
            final_state text,
            ended_at double,
            reason text,
            expires_at double)""",
        f"""CREATE TABLE IF NOT EXISTS {{ks}}.mailbox (
            sessionid text,
            kind tinyint,
            seq bigint,
            event_id text,
            payload text,
            ref bigint,
            last_seq bigint static,
            PRIMARY KEY (sessionid, kind, seq, event_id))
            WITH {_TOMBSTONE_GC}""",
        """CREATE TABLE IF NOT EXISTS {ks}.documents (
            content_hash text PRIMARY KEY,
            source text)""",
        f"""CREATE TABLE IF NOT EXISTS {{ks}}.schedules (
            item_id text PRIMARY KEY,
            due_at double,
            kind text,
            payload text,
            claimant text,
            claim_until double)
            WITH {_TOMBSTONE_GC}""",
        f"""CREATE TABLE IF NOT EXISTS {{ks}}.schedule_due (
            bucket bigint,
            shard int,
            due_at double,
            item_id text,
            kind text,
            payload text,
            claim_until double,
            PRIMARY KEY ((bucket, shard), due_at, item_id))
            WITH {_TOMBSTONE_GC}""",
        f"""CREATE TABLE IF NOT EXISTS {{ks}}.schedule_buckets (
            marker int,
            bucket bigint,
            PRIMARY KEY (marker, bucket))
            WITH {_TOMBSTONE_GC}""",
        f"""CREATE TABLE IF NOT EXISTS {{ks}}.schedule_kinds (
            kind text,
            shard int,
            due_at double,
            item_id text,
            payload text,
            PRIMARY KEY ((kind, shard), due_at, item_id))
            WITH {_TOMBSTONE_GC}""",
        """CREATE TABLE IF NOT EXISTS {ks}.schedule_kind_names (
            marker int,
            kind text,
            PRIMARY KEY (marker, kind))""",
        """CREATE TABLE IF NOT EXISTS {ks}.node_sessions (
            node text,
            sessionid text,
            PRIMARY KEY (node, sessionid))""",
        """CREATE TABLE IF NOT EXISTS {ks}.nodes (
            marker int,
            node text,
            heartbeat_at double,
            info text,
            PRIMARY KEY (marker, node))""",
    ),
}
LATEST_SCHEMA_VERSION = max(MIGRATIONS)

_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")


def check_keyspace_name(name: str) -> str:
    """``name`` if it is a plain CQL identifier (it is spliced into statements)."""
    if not _IDENTIFIER.match(name):
        raise ConfigError(
            f"[persistence] cassandra-keyspace = {name!r}: expected a letter followed by up to"
            " 47 letters, digits or underscores"
        )
    return name


def replication_cql(replication: dict[str, str | int]) -> str:
    """The replication map as a CQL literal: ``{'class': 'SimpleStrategy', ...}``."""
    parts = []
    for key, value in replication.items():
        if not re.match(r"^[A-Za-z0-9_.\-]+$", f"{key}{value}"):
            raise ConfigError(
                f"[persistence] cassandra-strategy-options: {key}:{value} is not a plain name"
            )
        parts.append(f"'{key}': '{value}'")
    return "{" + ", ".join(parts) + "}"


def _same_replication(stored: dict[str, str], wanted: dict[str, str | int]) -> bool:
    def short(cls: str) -> str:
        return cls.rsplit(".", 1)[-1]

    normal_stored = {k: short(v) if k == "class" else v for k, v in stored.items()}
    normal_wanted = {k: short(str(v)) if k == "class" else str(v) for k, v in wanted.items()}
    return normal_stored == normal_wanted


def stored_schema_version(session: Any, keyspace: str) -> int:
    """The version recorded in ``schema_version`` (0 when no migration ran yet)."""
    row = session.execute(
        f"SELECT version FROM {keyspace}.schema_version WHERE component = 'store'"
    ).one()
    return int(row.version) if row is not None and row.version is not None else 0


def ensure_schema(
    session: Any,
    keyspace: str,
    replication: dict[str, str | int],
    target_version: int,
) -> int:
    """Create the keyspace if missing and migrate its tables up to ``target_version``.

    Returns the schema version in force afterwards. A keyspace that exists keeps its
    replication (changing it needs a repair; a warning says so when it differs). A stored
    version newer than this code knows is refused rather than used blindly.
    """
    check_keyspace_name(keyspace)
    if not 1 <= target_version <= LATEST_SCHEMA_VERSION:
        raise ConfigError(
            f"[persistence] cassandra-schema-version = {target_version}: this Orchestrion"
            f" knows schema versions 1 to {LATEST_SCHEMA_VERSION}"
        )
    row = session.execute(
        "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s", (keyspace,)
    ).one()
    if row is None:
        session.execute(
            f"CREATE KEYSPACE IF NOT EXISTS {keyspace}"
            f" WITH replication = {replication_cql(replication)}"
        )
    elif not _same_replication(dict(row.replication), replication):
        log.warning(
            "keyspace %s has replication %s, configured %s: left unchanged (ALTER KEYSPACE"
            " and run a repair to change it)",
            keyspace,
            dict(row.replication),
            replication,
        )
    session.execute(
        f"CREATE TABLE IF NOT EXISTS {keyspace}.schema_version"
        " (component text PRIMARY KEY, version int, migrated_at double)"
    )
    current = stored_schema_version(session, keyspace)
    if current > LATEST_SCHEMA_VERSION:
        raise ConfigError(
            f"keyspace {keyspace} has schema version {current}, newer than this Orchestrion"
            f" knows ({LATEST_SCHEMA_VERSION}): upgrade Orchestrion"
        )
    for version in range(current + 1, target_version + 1):
        for statement in MIGRATIONS[version]:
            session.execute(statement.format(ks=keyspace))
        session.execute(
            f"INSERT INTO {keyspace}.schema_version (component, version, migrated_at)"
            " VALUES ('store', %s, %s)",
            (version, time.time()),
        )
        log.info("keyspace %s migrated to schema version %d", keyspace, version)
    return max(current, target_version)
