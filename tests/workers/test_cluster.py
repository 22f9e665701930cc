"""Sessions across real ``orchestrion worker`` processes on real Redis (store and broker)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest
from procs import Cluster, counter_doc, wait_for

from orchestrion.errors import SessionNotFound
from persistence import open_store
from workers.celery_app import SHARED_QUEUE, WAKE_TASK
from workers.orchestrator import Orchestrator

pytestmark = pytest.mark.redis

PING = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
       datamodel="ecmascript" initial="idle" _persist="false">
  <datamodel><data id="pongs" expr="0"/></datamodel>
  <state id="idle">
    <transition event="go">
      <send event="ping" targetexpr="'#_scxml_' + _event.data.peer"/>
    </transition>
    <transition event="pong" cond="pongs == 0"><assign location="pongs" expr="1"/></transition>
    <transition event="check" cond="pongs == 1" target="ok"/>
  </state>
  <final id="ok"/>
</scxml>"""

PONG = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
       datamodel="ecmascript" initial="idle" _persist="false">
  <state id="idle">
    <transition event="ping"><send event="pong" targetexpr="_event.origin"/></transition>
  </state>
</scxml>"""

PARENT = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
       datamodel="ecmascript" initial="idle" _persist="true">
  <datamodel><data id="child" expr="''"/></datamodel>
  <state id="idle"><transition event="spawn" target="calling"/></state>
  <state id="calling">
    <invoke id="kid" type="scxml">
      <content>
        <scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript"
               initial="w" _persist="false">
          <state id="w">
            <onentry><send target="#_parent" event="hello"/></onentry>
            <transition event="finish" target="end"/>
          </state>
          <final id="end"/>
        </scxml>
      </content>
    </invoke>
    <transition event="hello"><assign location="child" expr="_event.origin"/></transition>
    <transition event="go"><send target="#_kid" event="finish"/></transition>
    <transition event="done.invoke.kid" target="end"/>
  </state>
  <final id="end"/>
</scxml>"""

CHECKED_COUNTER = (
    counter_doc(persist=False)
    .replace(
        '<transition event="stop" target="done"/>',
        '<transition event="check" cond="seen.join(\',\') == _event.data.expect" target="done"/>'
        '<transition event="check" target="bad"/>',
    )
    .replace('<final id="done"/>', '<final id="done"/><final id="bad"/>')
)


@pytest.fixture
def client(redis_cluster: Cluster) -> Iterator[Orchestrator]:
    config = redis_cluster.config()
    store = open_store(config)
    orchestrator = Orchestrator(config, store)
    yield orchestrator
    orchestrator.close()
    store.close()


def running(client: Orchestrator, sessionid: str) -> bool:
    try:
        return bool(client.query(sessionid)["status"] == "running")
    except SessionNotFound:
        return False


def finished(client: Orchestrator, sessionid: str) -> Any:
    return client.store.read_finished(sessionid)


def pid_of(node: str) -> int:
    return int(node.rsplit("-", 1)[1])


def absorb_pending_pop(client: Orchestrator) -> None:
    """Feed a stopped worker's pending BRPOP an empty wake-up, so it cannot take the next.

    Redis hands a message to the longest-blocked client even if its process is stopped.
    """
    for _ in range(3):
        client.app.send_task(WAKE_TASK, args=[[]], queue=SHARED_QUEUE)
    time.sleep(0.5)


def test_send_between_sessions_held_by_different_workers(
    redis_cluster: Cluster, client: Orchestrator
) -> None:
    redis_cluster.start_workers(2)
    w0, w1 = redis_cluster.workers
    assert w0 is not None and w1 is not None
    # Pingers start while only w0 runs, pongers while only w1 runs: non-persisted
    # sessions stay on the worker that started them.
    os.kill(w1.pid, signal.SIGSTOP)
    pingers = [client.start_session(source=PING) for _ in range(4)]
    wait_for("pingers", lambda: all(running(client, s) for s in pingers), redis_cluster)
    os.kill(w1.pid, signal.SIGCONT)
    os.kill(w0.pid, signal.SIGSTOP)
    absorb_pending_pop(client)
    pongers = [client.start_session(source=PONG) for _ in range(4)]
    wait_for("pongers", lambda: all(running(client, s) for s in pongers), redis_cluster)
    os.kill(w0.pid, signal.SIGCONT)
    for ping, pong in zip(pingers, pongers, strict=True):
        assert pid_of(client.query(ping)["node"]) == w0.pid
        assert pid_of(client.query(pong)["node"]) == w1.pid
        client.send_event(ping, "go", {"peer": pong})
    time.sleep(1)
    for ping in pingers:
        client.send_event(ping, "check")
    for ping in pingers:
        done = wait_for("ping-pong", partial(finished, client, ping), redis_cluster)
        assert done.final_state == "ok"


def test_invoke_across_workers(redis_cluster: Cluster, client: Orchestrator) -> None:
    redis_cluster.start_workers(2)
    # Both workers must be up before the work arrives, or the first one takes it all.
    wait_for("both workers", lambda: len(client.store.nodes()) >= 2 or None, redis_cluster)
    parents = [client.start_session(source=PARENT) for _ in range(8)]
    wait_for("parents", lambda: all(running(client, s) for s in parents), redis_cluster)
    for parent in parents:
        client.send_event(parent, "spawn")

    def children() -> dict[str, str] | None:
        found = {p: client.query(p)["datamodel"]["child"] for p in parents}
        return found if all(found.values()) else None

    kids = wait_for("children to say hello", children, redis_cluster)
    placements = set()
    for parent, origin in kids.items():
        child = origin.removeprefix("#_scxml_")
        placements.add((client.store.owner_of(parent), client.store.owner_of(child)))
        client.send_event(parent, "go")
    for parent in parents:
        done = wait_for("parents to end", partial(finished, client, parent), redis_cluster)
        assert done.final_state == "end"
    for origin in kids.values():
        assert finished(client, origin.removeprefix("#_scxml_")).final_state == "end"
    assert any(p != c for p, c in placements), f"all children ran beside their parent: {placements}"


def test_non_persisted_session_stays_on_its_worker_and_is_lost_with_it(
    redis_cluster: Cluster, client: Orchestrator
) -> None:
    redis_cluster.start_workers(2)
    redis_cluster.start_beat()
    kept = client.start_session(source=CHECKED_COUNTER)
    lost = client.start_session(source=CHECKED_COUNTER)
    wait_for("sessions", lambda: running(client, kept) and running(client, lost), redis_cluster)
    record = client.store.read_session(kept)
    assert record is not None and "transient" in record.snapshot, "no snapshot is stored"
    owner = client.query(kept)["node"]
    assert client.store.owner_of(kept) == owner
    for seq in range(20):
        client.send_event(kept, "item", {"seq": seq})

    def live_seen() -> list[int] | None:
        # Its worker answers from memory: the configuration and the data model as they are.
        answer = client.query(kept)
        assert (answer["persisted"], answer["node"], answer["configuration"]) == (
            False,
            owner,
            ["run"],
        )
        seen: list[int] = answer["datamodel"]["seen"]
        return seen if len(seen) == 20 else None

    assert wait_for("the live data model", live_seen, redis_cluster) == list(range(20))
    with ThreadPoolExecutor(8) as pool:  # API threads ask at once
        answers = list(pool.map(lambda _: client.query(kept), range(16)))
    assert all(answer["datamodel"]["seen"] == list(range(20)) for answer in answers)
    client.send_event(kept, "check", {"expect": ",".join(str(s) for s in range(20))})
    done = wait_for("the kept session", lambda: finished(client, kept), redis_cluster)
    assert done.final_state == "done", "all 20 events applied in order, in memory"

    lost_owner = client.query(lost)["node"]
    index = next(
        i for i, p in enumerate(redis_cluster.workers) if p and p.pid == pid_of(lost_owner)
    )
    redis_cluster.kill_worker(index)
    ended = wait_for("the takeover", lambda: finished(client, lost), redis_cluster, 60)
    assert ended.reason == "lost"
