"""Session mailboxes on Cassandra: one partition per session (see ``cassandra_schema``).

An append reads the partition's ``last_seq`` and the ids it is given, then writes the new
events, their id rows and the new ``last_seq`` in one conditional batch on ``last_seq``:
if anyone appended in between, nothing is written and the append starts over. Reading
``last_seq`` before the ids matters: a concurrent append seen in the ids but not in
``last_seq`` only makes the condition fail, never a duplicate.
"""

from __future__ import annotations

import random
import time

from orchestrion.errors import StoreUnavailable
from persistence.cassandra_cql import Cql, Write
from persistence.cassandra_schema import MAILBOX_EVENT, MAILBOX_ID, MAILBOX_TRIMMED
from persistence.contract import MAILBOX_DEDUP_WINDOW, MailboxEntry

_APPEND_ATTEMPTS = 50
# One conditional batch stays well under Cassandra's largest mutation (half a commit log
# segment). A long append is several batches: a retry after a failure half-way is still
# exact, since every event id keeps the number it got.
_CHUNK_EVENTS = 200
_CHUNK_BYTES = 2 * 1024 * 1024

_LAST_SEQ = "SELECT last_seq FROM {ks}.mailbox WHERE sessionid = ? LIMIT 1"
_KNOWN_IDS = (
    "SELECT event_id, ref FROM {ks}.mailbox"
    f" WHERE sessionid = ? AND kind = {MAILBOX_ID} AND seq = 0 AND event_id IN ?"
)
_SET_LAST_SEQ = "UPDATE {ks}.mailbox SET last_seq = ? WHERE sessionid = ? IF last_seq = ?"
_ADD_EVENT = (
    "INSERT INTO {ks}.mailbox (sessionid, kind, seq, event_id, payload)"
    f" VALUES (?, {MAILBOX_EVENT}, ?, ?, ?)"
)
_ADD_ID = (
    "INSERT INTO {ks}.mailbox (sessionid, kind, seq, event_id, ref)"
    f" VALUES (?, {MAILBOX_ID}, 0, ?, ?)"
)
_ADD_TRIMMED_MARK = (
    "INSERT INTO {ks}.mailbox (sessionid, kind, seq, event_id)"
    f" VALUES (?, {MAILBOX_TRIMMED}, ?, ?)"
)
_READ_EVENTS = (
    "SELECT seq, event_id, payload FROM {ks}.mailbox"
    f" WHERE sessionid = ? AND kind = {MAILBOX_EVENT} AND seq > ? LIMIT ?"
)
_TRIMMED_EVENTS = (
    "SELECT seq, event_id FROM {ks}.mailbox"
    f" WHERE sessionid = ? AND kind = {MAILBOX_EVENT} AND seq <= ?"
)
_DROP_EVENTS = (
    f"DELETE FROM {{ks}}.mailbox WHERE sessionid = ? AND kind = {MAILBOX_EVENT} AND seq <= ?"
)
_EXPIRED_IDS = (
    "SELECT seq, event_id FROM {ks}.mailbox"
    f" WHERE sessionid = ? AND kind = {MAILBOX_TRIMMED} AND seq <= ?"
)
_DROP_ID = (
    f"DELETE FROM {{ks}}.mailbox WHERE sessionid = ? AND kind = {MAILBOX_ID}"
    " AND seq = 0 AND event_id = ?"
)
_DROP_TRIMMED_MARKS = (
    f"DELETE FROM {{ks}}.mailbox WHERE sessionid = ? AND kind = {MAILBOX_TRIMMED} AND seq <= ?"
)
DROP_MAILBOX = "DELETE FROM {ks}.mailbox WHERE sessionid = ?"


def _chunks(events: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    chunks: list[list[tuple[str, str]]] = []
    size = 0
    for event in events:
        event_bytes = len(event[0]) + len(event[1].encode())
        if not chunks or len(chunks[-1]) >= _CHUNK_EVENTS or size + event_bytes > _CHUNK_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(event)
        size += event_bytes
    return chunks


class CassandraMailbox:
    """``append_events``, ``read_mailbox`` and ``trim_mailbox`` of the Cassandra store."""

    def __init__(self, cql: Cql) -> None:
        self._cql = cql

    def append(self, sessionid: str, events: list[tuple[str, str]]) -> list[int]:
        seqs: list[int] = []
        for chunk in _chunks(events):
            seqs += self._append_chunk(sessionid, chunk)
        return seqs

    def _append_chunk(self, sessionid: str, events: list[tuple[str, str]]) -> list[int]:
        for attempt in range(_APPEND_ATTEMPTS):
            seqs = self._try_append(sessionid, events)
            if seqs is not None:
                return seqs
            # Contention with another appender: back off a little, randomly.
            time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise StoreUnavailable(
            f"cassandra: mailbox of {sessionid}: {_APPEND_ATTEMPTS} appends lost to contention"
        )

    def _try_append(self, sessionid: str, events: list[tuple[str, str]]) -> list[int] | None:
        row = self._cql.read_one(_LAST_SEQ, (sessionid,))
        last_seq: int | None = row.last_seq if row is not None else None
        wanted_ids = list(dict.fromkeys(event_id for event_id, _ in events))
        known = {r.event_id: r.ref for r in self._cql.read(_KNOWN_IDS, (sessionid, wanted_ids))}
        next_seq = last_seq or 0
        seqs = []
        writes: list[Write] = []
        for event_id, payload in events:
            seq = known.get(event_id)
            if seq is None:
                next_seq += 1
                seq = known[event_id] = next_seq
                writes.append((_ADD_EVENT, (sessionid, seq, event_id, payload)))
                writes.append((_ADD_ID, (sessionid, event_id, seq)))
            seqs.append(seq)
        if not writes:
            return seqs
        writes.insert(0, (_SET_LAST_SEQ, (next_seq, sessionid, last_seq)))
        return seqs if self._cql.cas_batch(writes) else None

    def read(self, sessionid: str, after_seq: int, limit: int) -> list[MailboxEntry]:
        rows = self._cql.read(_READ_EVENTS, (sessionid, after_seq, limit))
        return [MailboxEntry(r.seq, r.event_id, r.payload) for r in rows]

    def trim(self, sessionid: str, upto_seq: int) -> None:
        """Drop events up to ``upto_seq``; forget ids trimmed a dedup window ago.

        The trimmed events' ids stay (kind 1 rows) so that a redelivered event is still
        recognised; a kind 2 row per trimmed event records when, and once the mailbox has
        moved ``MAILBOX_DEDUP_WINDOW`` numbers further, both rows go.
        """
        trimmed = self._cql.read(_TRIMMED_EVENTS, (sessionid, upto_seq))
        forget_upto = upto_seq - MAILBOX_DEDUP_WINDOW
        expired = self._cql.read(_EXPIRED_IDS, (sessionid, forget_upto)) if forget_upto > 0 else []
        writes: list[Write] = [(_DROP_EVENTS, (sessionid, upto_seq))]
        for r in trimmed:
            if r.seq > forget_upto:
                writes.append((_ADD_TRIMMED_MARK, (sessionid, r.seq, r.event_id)))
            else:  # already older than the window: forget it at once
                writes.append((_DROP_ID, (sessionid, r.event_id)))
        writes += [(_DROP_ID, (sessionid, r.event_id)) for r in expired]
        if forget_upto > 0:
            writes.append((_DROP_TRIMMED_MARKS, (sessionid, forget_upto)))
        # One partition: the batch applies atomically and in isolation.
        self._cql.batch(writes, logged=False)
