"""The beat with real ``orchestrion worker`` and ``orchestrion beat`` processes on real
Redis (store and broker): durable delayed sends across a restart of every process,
``<cancel>``, takeover of a killed worker's sessions, hung-session reaping, scheduled
starts and terminates."""

from __future__ import annotations

import itertools
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrion.errors import SessionNotFound
from persistence import open_store
from persistence.contract import FinishedSession
from scheduler.schedules import schedule_start, schedule_terminate
from tests.workers import procs
from tests.workers.procs import Cluster, fast_recovery_env, store_env_redis
from workers.orchestrator import Orchestrator

pytestmark = pytest.mark.slow

SCXML = 'xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript"'

DELAYED = f"""<scxml {SCXML} initial="wait" _persist="true">
  <state id="wait">
    <onentry><send event="ring" delay="4s" id="timer"/></onentry>
    <transition event="ring" target="rang"/>
    <transition event="cancel"><cancel sendid="timer"/></transition>
    <transition event="check" target="quiet"/>
  </state>
  <final id="rang"/>
  <final id="quiet"/>
</scxml>"""

COUNTER = f"""<scxml {SCXML} initial="run" _persist="true">
  <datamodel><data id="seen" expr="[]"/></datamodel>
  <state id="run">
    <transition event="item"><assign location="seen" expr="seen.concat([_event.data.seq])"/>
    </transition>
    <transition event="check" cond="seen.join(',') == _event.data.expect" target="done"/>
    <transition event="check" target="bad"/>
  </state>
  <final id="done"/>
  <final id="bad"/>
</scxml>"""

WAITING = f"""<scxml {SCXML} initial="wait" _persist="true"><state id="wait"/></scxml>"""

SHORT_LIVED = f"""<scxml {SCXML} xmlns:orchestrion="http://orchestrion.dev/scxml"
    orchestrion:max-lifetime="3s" orchestrion:idle-timeout="0" initial="wait" _persist="true">
  <state id="wait"><transition event="poke"/></state>
</scxml>"""

_databases = itertools.count(1)


@pytest.fixture
def cluster(redis_server: Any) -> Iterator[Cluster]:
    import redis

    db = 8 + next(_databases) % 8
    redis.Redis(host=redis_server.host, port=redis_server.port, db=db).flushdb()
    env = {
        **store_env_redis(redis_server.host, redis_server.port, 0),
        "ORCHESTRION_PERSISTENCE_CLUSTER_NAME": f"e2e{uuid.uuid4().hex[:10]}",
        "ORCHESTRION_BROKER_URL": f"redis://{redis_server.host}:{redis_server.port}/{db}",
        **fast_recovery_env(),
        "ORCHESTRION_SCHEDULER_REAP_INTERVAL": "0.5",
    }
    procs = Cluster(env, Path(tempfile.mkdtemp(prefix="orchestrion-sched-e2e-")))
    yield procs
    procs.stop()


def client_for(cluster: Cluster) -> Orchestrator:
    config = cluster.config()
    return Orchestrator(config, open_store(config))


@pytest.fixture
def client(cluster: Cluster) -> Iterator[Orchestrator]:
    orchestrator = client_for(cluster)
    yield orchestrator
    orchestrator.close()
    orchestrator.store.close()


def wait_for(what: str, check: Callable[[], Any], cluster: Cluster) -> Any:
    return procs.wait_for(what, check, cluster, timeout_s=60)


def running(client: Orchestrator, sessionid: str) -> bool:
    try:
        return client.query(sessionid)["status"] == "running"
    except SessionNotFound:
        return False


def finished(client: Orchestrator, sessionid: str) -> FinishedSession | None:
    return client.store.read_finished(sessionid)


def kill_everything(cluster: Cluster) -> None:
    for index in range(len(cluster.workers)):
        cluster.kill_worker(index)
    if cluster.beat is not None:
        cluster.beat.kill()
        cluster.beat.wait()
        cluster.beat = None


def test_a_delayed_send_fires_after_every_process_restarted(
    cluster: Cluster, client: Orchestrator
) -> None:
    cluster.start_workers(1)
    cluster.start_beat()
    sessionid = client.start_session(source=DELAYED)
    wait_for("the session to run", lambda: running(client, sessionid), cluster)
    assert client.store.get_schedule(f"wakeup:{sessionid}") is not None
    kill_everything(cluster)
    time.sleep(5)  # the send falls due while no process runs
    cluster.workers = []
    cluster.start_workers(1)
    cluster.start_beat()
    done = wait_for("the delayed send", lambda: finished(client, sessionid), cluster)
    assert done.final_state == "rang"


def test_a_cancelled_delayed_send_never_fires(cluster: Cluster, client: Orchestrator) -> None:
    cluster.start_workers(1)
    cluster.start_beat()
    sessionid = client.start_session(source=DELAYED)
    wait_for("the session to run", lambda: running(client, sessionid), cluster)
    client.send_event(sessionid, "cancel")
    wait_for(
        "the wake-up item to go",
        lambda: client.store.get_schedule(f"wakeup:{sessionid}") is None,
        cluster,
    )
    time.sleep(5)  # past the send's due time
    assert running(client, sessionid)
    client.send_event(sessionid, "check")
    done = wait_for("the session to end", lambda: finished(client, sessionid), cluster)
    assert done.final_state == "quiet"


def test_a_killed_workers_sessions_are_taken_over_and_complete(
    cluster: Cluster, client: Orchestrator
) -> None:
    cluster.start_workers(2)
    cluster.start_beat()
    sessions = [client.start_session(source=COUNTER) for _ in range(12)]
    wait_for("sessions to run", lambda: all(running(client, s) for s in sessions), cluster)
    for seq in range(5):
        for sessionid in sessions:
            client.send_event(sessionid, "item", {"seq": seq})
    owners = {s: client.store.owner_of(s) for s in sessions}
    victim_node = max(set(owners.values()), key=list(owners.values()).count)
    victim = next(
        i for i, p in enumerate(cluster.workers) if p and victim_node.endswith(f"-{p.pid}")
    )
    cluster.kill_worker(victim)
    for seq in range(5, 10):
        for sessionid in sessions:
            client.send_event(sessionid, "item", {"seq": seq})
    expect = ",".join(str(n) for n in range(10))
    for sessionid in sessions:
        client.send_event(sessionid, "check", {"expect": expect})
    for sessionid in sessions:
        done = wait_for("sessions to complete", lambda s=sessionid: finished(client, s), cluster)
        assert done.final_state == "done", "every event applied once, in order"
    wait_for(
        "the dead node to be removed",
        lambda: victim_node not in {n.node for n in client.store.nodes()},
        cluster,
    )


def test_hung_sessions_are_reaped(cluster: Cluster) -> None:
    cluster.env["ORCHESTRION_ORCHESTRATION_IDLE_TIMEOUT"] = "2"
    cluster.start_workers(1)
    cluster.start_beat()
    client = client_for(cluster)
    try:
        idle = client.start_session(source=WAITING)
        short = client.start_session(source=SHORT_LIVED)
        wait_for(
            "sessions to run", lambda: running(client, idle) and running(client, short), cluster
        )
        for _ in range(8):  # keep the short-lived one busy: it still ends at 3 s
            try:
                client.send_event(short, "poke")
            except SessionNotFound:
                break  # reaped already (a slow machine took long to start it)
            time.sleep(0.25)
        reaped_idle = wait_for("the idle session", lambda: finished(client, idle), cluster)
        reaped_short = wait_for("the short-lived one", lambda: finished(client, short), cluster)
        assert reaped_idle.reason == "idle-timeout"
        assert reaped_short.reason == "max-lifetime"
    finally:
        client.close()
        client.store.close()


def test_scheduled_start_and_terminate(cluster: Cluster, client: Orchestrator) -> None:
    cluster.start_workers(1)
    cluster.start_beat()
    doc = client.load_document(source=WAITING)
    sessionid = f"sched-{uuid.uuid4().hex}"
    at = time.time() + 2
    schedule_start(client.store, at, sessionid=sessionid, document_hash=doc.content_hash)
    schedule_terminate(client.store, sessionid, at + 2)
    time.sleep(1)
    assert not running(client, sessionid)
    done = wait_for("the scheduled terminate", lambda: finished(client, sessionid), cluster)
    assert done.reason == "scheduled"  # so it was started first, then terminated
    assert done.ended_at >= at + 2
