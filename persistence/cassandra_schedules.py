"""Schedule items on Cassandra: by id, by due-time bucket, by kind (see ``cassandra_schema``).

The item's row in ``schedules`` is the truth and holds the claim (``claim_until`` 0 meaning
unclaimed). ``schedule_due`` and ``schedule_kinds`` are indexes written with it in one
logged batch; they carry the item's fields so that a scan needs no second read, and
``schedule_due`` also mirrors the claim so that claimed items are skipped. A claim or a
replace is a lightweight transaction on the item's row, conditional on the item's fields
(so it needs no read first). ``schedule_buckets`` lists the buckets that may hold items:
a scan reads that one small partition, then only the buckets due by ``until``, and drops
the markers of old buckets it finds empty.
"""

from __future__ import annotations

import heapq
import json
import math
import time
import zlib

from persistence.cassandra_cql import Cql, Write
from persistence.cassandra_schema import BUCKET_S, SCHEDULE_SHARDS
from persistence.codec import dumps
from persistence.contract import ScheduleItem

_EMPTY_BUCKET_AGE_S = 60.0
"""A bucket found empty loses its marker only when it ended this long ago (by the clock),
so that a put racing with the scan into a current bucket is never missed."""

_READ_ITEM = "SELECT due_at, kind, payload, claim_until FROM {ks}.schedules WHERE item_id = ?"
_WRITE_ITEM = (
    "INSERT INTO {ks}.schedules (item_id, due_at, kind, payload, claimant, claim_until)"
    " VALUES (?, ?, ?, ?, null, 0)"
)
_DROP_ITEM = "DELETE FROM {ks}.schedules WHERE item_id = ?"
_IS_ITEM = "due_at = ? AND kind = ? AND payload = ?"
_CLAIM = (
    "UPDATE {ks}.schedules SET claimant = ?, claim_until = ? WHERE item_id = ?"
    f" IF claim_until <= ? AND {_IS_ITEM}"
)
_REPLACE_ITEM = (
    "UPDATE {ks}.schedules SET due_at = ?, kind = ?, payload = ?, claimant = null,"
    f" claim_until = 0 WHERE item_id = ? IF {_IS_ITEM}"
)
_DROP_ITEM_IF = f"DELETE FROM {{ks}}.schedules WHERE item_id = ? IF {_IS_ITEM}"
_ADD_DUE = (
    "INSERT INTO {ks}.schedule_due (bucket, shard, due_at, item_id, kind, payload, claim_until)"
    " VALUES (?, ?, ?, ?, ?, ?, 0)"
)
_DROP_DUE = (
    "DELETE FROM {ks}.schedule_due WHERE bucket = ? AND shard = ? AND due_at = ? AND item_id = ?"
)
_MIRROR_CLAIM = (
    "UPDATE {ks}.schedule_due SET claim_until = ?"
    " WHERE bucket = ? AND shard = ? AND due_at = ? AND item_id = ?"
)
_READ_DUE = (
    "SELECT due_at, item_id, kind, payload, claim_until FROM {ks}.schedule_due"
    " WHERE bucket = ? AND shard = ? AND due_at <= ?"
)
_ANY_IN_BUCKET = "SELECT item_id FROM {ks}.schedule_due WHERE bucket = ? AND shard = ? LIMIT 1"
_ADD_BUCKET = "INSERT INTO {ks}.schedule_buckets (marker, bucket) VALUES (0, ?)"
_READ_BUCKETS = "SELECT bucket FROM {ks}.schedule_buckets WHERE marker = 0 AND bucket <= ?"
_DROP_BUCKET = "DELETE FROM {ks}.schedule_buckets WHERE marker = 0 AND bucket = ?"
_ADD_KIND = (
    "INSERT INTO {ks}.schedule_kinds (kind, shard, due_at, item_id, payload) VALUES (?, ?, ?, ?, ?)"
)
_DROP_KIND = (
    "DELETE FROM {ks}.schedule_kinds WHERE kind = ? AND shard = ? AND due_at = ? AND item_id = ?"
)
_READ_KIND = (
    "SELECT due_at, item_id, payload FROM {ks}.schedule_kinds WHERE kind = ? AND shard = ? LIMIT ?"
)
_ADD_KIND_NAME = "INSERT INTO {ks}.schedule_kind_names (marker, kind) VALUES (0, ?)"
_READ_KIND_NAMES = "SELECT kind FROM {ks}.schedule_kind_names WHERE marker = 0"


def bucket_of(due_at: float) -> int:
    return math.floor(due_at / BUCKET_S)


def shard_of(item_id: str) -> int:
    return zlib.crc32(item_id.encode()) % SCHEDULE_SHARDS


def _sort_key(item: ScheduleItem) -> tuple[float, str]:
    return (item.due_at, item.item_id)


def _due_key(item: ScheduleItem) -> tuple[int, int, float, str]:
    return (bucket_of(item.due_at), shard_of(item.item_id), item.due_at, item.item_id)


def _index_changes(old: ScheduleItem | None, new: ScheduleItem | None) -> list[Write]:
    """The index writes that move an item from ``old`` to ``new`` (None: absent)."""
    writes: list[Write] = []
    # A delete and an insert of the same row in one batch share a timestamp, and the
    # delete would win: drop the old index rows only when they are other rows.
    if old is not None:
        shard = shard_of(old.item_id)
        if new is None or old.due_at != new.due_at:
            writes.append((_DROP_DUE, _due_key(old)))
        if new is None or (old.kind, old.due_at) != (new.kind, new.due_at):
            writes.append((_DROP_KIND, (old.kind, shard, old.due_at, old.item_id)))
    if new is not None:
        shard = shard_of(new.item_id)
        payload = dumps(new.payload)
        writes += [
            (_ADD_DUE, (*_due_key(new), new.kind, payload)),
            (_ADD_BUCKET, (bucket_of(new.due_at),)),
            (_ADD_KIND, (new.kind, shard, new.due_at, new.item_id, payload)),
            (_ADD_KIND_NAME, (new.kind,)),
        ]
    return writes


class CassandraSchedules:
    """The schedule operations of the Cassandra store."""

    def __init__(self, cql: Cql) -> None:
        self._cql = cql

    def put(self, item: ScheduleItem) -> None:
        old = self.get(item.item_id)
        write = (_WRITE_ITEM, (item.item_id, item.due_at, item.kind, dumps(item.payload)))
        self._cql.batch([*_index_changes(old, item), write])

    def replace(self, current: ScheduleItem, new: ScheduleItem | None) -> bool:
        expected = (current.due_at, current.kind, dumps(current.payload))
        if new is None:
            applied, _ = self._cql.cas(_DROP_ITEM_IF, (current.item_id, *expected))
        else:
            changes = (new.due_at, new.kind, dumps(new.payload), current.item_id, *expected)
            applied, _ = self._cql.cas(_REPLACE_ITEM, changes)
        if applied:
            # A crash before this leaves current's index rows: the next claim of them finds
            # the item changed and repairs them (``_reindex``).
            self._cql.batch(_index_changes(current, new))
        return applied

    def remove(self, item_id: str) -> None:
        old = self.get(item_id)
        self._cql.batch([(_DROP_ITEM, (item_id,)), *_index_changes(old, None)])

    def get(self, item_id: str) -> ScheduleItem | None:
        row = self._cql.read_one(_READ_ITEM, (item_id,))
        # A row without a kind is the remains of a claim written after a removal.
        if row is None or row.kind is None:
            return None
        return ScheduleItem(item_id, row.due_at, row.kind, json.loads(row.payload))

    def claim(self, item: ScheduleItem, claimant: str, ttl_s: float, now: float) -> bool:
        until = now + ttl_s
        payload = dumps(item.payload)
        applied, current = self._cql.cas(
            _CLAIM, (claimant, until, item.item_id, now, item.due_at, item.kind, payload)
        )
        if applied:
            self._cql.write(_MIRROR_CLAIM, (until, *_due_key(item)))
            return True
        stored = tuple(getattr(current, column, None) for column in ("due_at", "kind", "payload"))
        if stored != (item.due_at, item.kind, payload):
            self._reindex(item)
        return False

    def _reindex(self, seen: ScheduleItem) -> None:
        """``seen`` came from the indexes and is stored no more: a put raced with the scan,
        or a replace was cut short before its index writes. Drop its index rows, then
        index the stored item again (a put racing with this may have used the same rows)."""
        self._cql.batch(_index_changes(seen, None))
        stored = self.get(seen.item_id)
        if stored is not None:
            self._cql.batch(_index_changes(None, stored))

    def due(self, until: float, now: float, limit: int) -> list[ScheduleItem]:
        found: list[ScheduleItem] = []
        last_bucket = bucket_of(until)
        for marker in self._cql.read(_READ_BUCKETS, (last_bucket,)):
            bucket = marker.bucket
            shards = self._cql.read_many(
                [(_READ_DUE, (bucket, shard, until)) for shard in range(SCHEDULE_SHARDS)]
            )
            rows = [row for shard_rows in shards for row in shard_rows]
            if not rows and bucket < last_bucket:
                self._forget_bucket_if_old(bucket)
            for row in rows:
                if row.kind is None:  # a claim mirrored onto an index row removed meanwhile
                    key = (bucket, shard_of(row.item_id), row.due_at, row.item_id)
                    self._cql.write(_DROP_DUE, key)
                    continue
                if row.claim_until is not None and row.claim_until > now:
                    continue
                found.append(
                    ScheduleItem(row.item_id, row.due_at, row.kind, json.loads(row.payload))
                )
            if len(found) >= limit:
                break
        found.sort(key=_sort_key)
        return found[:limit]

    def _forget_bucket_if_old(self, bucket: int) -> None:
        if (bucket + 1) * BUCKET_S > time.time() - _EMPTY_BUCKET_AGE_S:
            return
        self._cql.write(_DROP_BUCKET, (bucket,))
        # An item put into this bucket while it was scanned would be missed: look again.
        shards = self._cql.read_many(
            [(_ANY_IN_BUCKET, (bucket, shard)) for shard in range(SCHEDULE_SHARDS)]
        )
        if any(shards):
            self._cql.write(_ADD_BUCKET, (bucket,))

    def by_kind(self, kind: str | None, limit: int) -> list[ScheduleItem]:
        partitions = [
            (name, shard)
            for name in ([kind] if kind is not None else self._kind_names())
            for shard in range(SCHEDULE_SHARDS)
        ]
        results = self._cql.read_many([(_READ_KIND, (*key, limit)) for key in partitions])
        streams = [
            [ScheduleItem(row.item_id, row.due_at, name, json.loads(row.payload)) for row in rows]
            for (name, _shard), rows in zip(partitions, results, strict=True)
        ]
        # Each partition is sorted by (due_at, item_id): merge them.
        return list(heapq.merge(*streams, key=_sort_key))[:limit]

    def _kind_names(self) -> list[str]:
        return [row.kind for row in self._cql.read(_READ_KIND_NAMES)]
