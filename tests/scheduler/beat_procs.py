"""Recording beat processes (``recording_beat.py``) for tests and the benchmark."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from scheduler_fakes import read_records

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


@dataclass
class RecordingBeats:
    """Beat processes sharing one environment; each records into ``<run_dir>/fired-N.log``."""

    env: dict[str, str]
    run_dir: Path
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    _started: int = 0

    def start(self) -> int:
        """Start one more beat; returns its index."""
        index = self._started
        self._started += 1
        log = (self.run_dir / f"beat-{index}.log").open("wb")
        env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{REPO}", **self.env}
        self.processes[index] = subprocess.Popen(
            [sys.executable, str(HERE / "recording_beat.py"), str(self.record_path(index))],
            env=env,
            stdout=log,
            stderr=log,
        )
        return index

    def record_path(self, index: int) -> Path:
        return self.run_dir / f"fired-{index}.log"

    def kill(self, index: int) -> None:
        """SIGKILL: no clean-up, claims stay held until they expire."""
        process = self.processes.pop(index)
        process.kill()
        process.wait()

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in self.processes.values():
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()

    def records(self) -> list[tuple[str, str, float | None, float]]:
        return read_records([str(self.record_path(i)) for i in range(self._started)])

    def records_by_beat(self) -> dict[int, list[tuple[str, str, float | None, float]]]:
        return {i: read_records([str(self.record_path(i))]) for i in range(self._started)}

    def logs(self) -> str:
        return "\n".join(
            f"==== {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.run_dir.glob("beat-*.log"))
        )
