"""Metrics recorded in other processes (workers) show in the API's ``/metrics``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

RECORD = """
from orchestrion.metrics import EVENTS_PROCESSED, QUEUE_DEPTH
EVENTS_PROCESSED.inc({count})
QUEUE_DEPTH.labels(queue="orchestrion").set({depth})
"""

RENDER = """
import sys
from orchestrion.metrics import render
body, kind = render()
sys.stdout.write(body.decode())
"""


def run(code: str, folder: Path) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    done = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_counters_of_every_process_are_added_up(tmp_path: Path) -> None:
    run(RECORD.format(count=2, depth=5), tmp_path)
    run(RECORD.format(count=3, depth=7), tmp_path)
    text = run(RENDER, tmp_path)
    assert "orchestrion_events_processed_total 5.0" in text
    # the most recent queue depth wins, not the sum
    assert 'orchestrion_queue_depth{queue="orchestrion"} 7.0' in text
