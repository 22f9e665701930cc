"""``orchestrion serve``: the HTTP API, a worker and the scheduler on one machine.

The embedded default needs no server: the store is one SQLite file and the broker is
Celery's ``filesystem://`` transport in ``[broker] data-dir`` (both are the configuration
defaults; other settings work too). The worker and the beat run as child processes (each
one a normal ``orchestrion worker`` / ``orchestrion beat`` started with the same
configuration object), the API runs in this process. SIGTERM or SIGINT stops the API,
then the children, each with SIGTERM and, after a grace period, SIGKILL.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import signal
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from types import FrameType

from orchestrion.config import Config

log = logging.getLogger(__name__)

STOP_GRACE_S = 15.0
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this child when ``serve`` dies, even by SIGKILL."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        log.debug("no prctl here: children outlive a killed serve")


def _run_worker(config: Config) -> None:
    from workers.main import run

    _die_with_parent()
    run(config)


def _run_beat(config: Config) -> None:
    from scheduler.beat import run

    _die_with_parent()
    run(config)


def start_children(config: Config) -> list[BaseProcess]:
    """Start the worker and the beat as fresh (spawned) processes."""
    context = multiprocessing.get_context("spawn")
    targets: list[tuple[str, Callable[[Config], None]]] = [
        ("orchestrion-worker", _run_worker),
        ("orchestrion-beat", _run_beat),
    ]
    children: list[BaseProcess] = []
    for name, target in targets:
        process = context.Process(target=target, args=(config,), name=name, daemon=False)
        process.start()
        children.append(process)
    return children


def stop_children(children: list[BaseProcess], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM every child, then SIGKILL those still running after ``grace_s``."""
    for child in children:
        if child.is_alive():
            child.terminate()
    for child in children:
        child.join(grace_s)
        if child.is_alive():
            log.warning("%s did not stop in %.0f s: killing it", child.name, grace_s)
            child.kill()
            child.join()


def serve(config: Config) -> None:
    """Run everything until SIGTERM/SIGINT; the children are stopped before returning."""
    import uvicorn

    from api.server import create_app
    from persistence import open_store
    from workers.orchestrator import Orchestrator

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not config.broker.url:
        config.broker.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(config)
    orchestrator = Orchestrator(config, store)
    children = start_children(config)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config, orchestrator),
            host=config.api.host,
            port=config.api.port,
            log_level="info",
        )
    )

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        server.should_exit = True

    try:
        # uvicorn installs its own handlers while it runs; these cover the start-up.
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        server.run()
    finally:
        stop_children(children)
        orchestrator.close()
        store.close()
