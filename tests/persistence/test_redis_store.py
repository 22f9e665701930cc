"""What is particular to the Redis backend: key layout, slots, expiry, namespaces."""

from __future__ import annotations

import redis
from redis.crc import key_slot

from persistence.contract import FinishedSession, ScheduleItem, SessionRecord
from persistence.redis_store import RedisStore


def open_redis(url: str, prefix: str) -> RedisStore:
    return RedisStore.from_url(url, prefix)


def test_a_sessions_keys_share_one_slot_and_global_indexes_another(
    redis_server: object, ns: str
) -> None:
    url = redis_server.url  # type: ignore[attr-defined]
    store = open_redis(url, ns)
    sid = f"{ns}-s"
    lease = store.acquire_lease(sid, "node", 30, 1.0)
    assert lease is not None
    store.write_session(SessionRecord(sid, "h", "{}", 1), fence=lease.fence)
    store.append_events(sid, [("e", "{}")])
    store.put_schedule(ScheduleItem(f"{ns}-i", 1.0, "wake", {}))
    store.set_owner(sid, "node")
    store.heartbeat("node", 1.0)
    client = redis.Redis.from_url(url)
    keys = [key.decode() for key in client.scan_iter(match=f"{ns}:*")]
    session_keys = [key for key in keys if f"{{{sid}}}" in key]
    global_keys = [key for key in keys if f"{{{ns}}}" in key]
    assert len(session_keys) == 4  # record, mailbox index, mailbox payloads, lease
    assert len({key_slot(key.encode()) for key in session_keys}) == 1
    assert len(global_keys) >= 4
    assert len({key_slot(key.encode()) for key in global_keys}) == 1
    assert set(keys) == set(session_keys) | set(global_keys)
    store.close()


def test_finished_records_expire_in_redis_itself(redis_server: object, ns: str) -> None:
    url = redis_server.url  # type: ignore[attr-defined]
    store = open_redis(url, ns)
    sid = f"{ns}-s"
    store.write_session(SessionRecord(sid, "h", "{}", 1))
    store.finish_session(sid, FinishedSession(sid, "done", 5.0), ttl_s=3600)
    client = redis.Redis.from_url(url)
    ttl_ms = client.pttl(f"{ns}:f:{{{sid}}}")
    assert 3_500_000 < ttl_ms <= 3_600_000
    assert client.exists(f"{ns}:s:{{{sid}}}") == 0
    store.close()


def test_cluster_names_are_separate_namespaces(redis_server: object, ns: str) -> None:
    url = redis_server.url  # type: ignore[attr-defined]
    first, second = open_redis(url, f"{ns}a"), open_redis(url, f"{ns}b")
    first.write_session(SessionRecord("same-id", "h", "first", 1))
    first.put_schedule(ScheduleItem("same-item", 1.0, "wake", {}))
    assert second.read_session("same-id") is None
    assert second.due_schedules(until=10.0, now=10.0) == []
    second.write_session(SessionRecord("same-id", "h", "second", 1))
    stored = first.read_session("same-id")
    assert stored is not None
    assert stored.snapshot == "first"
    first.close()
    second.close()
