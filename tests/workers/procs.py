"""Real ``orchestrion worker`` / ``orchestrion beat`` processes for tests and benchmarks.

Each process gets its configuration from ``ORCHESTRION_*`` environment variables and writes
its log to a file in the run folder, so that a failing test can show what the workers did.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from orchestrion.config import Config, load_config

REPO = Path(__file__).resolve().parents[2]

COUNTER_DOC = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
       datamodel="ecmascript" initial="run" _persist="{persist}">
  <datamodel><data id="seen" expr="[]"/></datamodel>
  <state id="run">
    <transition event="item">
      <assign location="seen" expr="seen.concat([_event.data.seq])"/>
    </transition>
    <transition event="stop" target="done"/>
  </state>
  <final id="done"/>
</scxml>"""
"""A session that appends ``_event.data.seq`` of every ``item`` event to ``seen``."""


def counter_doc(persist: bool = True) -> str:
    return COUNTER_DOC.replace("{persist}", "true" if persist else "false")


def store_env_redis(host: str, port: int, db: int = 0) -> dict[str, str]:
    return {
        "ORCHESTRION_PERSISTENCE_TYPE": "redis",
        "ORCHESTRION_PERSISTENCE_REDIS_NODES": f"{host}:{port}",
        "ORCHESTRION_PERSISTENCE_REDIS_DB": str(db),
    }


def store_env_cassandra(host: str, port: int, keyspace: str) -> dict[str, str]:
    return {
        "ORCHESTRION_PERSISTENCE_TYPE": "cassandra",
        "ORCHESTRION_PERSISTENCE_CASSANDRA_NODES": host,
        "ORCHESTRION_PERSISTENCE_CASSANDRA_LISTENPORT": str(port),
        "ORCHESTRION_PERSISTENCE_CASSANDRA_KEYSPACE": keyspace,
        "ORCHESTRION_PERSISTENCE_CLUSTER_NAME": keyspace,
        "ORCHESTRION_PERSISTENCE_CASSANDRA_READ_CONSISTENCY": "ONE",
        "ORCHESTRION_PERSISTENCE_CASSANDRA_WRITE_CONSISTENCY": "ONE",
        "ORCHESTRION_PERSISTENCE_CASSANDRA_SERIAL_CONSISTENCY": "SERIAL",
    }


def fast_recovery_env(lease_ttl_s: float = 3.0) -> dict[str, str]:
    """Short leases and claims so that a killed worker's work moves on in seconds."""
    return {
        "ORCHESTRION_WORKER_LEASE_TTL": str(lease_ttl_s),
        "ORCHESTRION_WORKER_HEARTBEAT_INTERVAL": "0.5",
        "ORCHESTRION_SCHEDULER_CLAIM_TTL": "5",
        "ORCHESTRION_SCHEDULER_DEAD_NODE_AFTER": "3",
        "ORCHESTRION_SCHEDULER_MAX_CLOCK_SKEW": "0.5",
    }


@dataclass
class Cluster:
    """Worker and beat processes sharing one environment (store, broker, timings)."""

    env: dict[str, str]
    run_dir: Path
    workers: list[subprocess.Popen[bytes] | None] = field(default_factory=list)
    beat: subprocess.Popen[bytes] | None = None
    _starts: int = 0

    def config(self) -> Config:
        """The configuration the processes see, for a client in the test process."""
        return load_config(None, self.env)

    def process_env(self) -> dict[str, str]:
        """The environment of a process of this cluster (this checkout's packages first,
        whatever the editable install points at)."""
        path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        return {**os.environ, "PYTHONPATH": path, **self.env}

    def _spawn(self, command: str, name: str) -> subprocess.Popen[bytes]:
        self._starts += 1
        env = self.process_env()
        log_path = self.run_dir / f"{name}-{self._starts}.log"
        handle = log_path.open("wb")
        code = "from orchestrion.cli import main; main()"
        return subprocess.Popen(
            [sys.executable, "-c", code, command], env=env, stdout=handle, stderr=handle
        )

    def start_workers(self, count: int) -> None:
        for _ in range(count):
            self.workers.append(self._spawn("worker", f"worker{len(self.workers)}"))

    def start_beat(self) -> None:
        self.beat = self._spawn("beat", "beat")

    def kill_worker(self, index: int) -> None:
        """SIGKILL worker ``index`` (no clean-up of any kind)."""
        process = self.workers[index]
        if process is not None:
            process.kill()
            process.wait()
            self.workers[index] = None

    def restart_worker(self, index: int) -> None:
        self.kill_worker(index)
        self.workers[index] = self._spawn("worker", f"worker{index}")

    def alive(self) -> list[bool]:
        return [p is not None and p.poll() is None for p in self.workers]

    def stop(self) -> None:
        """SIGTERM everything, then SIGKILL what did not stop within a few seconds."""
        processes = [p for p in [*self.workers, self.beat] if p is not None]
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in processes:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.workers = []
        self.beat = None

    def logs(self) -> str:
        parts = []
        for path in sorted(self.run_dir.glob("*.log")):
            parts.append(f"==== {path.name}\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)


def wait_for(what: str, check: Callable[[], Any], cluster: Cluster, timeout_s: float = 30) -> Any:
    """Poll ``check`` until it returns something truthy; fail with the cluster's logs."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}\n{cluster.logs()}")
