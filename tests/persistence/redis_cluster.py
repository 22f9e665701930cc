"""A real three-master Redis Cluster on 127.0.0.1 for the Cluster variant of the suite.

scripts/start-redis.sh starts standalone servers only, so this starts ``redis-server
--cluster-enabled yes`` itself (ports 18200-18299, cluster bus at port + 10000) and joins
the nodes with ``redis-cli --cluster create``.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from servers import PortReservation, ServerError, reserve_port

CLUSTER_PORTS = range(18200, 18300)


@dataclass
class RedisCluster:
    ports: list[int]

    @property
    def nodes(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", port) for port in self.ports]


def _cli(*args: str) -> str:
    done = subprocess.run(
        ["redis-cli", *args], capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise ServerError(f"redis-cli {' '.join(args)}: {done.stdout}{done.stderr}")
    return done.stdout


@contextmanager
def running_cluster(base_dir: Path, masters: int = 3) -> Iterator[RedisCluster]:
    reservations: list[PortReservation] = []
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(masters):
            reservations.append(reserve_port(CLUSTER_PORTS))
        ports = [r.port for r in reservations]
        for port in ports:
            folder = base_dir / f"redis-cluster-{port}"
            folder.mkdir(parents=True, exist_ok=True)
            processes.append(
                subprocess.Popen(
                    [
                        # The servers die with the test process, even when it is SIGKILLed.
                        "setpriv",
                        "--pdeathsig",
                        "TERM",
                        "redis-server",
                        "--port",
                        str(port),
                        "--bind",
                        "127.0.0.1",
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--dir",
                        str(folder),
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--logfile",
                        str(folder / "redis.log"),
                    ],
                    stdin=subprocess.DEVNULL,
                )
            )
        for port in ports:
            _wait(lambda port=port: _ping(port), f"redis-server on {port}")
        _cli(
            "--cluster",
            "create",
            *(f"127.0.0.1:{p}" for p in ports),
            "--cluster-replicas",
            "0",
            "--cluster-yes",
        )
        for port in ports:
            _wait(
                lambda port=port: "cluster_state:ok" in _cli("-p", str(port), "cluster", "info"),
                f"cluster state ok on {port}",
            )
        yield RedisCluster(ports)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        for reservation in reservations:
            shutil.rmtree(base_dir / f"redis-cluster-{reservation.port}", ignore_errors=True)
            reservation.release()


def _ping(port: int) -> bool:
    try:
        return _cli("-p", str(port), "ping").strip() == "PONG"
    except ServerError:
        return False


def _wait(condition: object, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise ServerError(f"timed out waiting for {what}")
        time.sleep(0.1)
