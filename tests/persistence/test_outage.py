"""When the store is gone: StoreUnavailable, the alarm, reconnection, nothing accepted lost.

The real-server tests stop and restart the servers inside the test (``redis_private``,
``cassandra_restartable``, a locked SQLite file). The unit tests of the wrapper's state
machine use a memory store that can be switched off.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import require_cassandra_backend

from orchestrion.config import Config, Endpoint, PersistenceConfig
from orchestrion.errors import StoreUnavailable, VersionConflict
from persistence import open_store
from persistence.contract import ScheduleItem, SessionRecord, Store
from persistence.memory import MemoryStore
from persistence.resilient import ResilientStore
from persistence.sqlite import SqliteStore


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.05)


class SwitchableStore(MemoryStore):
    """A memory store whose every operation fails while ``down`` (unit tests only)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.calls = 0

    def read_session(self, sessionid: str) -> SessionRecord | None:
        self.calls += 1
        if self.down:
            raise StoreUnavailable("connection refused")
        return super().read_session(sessionid)

    def write_session(self, record: SessionRecord, *, fence: int | None = None) -> None:
        self.calls += 1
        if self.down:
            raise StoreUnavailable("connection refused")
        super().write_session(record, fence=fence)

    def ping(self) -> None:
        self.read_session("__ping__")


def record(sid: str, version: int, snapshot: str = "{}") -> SessionRecord:
    return SessionRecord(sid, "h", snapshot, version)


# -- the wrapper's state machine --------------------------------------------------------------


def test_alarm_goes_on_with_the_error_and_off_when_the_store_answers() -> None:
    inner = SwitchableStore()
    store = ResilientStore(inner, initial_backoff_s=0.05, max_backoff_s=0.2)
    store.write_session(record("s", 1))
    assert store.alarm.to_json() == {"active": False, "since": None, "last_error": None}
    inner.down = True
    before = time.time()
    with pytest.raises(StoreUnavailable):
        store.read_session("s")
    assert store.alarm.active
    assert store.alarm.since is not None
    assert store.alarm.since >= before
    assert "connection refused" in (store.alarm.last_error or "")
    assert store.alarm.to_json()["active"] is True
    inner.down = False
    # Nobody calls the store: the background probe clears the alarm.
    wait_for(lambda: not store.alarm.active, 5, "the probe to clear the alarm")
    stored = store.read_session("s")
    assert stored is not None
    assert stored.version == 1
    store.close()


def test_calls_fail_fast_during_the_backoff() -> None:
    inner = SwitchableStore()
    store = ResilientStore(inner, initial_backoff_s=30, max_backoff_s=30, probe=False)
    inner.down = True
    with pytest.raises(StoreUnavailable):
        store.read_session("s")
    calls = inner.calls
    with pytest.raises(StoreUnavailable, match="next reconnection attempt"):
        store.read_session("s")
    assert inner.calls == calls  # did not wait on the dead backend
    inner.down = False
    assert store.check()  # an explicit check ignores the backoff
    assert not store.alarm.active


def test_a_refusal_proves_the_store_is_reachable() -> None:
    inner = SwitchableStore()
    store = ResilientStore(inner, initial_backoff_s=0.0, probe=False)
    inner.down = True
    with pytest.raises(StoreUnavailable):
        store.read_session("s")
    inner.down = False
    with pytest.raises(VersionConflict):
        store.write_session(record("s", 3))
    assert not store.alarm.active


def test_a_backend_that_cannot_be_opened_is_retried() -> None:
    attempts: list[int] = []

    def connect() -> Store:
        attempts.append(1)
        if len(attempts) < 3:
            raise StoreUnavailable("no route to host")
        return MemoryStore()

    store = ResilientStore(connect, initial_backoff_s=0.01, max_backoff_s=0.05)
    with pytest.raises(StoreUnavailable):
        store.read_session("s")
    assert store.alarm.active
    wait_for(lambda: not store.alarm.active, 5, "the backend to be opened")
    assert len(attempts) == 3
    assert store.read_session("s") is None
    store.close()


# -- real servers -----------------------------------------------------------------------------


def assert_outage_and_recovery(
    store: ResilientStore,
    stop: Callable[[], None],
    start: Callable[[], None],
    ns: str,
    timeout_s: float,
) -> None:
    """Data written before the outage survives it; nothing is accepted during it."""
    sid = f"{ns}-s"
    store.write_session(record(sid, 1, "before"))
    store.append_events(sid, [("e1", "one")])
    store.put_schedule(ScheduleItem(f"{ns}-i", 10.0, "wake", {"sessionid": sid}))
    stop()
    with pytest.raises(StoreUnavailable):
        store.write_session(record(sid, 2, "during"))
    for operation in (
        lambda: store.read_session(sid),
        lambda: store.append_events(sid, [("e2", "two")]),
        lambda: store.due_schedules(until=20.0, now=20.0),
    ):
        with pytest.raises(StoreUnavailable):
            operation()
    assert store.alarm.active
    assert store.alarm.last_error
    start()
    wait_for(lambda: not store.alarm.active, timeout_s, "the alarm to clear after restart")
    stored = store.read_session(sid)
    assert stored is not None
    assert (stored.version, stored.snapshot) == (1, "before")
    assert [e.event_id for e in store.read_mailbox(sid, 0)] == ["e1"]
    assert [i.item_id for i in store.due_schedules(until=20.0, now=20.0)] == [f"{ns}-i"]
    store.write_session(record(sid, 2, "after"))


def make_store(section: PersistenceConfig) -> ResilientStore:
    section = dataclasses.replace(section, reconnect_max_backoff=0.5)
    return open_store(dataclasses.replace(Config(), persistence=section))


@pytest.mark.parametrize("backend", ["redis"])
def test_outage_and_recovery_redis(backend: str, redis_private: object, ns: str) -> None:
    server = redis_private
    section = PersistenceConfig(
        type="redis",
        redis_nodes=(Endpoint(server.host, server.port),),  # type: ignore[attr-defined]
        cluster_name=ns,
    )
    store = make_store(section)
    try:
        assert_outage_and_recovery(store, server.stop, server.start, ns, 30)  # type: ignore[attr-defined]
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["redis"])
def test_store_down_at_start_raises_the_alarm_not_an_error(backend: str, ns: str) -> None:
    from servers import REDIS_PORTS, reserve_port

    port = reserve_port(REDIS_PORTS)  # reserved and free: nothing listens there
    try:
        section = PersistenceConfig(
            type="redis", redis_nodes=(Endpoint("127.0.0.1", port.port),), cluster_name=ns
        )
        store = make_store(section)
        assert store.alarm.active
        with pytest.raises(StoreUnavailable):
            store.read_session(f"{ns}-s")
        store.close()
    finally:
        port.release()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_outage_and_recovery_sqlite(backend: str, tmp_path: Path, ns: str) -> None:
    """A SQLite file held locked past the busy timeout is unavailable, then comes back."""
    path = tmp_path / "store.db"
    store = ResilientStore(
        SqliteStore(path, busy_timeout_s=0.2), initial_backoff_s=0.05, max_backoff_s=0.5
    )
    blocker = sqlite3.connect(path, isolation_level=None)

    def stop() -> None:
        blocker.execute("BEGIN EXCLUSIVE")

    def start() -> None:
        blocker.execute("COMMIT")

    try:
        assert_outage_and_recovery(store, stop, start, ns, 10)
    finally:
        blocker.close()
        store.close()


@pytest.mark.parametrize("backend", ["cassandra"])
def test_outage_and_recovery_cassandra(
    backend: str, request: pytest.FixtureRequest, ns: str
) -> None:
    require_cassandra_backend()
    node = request.getfixturevalue("cassandra_restartable")
    section = PersistenceConfig(
        type="cassandra",
        cassandra_nodes=(node.host,),
        cassandra_listenport=node.port,
        cassandra_keyspace=f"t_outage_{ns}",
        cassandra_read_consistency="ONE",
        cassandra_write_consistency="ONE",
        cassandra_serial_consistency="SERIAL",
    )
    store = make_store(section)
    try:
        assert_outage_and_recovery(store, node.stop, node.start, ns, 180)
    finally:
        store.close()
