"""A throwaway redis-server for benchmarks, started by the project's own script."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def started_redis(ports: range) -> Iterator[tuple[str, int]]:
    """A redis-server from scripts/start-redis.sh on the first free port of ``ports``."""
    port = next(p for p in ports if _free(p))
    folder = Path(tempfile.mkdtemp(prefix="bench-redis-"))
    subprocess.run(
        [str(ROOT / "scripts" / "start-redis.sh"), str(port), str(folder)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        yield "127.0.0.1", port
    finally:
        subprocess.run(
            [str(ROOT / "scripts" / "stop-redis.sh"), str(port), str(folder)],
            check=False,
            stdout=subprocess.DEVNULL,
        )
        shutil.rmtree(folder, ignore_errors=True)


def _free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0
