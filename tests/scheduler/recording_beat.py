"""A real beat process whose session layer records each call in a file.

``python recording_beat.py RECORD_FILE``; the configuration comes from ``ORCHESTRION_*``
environment variables, like ``orchestrion beat``. Used by the multi-process tests and by
bench/scheduler.py to count firings from what happened, not from timing.
"""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

from scheduler_fakes import FileRecordingControl

from orchestrion.config import load_config
from persistence import open_store
from scheduler.beat import Beat


def main(record_path: str) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = load_config(None)
    store = open_store(config)
    beat = Beat(config, store, FileRecordingControl(record_path))

    def on_signal(signum: int, frame: FrameType | None) -> None:
        beat.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    beat.run()
    store.close()


if __name__ == "__main__":
    main(sys.argv[1])
