"""Session mailboxes on Cassandra: one partition per session (see ``cassandra_schema``).

An append knows the partition's ``last_seq``, reads the ids it is given, then writes the
new events, their id rows and the new ``last_seq`` in one conditional batch on
``last_seq``: if anyone appended in between, nothing is written and the append starts over.
Knowing ``last_seq`` before reading the ids matters: a concurrent append seen in the ids but
not in ``last_seq`` only makes the condition fail, never a duplicate.

``last_seq`` is the value this process wrote or saw last for the session, read only when it
has none: a stale one fails the condition, which returns the current value for the next
attempt. Ids the caller has just made up (``fresh_ids``) are not looked up. An accept is
then one lightweight transaction, with no reads before it.
"""

from __future__ import annotations

import random
import time

from orchestrion.bounded import BoundedMap
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
_KNOWN_LAST_SEQS = 100_000
_UNKNOWN = -1
"""No ``last_seq`` known for the session: read it (None means an empty partition)."""

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
        self._last_seqs: BoundedMap[str, int | None] = BoundedMap(_KNOWN_LAST_SEQS)

    def append(
        self, sessionid: str, events: list[tuple[str, str]], *, fresh_ids: bool = False
    ) -> list[int]:
        seqs: list[int] = []
        try:
            for chunk in _chunks(events):
                seqs += self._append_chunk(sessionid, chunk, fresh_ids)
        except BaseException:
            self._remember(sessionid, _UNKNOWN)  # the outcome is unknown: read it next time
            raise
        return seqs

    def _append_chunk(
        self, sessionid: str, events: list[tuple[str, str]], fresh_ids: bool
    ) -> list[int]:
        last_seq = self._last_seqs.get(sessionid, _UNKNOWN)
        for attempt in range(_APPEND_ATTEMPTS):
            if last_seq == _UNKNOWN:
                row = self._cql.read_one(_LAST_SEQ, (sessionid,))
                last_seq = row.last_seq if row is not None else None
            seqs, last_seq = self._try_append(sessionid, events, last_seq, fresh_ids)
            self._remember(sessionid, last_seq)
            if seqs is not None:
                return seqs
            if attempt:  # contention with another appender: back off a little, randomly
                time.sleep(random.uniform(0, 0.002 * attempt))
        raise StoreUnavailable(
            f"cassandra: mailbox of {sessionid}: {_APPEND_ATTEMPTS} appends lost to contention"
        )

    def _remember(self, sessionid: str, last_seq: int | None) -> None:
        if last_seq == _UNKNOWN:
            self._last_seqs.pop(sessionid)
        else:
            self._last_seqs.put(sessionid, last_seq)

    def _try_append(
        self,
        sessionid: str,
        events: list[tuple[str, str]],
        last_seq: int | None,
        fresh_ids: bool,
    ) -> tuple[list[int] | None, int | None]:
        """(the sequence numbers, or None when ``last_seq`` was not current; the current one)."""
        known: dict[str, int] = {}
        if not fresh_ids:
            wanted_ids = list(dict.fromkeys(event_id for event_id, _ in events))
            rows = self._cql.read(_KNOWN_IDS, (sessionid, wanted_ids))
            known = {r.event_id: r.ref for r in rows}
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
            return seqs, last_seq
        writes.insert(0, (_SET_LAST_SEQ, (next_seq, sessionid, last_seq)))
        applied, current = self._cql.cas_batch(writes)
        if applied:
            return seqs, next_seq
        # The failed condition returns the current value (absent: read it next attempt).
        return None, getattr(current, "last_seq", _UNKNOWN)

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
