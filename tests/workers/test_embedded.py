"""``orchestrion serve``: API, worker and beat on the embedded default, stopped by a signal."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from procs import REPO, Cluster, counter_doc

pytestmark = pytest.mark.slow

PORT = 18431


def children_of(pid: int) -> list[int]:
    found = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], check=False, capture_output=True, text=True
    )
    return [int(line) for line in found.stdout.split()]


def seen(http: httpx.Client, sessionid: str) -> object:
    return http.get(f"/v1/sessions/{sessionid}").json().get("datamodel", {}).get("seen")


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serve_runs_sessions_and_stops_cleanly(stop_signal: signal.Signals) -> None:
    folder = Path(tempfile.mkdtemp(prefix="orchestrion-serve-"))
    cluster = Cluster(
        {
            "ORCHESTRION_PERSISTENCE_SQLITE_PATH": str(folder / "orchestrion.db"),
            "ORCHESTRION_BROKER_DATA_DIR": str(folder / "broker"),
            "ORCHESTRION_API_PORT": str(PORT),
            "ORCHESTRION_SCXML_PERSISTENCE_DEFAULT": "true",
        },
        folder,
    )
    log = (folder / "serve.log").open("wb")
    serve = subprocess.Popen(
        [sys.executable, "-c", "from orchestrion.cli import main; main()", "serve"],
        env=cluster.process_env(),
        cwd=REPO,
        stdout=log,
        stderr=log,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", timeout=10) as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if http.get("/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, (folder / "serve.log").read_text()
                time.sleep(0.2)
            assert len(children_of(serve.pid)) >= 2, "a worker and a beat run beside the API"
            # A persisted session answers queries from the store, a non-persisted one from
            # its worker's memory (through the result folder beside the embedded queue).
            sessionids = []
            for persist in (True, False):
                started = http.post("/v1/sessions", json={"source": counter_doc(persist)})
                assert started.status_code == 201, started.text
                sessionids.append(started.json()["sessionid"])
            for sessionid in sessionids:
                for seq in range(10):
                    answer = http.post(
                        f"/v1/sessions/{sessionid}/events",
                        json={"name": "item", "data": {"seq": seq}},
                    )
                    assert answer.status_code == 202, answer.text
            deadline = time.monotonic() + 30
            while any(seen(http, sessionid) != list(range(10)) for sessionid in sessionids):
                assert time.monotonic() < deadline, (folder / "serve.log").read_text()
                time.sleep(0.2)
            assert http.get(f"/v1/sessions/{sessionids[1]}").json()["persisted"] is False
        children = children_of(serve.pid)
        serve.send_signal(stop_signal)
        assert serve.wait(timeout=40) == 0 or serve.returncode in (0, -stop_signal)
        deadline = time.monotonic() + 10
        while alive := [c for c in children if Path(f"/proc/{c}").exists()]:
            assert time.monotonic() < deadline, f"children {alive} outlived serve"
            time.sleep(0.1)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
