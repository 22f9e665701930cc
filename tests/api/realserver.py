"""Run a real ``orchestrion serve`` (API, worker and beat processes) for a test module."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from servers import reserve_port

TOKEN = "real-server-token"
PORTS = range(18510, 18600)  # this part's share of the project's test ports
START_TIMEOUT_S = 60.0
SERVE = "import sys; from orchestrion.cli import main; sys.argv[0] = 'orchestrion'; main()"


def write_config(folder: Path, port: int, allowed: list[Path], tokens: str) -> Path:
    """An INI file: SQLite and the filesystem broker in ``folder``, the API on ``port``."""
    path = folder / "orchestrion.ini"
    path.write_text(
        "\n".join(
            [
                "[persistence]",
                "type = sqlite",
                f"sqlite-path = {folder / 'store.db'}",
                "[broker]",
                f"data-dir = {folder / 'broker'}",
                "[scxml]",
                "persistence-default = true",
                "[api]",
                "host = 127.0.0.1",
                f"port = {port}",
                f"auth-tokens = {tokens}",
                f"public-url = http://127.0.0.1:{port}",
                f"allowed-locations = {';'.join(str(p) for p in allowed)}",
                "",
            ]
        ),
        encoding="utf-8",
    )
    return path


def wait_healthy(process: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"orchestrion serve exited:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"orchestrion serve not healthy in time:\n{log.read_text()[-4000:]}")


@contextmanager
def serving(folder: Path, allowed: list[Path], *, auth: bool = True) -> Iterator[httpx.Client]:
    """``orchestrion serve`` until the block ends; yields a client with the bearer token.

    With ``auth`` false no tokens are configured (authentication off).
    """
    # Held (an flock) until the server is gone: two xdist workers probing at once could
    # otherwise both pick the same port, and one's client would talk to the other's server.
    reservation = reserve_port(PORTS)
    port = reservation.port
    config = write_config(folder, port, allowed, TOKEN if auth else "")
    base = f"http://127.0.0.1:{port}"
    log = folder / "serve.log"
    (folder / "metrics").mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder / "metrics")}
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE, "--config", str(config), "serve"],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        wait_healthy(process, base, log)
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        ) as client:
            yield client
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        reservation.release()
