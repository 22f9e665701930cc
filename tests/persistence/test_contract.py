"""The store contract, run against every backend (the backend name is in every test id)."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from store_fixtures import StoreFactory

from orchestrion.errors import LeaseLost, VersionConflict
from persistence.contract import (
    MAILBOX_DEDUP_WINDOW,
    FinishedSession,
    ScheduleItem,
    SessionRecord,
    Store,
)


def record(sid: str, version: int, snapshot: str = "{}", **fields: object) -> SessionRecord:
    return SessionRecord(
        sessionid=sid,
        document_hash=str(fields.pop("document_hash", "h" * 64)),
        snapshot=snapshot,
        version=version,
        **fields,  # type: ignore[arg-type]
    )


# -- sessions ---------------------------------------------------------------------------------


def test_write_and_read_back_every_field(store: Store, ns: str) -> None:
    sid = f"{ns}-s"
    assert store.read_session(sid) is None
    written = record(
        sid,
        1,
        '{"x": [1, 2, "é"]}',
        applied_seq=7,
        outbox=('{"a":1}', '{"b":2}'),
        created_at=1700000000.25,
        updated_at=1700000001.5,
    )
    store.write_session(written)
    assert store.read_session(sid) == written


def test_versions_must_follow_one_another(store: Store, ns: str) -> None:
    sid = f"{ns}-s"
    with pytest.raises(VersionConflict):
        store.write_session(record(sid, 2))  # a new session starts at 1
    store.write_session(record(sid, 1, "one"))
    store.write_session(record(sid, 2, "two"))
    for version in (1, 2, 4):  # backwards, overwrite with other content, skip ahead
        with pytest.raises(VersionConflict):
            store.write_session(record(sid, version, "other"))
    stored = store.read_session(sid)
    assert stored is not None
    assert (stored.version, stored.snapshot) == (2, "two")


def test_identical_rewrite_is_a_harmless_retry(store: Store, ns: str) -> None:
    sid = f"{ns}-s"
    store.write_session(record(sid, 1, "one"))
    store.write_session(record(sid, 1, "one"))
    stored = store.read_session(sid)
    assert stored is not None
    assert stored.version == 1


def test_clear_outbox_only_at_the_given_version(store: Store, ns: str) -> None:
    sid = f"{ns}-s"
    store.write_session(record(sid, 1, outbox=("e1",)))
    store.write_session(record(sid, 2, "2", outbox=("e2",)))
    store.clear_outbox(sid, 1)  # moved on: no-op
    stored = store.read_session(sid)
    assert stored is not None
    assert stored.outbox == ("e2",)
    store.clear_outbox(sid, 2)
    stored = store.read_session(sid)
    assert stored is not None
    assert (stored.outbox, stored.snapshot, stored.version) == ((), "2", 2)


def test_concurrent_writers_of_one_version_exactly_one_wins(
    open_more: StoreFactory, ns: str
) -> None:
    stores = [open_more(), open_more()]
    outcomes: list[str] = []
    for round_ in range(20):
        sid = f"{ns}-race-{round_}"
        stores[0].write_session(record(sid, 1))
        barrier = threading.Barrier(2)

        def write(
            store: Store, writer: int, sid: str = sid, barrier: threading.Barrier = barrier
        ) -> None:
            barrier.wait()
            try:
                store.write_session(record(sid, 2, f"by writer {writer}"))
                outcomes.append("ok")
            except VersionConflict:
                outcomes.append("conflict")

        threads = [threading.Thread(target=write, args=(s, i)) for i, s in enumerate(stores)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert Counter(outcomes) == {"ok": 20, "conflict": 20}


# -- leases -----------------------------------------------------------------------------------


def test_lease_is_exclusive_and_fences_increase(store: Store, ns: str) -> None:
    sid = f"{ns}-s"
    now = 1000.0
    first = store.acquire_lease(sid, "node-a", 10, now)
    assert first is not None
    assert (first.owner, first.expires_at) == ("node-a", 1010.0)
    assert store.acquire_lease(sid, "node-b", 10, now + 1) is None
    renewed = store.acquire_lease(sid, "node-a", 10, now + 5)
    assert renewed is not None
    assert (renewed.fence, renewed.expires_at) == (first.fence, 1015.0)
    taken = store.acquire_lease(sid, "node-b", 10, now + 16)  # a's lease expired
    assert taken is not None
    assert taken.fence > first.fence
    store.release_lease(renewed)  # a's old lease: no effect on b's
    assert store.acquire_lease(sid, "node-c", 10, now + 17) is None
    store.release_lease(taken)
    again = store.acquire_lease(sid, "node-c", 10, now + 18)
    assert again is not None
    assert again.fence > taken.fence


def test_writes_with_a_stale_fence_are_refused(store: Store, ns: str) -> None:
    sid = f"{ns}-s"
    old = store.acquire_lease(sid, "node-a", 10, 1000.0)
    assert old is not None
    store.write_session(record(sid, 1, "a1"), fence=old.fence)
    new = store.acquire_lease(sid, "node-b", 10, 1011.0)
    assert new is not None
    with pytest.raises(LeaseLost):
        store.write_session(record(sid, 2, "a2"), fence=old.fence)
    store.write_session(record(sid, 2, "b2"), fence=new.fence)
    store.release_lease(new)
    with pytest.raises(LeaseLost):  # released: no current lease
        store.write_session(record(sid, 3, "b3"), fence=new.fence)
    stored = store.read_session(sid)
    assert stored is not None
    assert (stored.version, stored.snapshot) == (2, "b2")


def test_fence_is_checked_before_the_version(store: Store, ns: str) -> None:
    sid = f"{ns}-s"
    lease = store.acquire_lease(sid, "node-a", 10, 1000.0)
    assert lease is not None
    with pytest.raises(LeaseLost):
        store.write_session(record(sid, 5), fence=lease.fence + 1)


# -- finishing ---------------------------------------------------------------------------------


def test_finish_removes_the_session_and_keeps_a_record_that_expires(store: Store, ns: str) -> None:
    sid, other = f"{ns}-s", f"{ns}-other"
    lease = store.acquire_lease(sid, "node-a", 30, time.time())
    assert lease is not None
    store.write_session(record(sid, 1), fence=lease.fence)
    store.append_events(sid, [("e1", "{}")])
    store.set_owner(sid, f"{ns}-node")
    store.set_owner(other, f"{ns}-node")
    finished_at = time.monotonic()
    store.finish_session(sid, FinishedSession(sid, "done", 1234.5), ttl_s=3)
    assert store.read_finished(sid) == FinishedSession(sid, "done", 1234.5, "final")
    assert store.read_session(sid) is None
    assert store.read_mailbox(sid, 0) == []
    assert store.owner_of(sid) is None
    assert store.sessions_of(f"{ns}-node") == [other]
    assert store.acquire_lease(sid, "node-b", 30, time.time()) is not None  # lease gone
    with pytest.raises(VersionConflict):  # a stale writer cannot bring it back
        store.write_session(record(sid, 2))
    time.sleep(max(0.0, finished_at + 4.1 - time.monotonic()))
    assert store.read_finished(sid) is None


# -- documents --------------------------------------------------------------------------------


def test_documents_are_stored_once_and_sessions_stay_pinned(store: Store, ns: str) -> None:
    v1, v2 = f"{ns}-hash-v1", f"{ns}-hash-v2"
    store.put_document(v1, "<scxml>v1</scxml>")
    store.put_document(v1, "<scxml>ignored</scxml>")  # same hash: stored once
    assert store.get_document(v1) == "<scxml>v1</scxml>"
    store.write_session(record(f"{ns}-a", 1, document_hash=v1))
    store.write_session(record(f"{ns}-b", 1, document_hash=v1))
    store.put_document(v2, "<scxml>v2</scxml>")  # the URL's document changed
    store.write_session(record(f"{ns}-c", 1, document_hash=v2))
    pinned = store.read_session(f"{ns}-a")
    assert pinned is not None
    assert store.get_document(pinned.document_hash) == "<scxml>v1</scxml>"
    newer = store.read_session(f"{ns}-c")
    assert newer is not None
    assert store.get_document(newer.document_hash) == "<scxml>v2</scxml>"
    assert store.get_document(f"{ns}-absent") is None


# -- mailboxes --------------------------------------------------------------------------------


def test_mailbox_keeps_order_and_deduplicates(store: Store, ns: str) -> None:
    sid = f"{ns}-s"
    assert store.append_events(sid, [("a", "A"), ("b", "B"), ("a", "A again")]) == [1, 2, 1]
    assert store.append_events(sid, [("c", "C"), ("b", "B again")]) == [3, 2]
    entries = store.read_mailbox(sid, 0)
    assert [(e.seq, e.event_id, e.payload) for e in entries] == [
        (1, "a", "A"),
        (2, "b", "B"),
        (3, "c", "C"),
    ]
    assert [e.seq for e in store.read_mailbox(sid, 1, limit=1)] == [2]
    store.trim_mailbox(sid, 2)
    assert [e.event_id for e in store.read_mailbox(sid, 0)] == ["c"]
    assert store.append_events(sid, [("a", "redelivered"), ("d", "D")]) == [1, 4]
    assert [e.event_id for e in store.read_mailbox(sid, 2)] == ["c", "d"]
    assert store.read_mailbox(f"{ns}-empty", 0) == []


def test_fresh_ids_are_numbered_in_order_like_any_other(store: Store, ns: str) -> None:
    sid = f"{ns}-s"
    assert store.append_events(sid, [("known", "K")]) == [1]
    assert store.append_events(sid, [("u1", "A"), ("u2", "B")], fresh_ids=True) == [2, 3]
    assert store.append_events(sid, [("known", "K again"), ("u3", "C")]) == [1, 4]
    entries = store.read_mailbox(sid, 0)
    assert [(e.seq, e.event_id) for e in entries] == [(1, "known"), (2, "u1"), (3, "u2"), (4, "u3")]


def test_trimmed_ids_are_forgotten_after_the_window(store: Store, ns: str) -> None:
    sid = f"{ns}-s"
    store.append_events(sid, [("first", "1")])
    batch = [(f"e{i}", "x") for i in range(MAILBOX_DEDUP_WINDOW + 1)]
    seqs = store.append_events(sid, batch)
    store.trim_mailbox(sid, seqs[-1])
    assert store.append_events(sid, [("first", "again")]) == [seqs[-1] + 1]
    assert store.append_events(sid, [(batch[-1][0], "dup")]) == [seqs[-1]]


# -- schedules --------------------------------------------------------------------------------


def mine(items: list[ScheduleItem], ns: str) -> list[str]:
    """The ids of this test's items (other tests share the schedule index)."""
    return [item.item_id for item in items if item.item_id.startswith(ns)]


def test_schedules_put_get_replace_remove_list(store: Store, ns: str) -> None:
    item = ScheduleItem(f"{ns}-1", 100.0, "start", {"src": "a.scxml", "n": [1]})
    store.put_schedule(item)
    assert store.get_schedule(item.item_id) == item
    moved = ScheduleItem(item.item_id, 200.0, "cron", {"expr": "* * * * *"})
    store.put_schedule(moved)
    assert store.get_schedule(item.item_id) == moved
    store.put_schedule(ScheduleItem(f"{ns}-2", 150.0, "wake", {}))
    assert mine(store.list_schedules(), ns) == [f"{ns}-2", f"{ns}-1"]
    assert mine(store.list_schedules(kind="cron"), ns) == [f"{ns}-1"]
    store.remove_schedule(item.item_id)
    assert store.get_schedule(item.item_id) is None
    store.remove_schedule(f"{ns}-absent")


def test_due_items_until_t_and_claims(store: Store, ns: str) -> None:
    items = [
        ScheduleItem(f"{ns}-{i}", due, "wake", {"i": i}) for i, due in enumerate([10.0, 20.0, 30.0])
    ]
    for item in items:
        store.put_schedule(item)
    assert mine(store.due_schedules(until=20.0, now=15.0), ns) == [f"{ns}-0", f"{ns}-1"]
    assert store.claim_schedule(items[0], "beat-a", ttl_s=5, now=15.0)
    assert not store.claim_schedule(items[0], "beat-b", ttl_s=5, now=16.0)
    assert mine(store.due_schedules(until=20.0, now=16.0), ns) == [f"{ns}-1"]
    # The claimer died: after the claim's expiry the item is due again and claimable.
    assert mine(store.due_schedules(until=20.0, now=20.0), ns) == [f"{ns}-0", f"{ns}-1"]
    assert store.claim_schedule(items[0], "beat-b", ttl_s=5, now=20.0)
    # Re-putting an item (the next cron run) drops its claim.
    store.put_schedule(ScheduleItem(f"{ns}-0", 18.0, "wake", {"i": 0}))
    assert mine(store.due_schedules(until=20.0, now=21.0), ns) == [f"{ns}-0", f"{ns}-1"]
    absent = ScheduleItem(f"{ns}-absent", 1.0, "wake", {})
    assert not store.claim_schedule(absent, "beat-a", ttl_s=5, now=21.0)
    assert len(mine(store.due_schedules(until=100.0, now=21.0, limit=2), ns)) <= 2


def test_an_item_replaced_or_removed_since_it_was_read_is_not_claimed(
    store: Store, ns: str
) -> None:
    read = ScheduleItem(f"{ns}-0", 10.0, "start", {"sessionid": "s", "n": 1})
    store.put_schedule(read)
    assert store.due_schedules(until=20.0, now=15.0) != []
    moved = ScheduleItem(read.item_id, 12.0, "start", {"sessionid": "s", "n": 1})
    store.put_schedule(moved)  # rescheduled between the scan and the claim
    assert not store.claim_schedule(read, "beat", ttl_s=5, now=15.0)
    changed = ScheduleItem(read.item_id, 12.0, "start", {"sessionid": "s", "n": 2})
    store.put_schedule(changed)  # same time, new arguments
    assert not store.claim_schedule(moved, "beat", ttl_s=5, now=15.0)
    # The indexes hold the stored version only: it is the one due, and it can be claimed.
    assert [i for i in store.due_schedules(until=20.0, now=15.0) if i.item_id == read.item_id] == [
        changed
    ]
    assert store.claim_schedule(changed, "beat", ttl_s=5, now=15.0)
    store.remove_schedule(read.item_id)
    assert not store.claim_schedule(changed, "beat", ttl_s=5, now=30.0)


def test_replace_applies_only_to_the_item_as_it_was_read(store: Store, ns: str) -> None:
    fired = ScheduleItem(f"{ns}-cron", 10.0, "cron", {"name": "c", "paused": False})
    store.put_schedule(fired)
    assert store.claim_schedule(fired, "beat", ttl_s=30, now=10.0)
    following = ScheduleItem(fired.item_id, 70.0, "cron", {"name": "c", "paused": False})
    assert store.replace_schedule(fired, following)
    assert store.get_schedule(fired.item_id) == following
    # The replacement is unclaimed, and due by its own time only.
    assert [i for i in store.due_schedules(until=80.0, now=11.0) if i.item_id == fired.item_id] == [
        following
    ]
    assert all(i.item_id != fired.item_id for i in store.due_schedules(until=60.0, now=11.0))
    # A pause landed while the next run fired: the beat's move-on changes nothing.
    paused = ScheduleItem(fired.item_id, 9e9, "cron", {"name": "c", "paused": True})
    store.put_schedule(paused)
    assert not store.replace_schedule(following, ScheduleItem(fired.item_id, 130.0, "cron", {}))
    assert store.get_schedule(fired.item_id) == paused
    assert not store.replace_schedule(following, None)
    assert store.get_schedule(fired.item_id) == paused
    # Replacing an item by itself gives its claim back (a beat stopping cleanly).
    assert store.claim_schedule(paused, "beat", ttl_s=30, now=12.0)
    assert all(i.item_id != fired.item_id for i in store.due_schedules(until=1e10, now=13.0))
    assert store.replace_schedule(paused, paused)
    assert [i for i in store.due_schedules(until=1e10, now=13.0) if i.item_id == fired.item_id] == [
        paused
    ]
    assert store.replace_schedule(paused, None)
    assert store.get_schedule(fired.item_id) is None
    assert all(i.item_id != fired.item_id for i in store.list_schedules(limit=10_000))
    assert not store.replace_schedule(paused, None)


def test_two_concurrent_claimers_run_each_item_exactly_once(
    open_more: StoreFactory, ns: str
) -> None:
    count = 60
    first = open_more()
    for i in range(count):
        first.put_schedule(ScheduleItem(f"{ns}-{i:03d}", 100.0 + i / 10, "wake", {}))
    claimed: dict[str, list[str]] = {"a": [], "b": []}
    barrier = threading.Barrier(2)

    def scheduler(name: str, store: Store) -> None:
        barrier.wait()
        for item in store.due_schedules(until=200.0, now=150.0):
            if item.item_id.startswith(ns) and store.claim_schedule(
                item, name, ttl_s=30, now=150.0
            ):
                claimed[name].append(item.item_id)

    threads = [threading.Thread(target=scheduler, args=(name, open_more())) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    together = claimed["a"] + claimed["b"]
    assert sorted(together) == [f"{ns}-{i:03d}" for i in range(count)]
    assert mine(first.due_schedules(until=200.0, now=151.0), ns) == []


# -- ownership and nodes ----------------------------------------------------------------------


def test_ownership_index_and_takeover_of_a_dead_node(store: Store, ns: str) -> None:
    dead, alive = f"{ns}-dead", f"{ns}-alive"
    sessions = [f"{ns}-s{i}" for i in range(5)]
    for sid in sessions:
        store.set_owner(sid, dead)
    store.set_owner(f"{ns}-x", alive)
    store.heartbeat(dead, 1000.0, {"pid": 1})
    store.heartbeat(alive, 1000.0)
    store.heartbeat(alive, 1100.0, {"pid": 2})
    beats = {n.node: n for n in store.nodes() if n.node.startswith(ns)}
    assert beats[dead].heartbeat_at == 1000.0
    assert beats[dead].info == {"pid": 1}
    assert (beats[alive].heartbeat_at, beats[alive].info) == (1100.0, {"pid": 2})
    stale = [n.node for n in beats.values() if n.heartbeat_at < 1100.0 - 30]
    assert stale == [dead]
    assert store.sessions_of(dead) == sessions
    for sid in store.sessions_of(dead):  # the takeover
        store.set_owner(sid, alive)
    assert store.sessions_of(dead) == []
    assert store.sessions_of(alive) == sorted([*sessions, f"{ns}-x"])
    assert store.owner_of(sessions[0]) == alive
    store.remove_node(dead)
    assert [n.node for n in store.nodes() if n.node.startswith(ns)] == [alive]
    assert store.owner_of(f"{ns}-unowned") is None


def test_remove_node_drops_what_still_names_it(store: Store, ns: str) -> None:
    node = f"{ns}-n"
    store.set_owner(f"{ns}-s", node)
    store.heartbeat(node, 1.0)
    store.remove_node(node)
    assert store.sessions_of(node) == []
    assert store.owner_of(f"{ns}-s") is None


def test_data_is_visible_to_another_store_on_the_same_backend(
    open_more: StoreFactory, ns: str
) -> None:
    writer, reader = open_more(), open_more()
    writer.write_session(record(f"{ns}-s", 1, "shared"))
    writer.put_schedule(ScheduleItem(f"{ns}-i", 1.0, "start", {}))
    stored = reader.read_session(f"{ns}-s")
    assert stored is not None
    assert stored.snapshot == "shared"
    assert reader.get_schedule(f"{ns}-i") is not None
