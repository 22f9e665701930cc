"""``orchestrion worker``: a Celery worker that runs sessions, plus its heartbeat.

One worker process is one node: its threads share the session cache and the non-persisted
sessions it holds, and it consumes the shared queue and its own node queue. The heartbeat
lets the scheduler notice a dead node and take its sessions over.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from orchestrion.config import Config
from persistence.contract import Store
from workers.cache import SessionCache
from workers.celery_app import SHARED_QUEUE, node_queue
from workers.host import SessionHost
from workers.http_send import HttpSender
from workers.orchestrator import Orchestrator
from workers.outbox import Outbox
from workers.tasks import register_tasks

log = logging.getLogger(__name__)


class WorkerNode:
    """Everything one worker process holds: store, facade, session host, heartbeat."""

    def __init__(self, config: Config, store: Store | None = None) -> None:
        if store is None:
            from persistence import open_store

            store = open_store(config)
        self.config = config
        self.store = store
        self.orchestrator = Orchestrator(config, store)
        self.node = self.orchestrator.node
        self.cache = SessionCache(config.worker.cache_size)
        self.host = SessionHost(
            config=config,
            store=store,
            node=self.node,
            documents=self.orchestrator.documents,
            cache=self.cache,
            outbox=Outbox(self.orchestrator, HttpSender.from_config(config.api)),
            waker=self.orchestrator.waker,
            node_alive=self.orchestrator.node_alive,
            route_of=self.orchestrator.route_of,
        )
        register_tasks(self.orchestrator.app, self.host, self.orchestrator.waker)
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    @property
    def queues(self) -> list[str]:
        return [SHARED_QUEUE, node_queue(self.node)]

    def beat_once(self) -> None:
        info: dict[str, Any] = {
            "pid": os.getpid(),
            "queue": node_queue(self.node),
            "cached_sessions": len(self.cache),
            "transient_sessions": self.host.transient_count,
            **self.host.stats,
        }
        self.store.heartbeat(self.node, time.time(), info)

    def start_heartbeat(self) -> None:
        self.beat_once()
        self._heartbeat = threading.Thread(target=self._beat, name="heartbeat", daemon=True)
        self._heartbeat.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.config.worker.heartbeat_interval):
            try:
                self.beat_once()
            except Exception:
                log.exception("heartbeat of node %s failed", self.node)

    def run_worker(self) -> None:
        """Consume wake-ups until the worker is shut down (SIGTERM/SIGINT: warm shutdown)."""
        worker = self.orchestrator.app.Worker(
            pool="threads",
            concurrency=self.config.worker.concurrency,
            queues=self.queues,
            hostname=f"{self.node}@orchestrion",
            without_gossip=True,
            without_mingle=True,
            without_heartbeat=True,
            loglevel="WARNING",
            optimization="fair",
        )
        worker.start()

    def close(self) -> None:
        self._stop.set()
        self.host.close()
        self.orchestrator.close()
        self.store.close()


def run(config: Config) -> None:
    """Run a worker node until it is told to stop."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    node = WorkerNode(config)
    log.info("worker node %s consuming %s", node.node, ", ".join(node.queues))
    node.start_heartbeat()
    try:
        node.run_worker()
    finally:
        node.close()
