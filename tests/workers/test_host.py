"""The session host against a store, driven by hand: fencing, cache validation, outbox.

Runs on the in-memory store and on a real Redis store (same contract), with simulated
nodes (``rig``) so that the test decides which node runs a session and when.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from counting import Counting
from procs import counter_doc
from rig import Node, make_node

import workers.orchestrator as orchestrator_module
from orchestrion.config import Config, ScxmlConfig, WorkerConfig
from orchestrion.errors import LeaseLost, SessionNotFound
from persistence.contract import Lease, MailboxEntry, Store
from persistence.memory import MemoryStore
from persistence.redis_store import RedisStore
from persistence.resilient import ResilientStore
from workers.celery_app import SHARED_QUEUE, node_queue

PINGER = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
       datamodel="ecmascript" initial="idle" _persist="true">
  <datamodel><data id="target" expr="''"/></datamodel>
  <state id="idle">
    <transition event="go">
      <send eventexpr="'item'" targetexpr="'#_scxml_' + _event.data.target"
            namelist="seq"/>
    </transition>
  </state>
  <script>var seq = 7;</script>
</scxml>"""


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    server = request.getfixturevalue("redis_server")
    backend = RedisStore.from_url(server.url, prefix=f"t{uuid.uuid4().hex[:8]}")
    yield backend
    backend.close()


def seen(node: Node, sessionid: str) -> list[Any]:
    values: list[Any] = node.orchestrator.query(sessionid)["datamodel"]["seen"]
    return values


def test_events_are_applied_once_in_order_and_the_mailbox_is_trimmed(store: Store) -> None:
    a = make_node(store, "a", Config(worker=WorkerConfig(batch_size=2)))
    sid = a.orchestrator.start_session(source=counter_doc())
    for seq in range(5):
        a.orchestrator.send_event(sid, "item", {"seq": seq}, event_id=f"e{seq}")
    a.orchestrator.send_event(sid, "item", {"seq": 2}, event_id="e2")  # a duplicate
    a.host.drain(sid)
    assert seen(a, sid) == [0, 1, 2, 3, 4]
    record = store.read_session(sid)
    assert record is not None and record.applied_seq == 5  # the duplicate got no seq
    assert [e.seq for e in store.read_mailbox(sid, 0)] == [5], "trimmed in bulk, per batch_size"
    assert store.owner_of(sid) == "a"
    assert record.outbox == ()
    # The safety net stays armed until it fires; firing it now finds nothing to do.
    assert store.get_schedule(f"mailbox:{sid}") is not None
    assert not a.orchestrator.wake_if_pending(sid)


class StealingStore:
    """Delegates to a real store; on the first mailbox read, another owner takes the lease."""

    def __init__(self, inner: Store, ttl_s: float) -> None:
        self._inner = inner
        self._ttl_s = ttl_s
        self.stolen: Lease | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def acquire_lease(self, sessionid: str, owner: str, ttl_s: float, now: float) -> Lease | None:
        return self._inner.acquire_lease(sessionid, owner, self._ttl_s, now)

    def read_mailbox(self, sessionid: str, after_seq: int, limit: int = 1000) -> list[MailboxEntry]:
        entries = self._inner.read_mailbox(sessionid, after_seq, limit)
        if self.stolen is None:
            import time

            # The first runner's lease has expired (ttl ~0): another node takes it over.
            time.sleep(0.05)
            self.stolen = self._inner.acquire_lease(sessionid, "thief", 30, time.time())
        return entries


def test_a_runner_whose_lease_was_taken_cannot_write(store: Store) -> None:
    a = make_node(store, "a")
    sid = a.orchestrator.start_session(source=counter_doc())
    a.host.drain(sid)
    before = store.read_session(sid)
    assert before is not None
    a.orchestrator.send_event(sid, "item", {"seq": 1})
    a.host.close()  # a gives its lease up; the slow node takes one that expires at once
    stealing = StealingStore(store, ttl_s=0.01)
    slow = make_node(stealing, "slow")  # type: ignore[arg-type]
    slow.host.drain(sid)
    assert stealing.stolen is not None, "the thief got the lease"
    after = store.read_session(sid)
    assert after is not None
    assert after.version == before.version, "the fenced write was refused"
    assert len(store.read_mailbox(sid, 0)) == 1, "the event is still there for the new owner"
    with pytest.raises(LeaseLost):
        store.write_session(
            after.__class__(**{**after.__dict__, "version": after.version + 1}),
            fence=stealing.stolen.fence - 1,
        )
    store.release_lease(stealing.stolen)
    a.host.drain(sid)
    assert seen(a, sid) == [1]


def test_the_cache_is_used_only_while_the_stored_version_matches(store: Store) -> None:
    a, b = make_node(store, "a"), make_node(store, "b")
    sid = a.orchestrator.start_session(source=counter_doc())
    a.orchestrator.send_event(sid, "item", {"seq": 0})
    a.host.drain(sid)
    a.orchestrator.send_event(sid, "item", {"seq": 1})
    a.host.drain(sid)
    assert a.cache.hits == 1, "the second run used the cached session"
    assert a.host.stats["restores"] == 0
    a.host.close()  # a stops holding the lease (as if it was busy elsewhere for a while)
    b.orchestrator.send_event(sid, "item", {"seq": 2})
    b.host.drain(sid)  # node b restores it from the store and moves the version on
    assert store.owner_of(sid) == "b"
    b.host.close()
    a.orchestrator.send_event(sid, "item", {"seq": 3})
    a.host.drain(sid)
    assert a.host.stats["restores"] == 1, "a's cached copy was stale: its write was refused"
    assert seen(a, sid) == [0, 1, 2, 3]
    assert store.owner_of(sid) == "a"


class CrashingDispatchError(Exception):
    pass


def test_an_outbox_left_by_a_crash_is_dispatched_once(store: Store) -> None:
    a = make_node(store, "a")
    target = a.orchestrator.start_session(source=counter_doc())
    pinger = a.orchestrator.start_session(source=PINGER)
    a.host.drain(target)
    a.host.drain(pinger)
    a.orchestrator.send_event(pinger, "go", {"target": target})

    a.host.close()
    crashing = make_node(store, "crashing")
    original = crashing.host._outbox.dispatch

    def crash(*args: Any) -> None:
        raise CrashingDispatchError

    crashing.host._outbox.dispatch = crash  # type: ignore[method-assign,assignment]
    with pytest.raises(CrashingDispatchError):
        crashing.host.drain(pinger)
    crashing.host._outbox.dispatch = original  # type: ignore[method-assign]
    record = store.read_session(pinger)
    assert record is not None and len(record.outbox) == 1, "stored with its outbox"
    assert store.read_mailbox(target, 0) == [], "nothing left before the state was stored"

    lease = store.acquire_lease(pinger, "crashing", 0.01, 0)  # the crashed lease expires
    assert lease is not None
    a.host.drain(pinger)  # the next runner dispatches the leftover outbox
    a.host._outbox.dispatch(pinger, record.version, record.outbox)  # and again: a no-op
    entries = store.read_mailbox(target, 0)
    assert len(entries) == 1
    assert json.loads(entries[0].payload)["event"]["data"] == {"seq": 7}
    after = store.read_session(pinger)
    assert after is not None and after.outbox == ()
    a.host.drain(target)
    assert seen(a, target) == [7]


def test_terminate_is_ordered_after_the_events_accepted_before_it(store: Store) -> None:
    a = make_node(store, "a")
    sid = a.orchestrator.start_session(source=counter_doc())
    a.orchestrator.send_event(sid, "item", {"seq": 0})
    a.orchestrator.terminate(sid, reason="reaped")
    a.orchestrator.terminate(sid, reason="reaped")  # repeated: deduplicated
    a.host.drain(sid)
    finished = store.read_finished(sid)
    assert finished is not None and finished.reason == "reaped"
    assert store.read_session(sid) is None
    assert a.orchestrator.query(sid)["status"] == "finished"


def test_delayed_sends_put_a_wakeup_item_at_the_next_due_time(store: Store) -> None:
    doc = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" initial="wait"
      _persist="true">
      <state id="wait">
        <onentry><send event="tick" delay="60s"/></onentry>
        <transition event="tick" target="end"/>
      </state>
      <final id="end"/>
    </scxml>"""
    a = make_node(store, "a")
    sid = a.orchestrator.start_session(source=doc)
    import time

    before = time.time()
    a.host.drain(sid)
    item = store.get_schedule(f"wakeup:{sid}")
    assert item is not None and item.kind == "wakeup"
    assert before + 59 < item.due_at < time.time() + 61
    a.orchestrator.terminate(sid)
    a.host.drain(sid)
    assert store.get_schedule(f"wakeup:{sid}") is None


def test_a_session_stuck_in_an_endless_macrostep_is_ended(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.interpreter import Interpreter

    monkeypatch.setattr(Interpreter, "max_microsteps", 200)  # the default takes a while
    doc = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" initial="a"
           _persist="true">
      <state id="a">
        <transition event="loop" target="b"/>
      </state>
      <state id="b"><transition target="a2"/></state>
      <state id="a2"><transition target="b"/></state>
    </scxml>"""
    a = make_node(store, "a")
    sid = a.orchestrator.start_session(source=doc)
    a.host.drain(sid)
    a.orchestrator.send_event(sid, "loop")
    a.host.drain(sid)
    finished = store.read_finished(sid)
    assert finished is not None and finished.reason == "failed"
    assert store.read_session(sid) is None


class DyingStore:
    """Delegates to a real store; the runner 'dies' on its first mailbox read."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.died = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def read_mailbox(self, sessionid: str, after_seq: int, limit: int = 1000) -> list[MailboxEntry]:
        if not self.died:
            self.died = True
            raise KeyboardInterrupt("the runner was killed mid-drain")
        return self._inner.read_mailbox(sessionid, after_seq, limit)


def test_a_runner_that_dies_mid_drain_leaves_the_safety_net_armed(store: Store) -> None:
    """The server-less transports drop a killed worker's message: the beat's item must stay."""
    a = make_node(store, "a")
    sid = a.orchestrator.start_session(source=counter_doc())
    a.host.drain(sid)
    a.orchestrator.send_event(sid, "item", {"seq": 0}, event_id="e0")
    a.host.close()
    dying = make_node(DyingStore(store), "dying")  # type: ignore[arg-type]
    with pytest.raises(KeyboardInterrupt):
        dying.host.drain(sid)
    assert store.get_schedule(f"mailbox:{sid}") is not None, "nothing would wake the session"
    assert a.orchestrator.wake_if_pending(sid), "the beat would find the event pending"
    a.host.drain(sid)
    assert seen(a, sid) == [0]
    assert not a.orchestrator.wake_if_pending(sid), "nothing is pending once drained"


def test_an_ended_session_leaves_no_wakeup_items(store: Store) -> None:
    a = make_node(store, "a")
    sid = a.orchestrator.start_session(source=counter_doc())
    a.host.drain(sid)
    a.orchestrator.terminate(sid)
    a.host.drain(sid)
    assert store.read_session(sid) is None
    assert store.get_schedule(f"mailbox:{sid}") is None
    assert store.get_schedule(f"wakeup:{sid}") is None


GREEDY = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
       datamodel="ecmascript" initial="idle" _persist="true">
  <state id="idle"><transition event="grow" target="trying"/></state>
  <state id="trying">
    <onentry>
      <script>(function () { return new Array(4 * 1024 * 1024).fill(1.5).length; })();</script>
      <raise event="done"/>
    </onentry>
    <transition event="error.execution" target="refused"/>
    <transition event="done" target="grown"/>
  </state>
  <state id="grown"/>
  <state id="refused"/>
</scxml>"""


@pytest.mark.parametrize(("limit_mb", "expected"), [(8, "refused"), (256, "grown")])
def test_the_configured_script_memory_limit_bounds_a_session(
    store: Store, limit_mb: int, expected: str
) -> None:
    config = Config(scxml=ScxmlConfig(script_memory_limit_mb=limit_mb))
    a = make_node(store, "a", config)
    sid = a.orchestrator.start_session(source=GREEDY)
    a.orchestrator.send_event(sid, "grow")
    a.host.drain(sid)
    assert a.orchestrator.query(sid)["configuration"] == [expected]


def test_a_node_keeps_its_lease_between_drains_and_others_are_sent_to_it(store: Store) -> None:
    counting = Counting(store)
    a = make_node(counting, "a")  # type: ignore[arg-type]
    b = make_node(store, "b")
    sid = a.orchestrator.start_session(source=counter_doc())
    a.host.drain(sid)
    for seq in range(3):
        a.orchestrator.send_event(sid, "item", {"seq": seq}, event_id=f"e{seq}")
        a.host.drain(sid)
    assert seen(a, sid) == [0, 1, 2]
    assert counting.calls["acquire_lease"] == 1, "one grant serves every drain"
    assert counting.calls["release_lease"] == 0
    assert counting.calls["put_schedule"] == 1, "the safety net was put once, at the start"
    assert counting.calls["remove_schedule"] == 0, "drains leave the safety net alone"

    store.heartbeat("a", time.time())
    b.orchestrator.send_event(sid, "item", {"seq": 3}, event_id="e3")
    b.orchestrator.waker.flush()
    b.published.clear()
    b.host.drain(sid)  # a holds the lease: b hands the wake-up to a's queue
    assert seen(a, sid) == [0, 1, 2]
    assert b.published == [(node_queue("a"), [sid])]
    a.host.close()  # a stops: its leases are released at once
    b.host.drain(sid)
    assert seen(b, sid) == [0, 1, 2, 3]


class BlockingStore:
    """Delegates to a real store; the first mailbox read waits until ``release`` is set."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.reading = threading.Event()
        self.release = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def read_mailbox(self, sessionid: str, after_seq: int, limit: int = 1000) -> list[MailboxEntry]:
        if not self.reading.is_set():
            self.reading.set()
            assert self.release.wait(10)
        return self._inner.read_mailbox(sessionid, after_seq, limit)


def test_a_wakeup_during_a_drain_on_the_same_node_makes_that_drain_look_again(
    store: Store,
) -> None:
    a = make_node(store, "a")
    sid = a.orchestrator.start_session(source=counter_doc())
    a.host.drain(sid)
    blocking = BlockingStore(store)
    a2 = make_node(blocking, "a2")  # type: ignore[arg-type]
    a.host.close()
    first = threading.Thread(target=a2.host.drain, args=(sid,))
    first.start()
    assert blocking.reading.wait(10)
    a2.orchestrator.send_event(sid, "item", {"seq": 0}, event_id="e0")
    a2.host.drain(sid)  # returns at once: the first drain is still running here
    assert a2.host.stats["drains"] == 1
    blocking.release.set()
    first.join(10)
    assert seen(a2, sid) == [0]
    assert a2.host.stats["drains"] == 2, "the running drain looked once more"


def test_the_safety_net_is_put_again_only_after_half_its_grace(store: Store) -> None:
    counting = Counting(store)
    config = Config(worker=WorkerConfig(lease_ttl=0.4))
    a = make_node(counting, "a", config)  # type: ignore[arg-type]
    sid = a.orchestrator.start_session(source=counter_doc())
    a.orchestrator.send_event(sid, "item", {"seq": 0}, event_id="e0")
    assert counting.calls["put_schedule"] == 1
    first_due = store.get_schedule(f"mailbox:{sid}")
    time.sleep(0.25)
    a.orchestrator.send_event(sid, "item", {"seq": 1}, event_id="e1")
    assert counting.calls["put_schedule"] == 2
    again = store.get_schedule(f"mailbox:{sid}")
    assert first_due is not None and again is not None and again.due_at > first_due.due_at


def test_a_non_persisted_session_leaves_nothing_pending_after_its_drain(store: Store) -> None:
    a = make_node(store, "a")
    sid = a.orchestrator.start_session(source=counter_doc(persist=False))
    assert a.orchestrator.wake_if_pending(sid), "its start is pending"
    a.host.drain(sid)
    a.orchestrator.send_event(sid, "item", {"seq": 0}, event_id="e0")
    assert a.orchestrator.wake_if_pending(sid)
    a.host.drain(sid)
    assert not a.orchestrator.wake_if_pending(sid)
    assert store.read_mailbox(sid, 0) == []


def test_a_live_query_waits_for_a_running_drain(store: Store) -> None:
    a = make_node(store, "a")
    sid = a.orchestrator.start_session(source=counter_doc(persist=False))
    a.host.drain(sid)
    assert a.host.query_transient("not-here", time.time() + 10) is None
    with a.host._draining_lock:  # a drain of the session is running on another thread
        a.host._draining[sid] = False
    answers: list[Any] = []
    until = time.time() + 10
    asking = threading.Thread(target=lambda: answers.append(a.host.query_transient(sid, until)))
    asking.start()
    time.sleep(0.2)
    assert answers == [], "the query must not read the session during a drain"
    with a.host._draining_lock:
        del a.host._draining[sid]
    asking.join(timeout=5)
    assert answers == [{"configuration": ["run"], "datamodel": {"seen": []}}]


def test_a_live_query_gives_up_when_the_drains_outlast_its_asker(store: Store) -> None:
    a = make_node(store, "a")
    sid = a.orchestrator.start_session(source=counter_doc(persist=False))
    a.host.drain(sid)
    with a.host._draining_lock:  # a drain that goes on and on
        a.host._draining[sid] = False
    started = time.monotonic()
    assert a.host.query_transient(sid, time.time() + 0.3) is None
    assert time.monotonic() - started < 2, "the worker thread is handed back"
    with a.host._draining_lock:
        assert a.host._draining[sid] is False, "the running drain keeps its claim"
        del a.host._draining[sid]


def test_a_wake_up_during_a_live_query_is_drained_after_it(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = make_node(store, "a")
    sid = a.orchestrator.start_session(source=counter_doc(persist=False))
    a.host.drain(sid)
    a.orchestrator.send_event(sid, "item", {"seq": 7}, event_id="e7")
    session = a.host._transient[sid].session
    query = session.query

    def query_while_a_wake_up_comes() -> dict[str, Any]:
        a.host.drain(sid)  # a wake-up meanwhile: the query holds the session, it must wait
        return query()

    monkeypatch.setattr(session, "query", query_while_a_wake_up_comes)
    assert a.host.query_transient(sid, time.time() + 10) == {
        "configuration": ["run"],
        "datamodel": {"seen": []},
    }
    monkeypatch.undo()
    assert a.host.query_transient(sid, time.time() + 10) == {
        "configuration": ["run"],
        "datamodel": {"seen": [7]},
    }


def test_events_accepted_after_the_end_are_dropped_with_the_lease(store: Store) -> None:
    a = make_node(store, "a")
    sid = a.orchestrator.start_session(source=counter_doc())
    a.host.drain(sid)
    a.orchestrator.send_event(sid, "stop", event_id="stop")
    a.host.drain(sid)
    finished = store.read_finished(sid)
    assert finished is not None and finished.final_state == "done"
    # The facade still trusts the session's route: it accepts an event for it.
    a.orchestrator.send_event(sid, "item", {"seq": 1}, event_id="late")
    assert [entry.event_id for entry in store.read_mailbox(sid, 0)] == ["client:late"]
    a.host.drain(sid)
    assert store.read_mailbox(sid, 0) == []
    assert store.read_finished(sid) == finished
    assert store.read_session(sid) is None
    assert store.acquire_lease(sid, "b", 10, time.time()) is not None, "a kept no lease"


def test_the_safety_net_wakes_a_pending_session_on_one_read_of_its_record(store: Store) -> None:
    counting = Counting(store)
    a = make_node(counting, "a")  # type: ignore[arg-type]
    sid = a.orchestrator.start_session(source=counter_doc())
    a.host.drain(sid)
    a.orchestrator.send_event(sid, "item", {"seq": 1}, event_id="e1")
    a.orchestrator.waker.flush()
    time.sleep(0.1)  # the waker's own thread may still be publishing the event's wake-up
    a.published.clear()
    counting.calls.clear()
    assert a.orchestrator.wake_if_pending(sid)
    a.orchestrator.waker.flush()
    assert [ids for _, ids in a.published] == [[sid]]
    assert counting.calls["read_session"] == 1


def test_a_running_sessions_route_is_refreshed_from_its_owner_alone(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(orchestrator_module, "ROUTE_TTL_S", 0.0)  # every accept refreshes
    counting = Counting(store)
    a = make_node(counting, "a")  # type: ignore[arg-type]
    sid = a.orchestrator.start_session(source=counter_doc())
    a.host.drain(sid)
    a.orchestrator.send_event(sid, "item", {"seq": 0}, event_id="e0")  # learns its kind
    counting.calls.clear()
    a.orchestrator.send_event(sid, "item", {"seq": 1}, event_id="e1")
    assert (counting.calls["read_session"], counting.calls["owner_of"]) == (0, 1)
    a.orchestrator.send_event(sid, "stop", event_id="stop")
    a.host.drain(sid)
    assert store.read_finished(sid) is not None
    with pytest.raises(SessionNotFound):  # its end dropped its owner: the record is read
        a.orchestrator.send_event(sid, "item", {"seq": 2}, event_id="e2")


def parent_of_a_child(child_persist: bool) -> str:
    """A parent that invokes ``kid`` and records how it ended; the child tells it its id,
    then loops forever on ``loop``."""
    return f"""<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
           datamodel="ecmascript" initial="waiting" _persist="true">
      <datamodel><data id="kid" expr="''"/><data id="ended" expr="null"/></datamodel>
      <state id="waiting">
        <invoke id="kid" type="scxml"><content>
          <scxml version="1.0" datamodel="ecmascript" initial="work"
                 _persist="{str(child_persist).lower()}">
            <state id="work">
              <onentry>
                <send target="#_parent" event="ready"><param name="sid" expr="_sessionid"/></send>
              </onentry>
              <transition event="loop" target="b"/>
            </state>
            <state id="b"><transition target="c"/></state>
            <state id="c"><transition target="b"/></state>
          </scxml>
        </content></invoke>
        <transition event="ready"><assign location="kid" expr="_event.data.sid"/></transition>
        <transition event="error.platform.invoke.kid" target="told">
          <assign location="ended"
                  expr="{{name: _event.name, invokeid: _event.invokeid, data: _event.data}}"/>
        </transition>
        <transition event="done.invoke.kid" target="done"/>
        <transition event="leave" target="left"/>
      </state>
      <state id="told"/>
      <state id="done"/>
      <state id="left"/>
    </scxml>"""


def run_until_quiet(*nodes: Node) -> None:
    """Drain every woken session on the node its wake-up was sent to (the first node for
    the shared queue), until no session is woken."""
    by_queue = {node_queue(node.name): node for node in nodes}
    for _ in range(100):
        for node in nodes:
            node.orchestrator.waker.flush()
        woken = [(queue, sid) for node in nodes for queue, ids in node.published for sid in ids]
        for node in nodes:
            node.published.clear()
        if not woken:
            return
        for queue, sid in woken:
            by_queue.get(queue, nodes[0]).host.drain(sid)
    raise AssertionError("the sessions kept waking each other")


def started_child(node: Node, child_persist: bool) -> tuple[str, str]:
    parent = node.orchestrator.start_session(source=parent_of_a_child(child_persist))
    node.host.drain(parent)
    run_until_quiet(node)
    kid: str = node.orchestrator.query(parent)["datamodel"]["kid"]
    assert kid and node.orchestrator.query(kid)["status"] == "running"
    return parent, kid


def told_parent(node: Node, parent: str) -> Any:
    state = node.orchestrator.query(parent)
    assert state["configuration"] == ["told"], state
    return state["datamodel"]["ended"]


@pytest.mark.parametrize("child_persist", [True, False])
def test_a_parent_is_told_when_its_child_is_terminated(store: Store, child_persist: bool) -> None:
    a = make_node(store, "a")
    parent, kid = started_child(a, child_persist)
    a.orchestrator.terminate(kid, reason="max-lifetime")
    run_until_quiet(a)
    assert told_parent(a, parent) == {
        "name": "error.platform.invoke.kid",
        "invokeid": "kid",
        "data": {"sessionid": kid, "reason": "max-lifetime"},
    }


@pytest.mark.parametrize("child_persist", [True, False])
def test_a_parent_is_told_when_its_child_fails(
    store: Store, child_persist: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.interpreter import Interpreter

    monkeypatch.setattr(Interpreter, "max_microsteps", 200)
    a = make_node(store, "a")
    parent, kid = started_child(a, child_persist)
    a.orchestrator.send_event(kid, "loop")
    run_until_quiet(a)
    assert told_parent(a, parent)["data"] == {"sessionid": kid, "reason": "failed"}
    assert a.orchestrator.query(kid)["status"] == "finished"


def test_a_parent_is_told_when_its_non_persisted_child_is_lost_with_its_node(
    store: Store,
) -> None:
    short_leases = Config(worker=WorkerConfig(lease_ttl=0.2))
    a = make_node(store, "a", short_leases, node_alive=lambda node: node != "b")
    b = make_node(store, "b", short_leases)
    parent = a.orchestrator.start_session(source=parent_of_a_child(child_persist=False))
    a.host.drain(parent)
    a.orchestrator.waker.flush()
    kid = next(sid for _, ids in a.published for sid in ids if sid != parent)
    a.published.clear()
    b.host.drain(kid)  # the child lives on b, which then dies
    run_until_quiet(a, b)
    time.sleep(0.3)  # b's lease on the child expires with b
    a.orchestrator.send_event(kid, "anything")
    a.orchestrator.waker.flush()
    a.published.clear()
    a.host.drain(kid)  # a finds the child's node dead
    run_until_quiet(a)
    assert told_parent(a, parent)["data"] == {"sessionid": kid, "reason": "lost"}


def test_a_child_its_parent_cancels_does_not_tell_it(store: Store) -> None:
    a = make_node(store, "a")
    parent, kid = started_child(a, child_persist=True)
    a.orchestrator.send_event(parent, "leave")
    run_until_quiet(a)
    finished = store.read_finished(kid)
    assert finished is not None and finished.reason == "cancelled"
    names = [json.loads(entry.payload)["event"]["name"] for entry in store.read_mailbox(parent, 0)]
    assert names == ["ready", "leave"]


def test_wake_ups_of_a_non_persisted_session_whose_node_died_go_to_any_worker(
    store: Store,
) -> None:
    a = make_node(store, "a")
    sid = a.orchestrator.start_session(source=counter_doc(persist=False))
    a.host.drain(sid)  # it lives on a from now on
    store.heartbeat("a", time.time())
    assert make_node(store, "b").orchestrator.route_of(sid) == node_queue("a")
    store.heartbeat("a", time.time() - 3600)
    c = make_node(store, "c")
    assert c.orchestrator.route_of(sid) == SHARED_QUEUE  # where a worker declares it lost
    assert c.orchestrator.wake(sid)
    assert not c.orchestrator.wake("no-such-session")


def test_after_a_store_outage_a_silent_node_keeps_its_sessions_until_it_could_heartbeat(
    store: Store,
) -> None:
    resilient = ResilientStore(store)
    a = make_node(resilient, "a")
    sid = a.orchestrator.start_session(source=counter_doc(persist=False))
    a.host.drain(sid)
    resilient.heartbeat("a", time.time() - 3600)  # written before a long outage
    resilient.alarm.raise_("connection refused")
    resilient.alarm.clear()
    # The outage just ended: a could not heartbeat during it, so it is not declared dead.
    assert make_node(resilient, "b").orchestrator.route_of(sid) == node_queue("a")
