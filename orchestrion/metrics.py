"""The Prometheus metrics every Orchestrion process records, in one place.

Workers, the scheduler and the API run as separate processes, so the values must be
collected across processes: when ``PROMETHEUS_MULTIPROC_DIR`` names a writable folder
*before* ``prometheus_client`` is first imported, each process writes its values there and
:func:`render` (called by the API's ``/metrics``) adds them up. Without it, each process
counts for itself only (fine for one-process setups and tests). A supervisor that starts
processes should empty that folder at start and call :func:`process_exited` for each
process that ends, so that live gauges drop its values.

Who records what:

- ``SESSIONS_STARTED`` (label ``how``: ``now``, ``scheduled``, ``cron``, ``child``): the worker,
  when a session's first macrostep is stored.
- ``SESSIONS_FINISHED`` (label ``reason``: ``final``, ``terminated``, ``error``): the worker.
- ``EVENTS_ACCEPTED`` (label ``via``: ``ors``, ``rest``, ``basichttp``): the API, per event
  accepted into a mailbox.
- ``EVENTS_PROCESSED``: the worker, per external event applied to a session.
- ``MACROSTEP_SECONDS``: the worker, time of each engine call (start/run/terminate).
- ``QUEUE_DEPTH`` (label ``queue``): whoever measures a backlog (broker queue length,
  due schedule items) sets it; the most recent value wins.
- ``STORE_ERRORS`` (label ``error``: the exception class name): every process, per failed
  store operation.
- ``HTTP_REQUESTS`` / ``HTTP_REQUEST_SECONDS``: the API, per request, by route template.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

SESSIONS_STARTED = Counter(
    "orchestrion_sessions_started", "Sessions whose first macrostep was stored.", ["how"]
)
SESSIONS_FINISHED = Counter("orchestrion_sessions_finished", "Sessions that ended.", ["reason"])
EVENTS_ACCEPTED = Counter(
    "orchestrion_events_accepted", "External events accepted into a session's mailbox.", ["via"]
)
EVENTS_PROCESSED = Counter(
    "orchestrion_events_processed", "External events applied to sessions by workers."
)
MACROSTEP_SECONDS = Histogram(
    "orchestrion_macrostep_seconds",
    "Wall time of one engine call (start, run or terminate) on a worker.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
QUEUE_DEPTH = Gauge(
    "orchestrion_queue_depth",
    "Messages or items waiting, by queue (last measured value).",
    ["queue"],
    multiprocess_mode="mostrecent",
)
STORE_ERRORS = Counter(
    "orchestrion_store_errors", "Store operations that failed, by error class.", ["error"]
)
HTTP_REQUESTS = Counter(
    "orchestrion_http_requests", "HTTP requests answered, by route.", ["method", "route", "status"]
)
HTTP_REQUEST_SECONDS = Histogram(
    "orchestrion_http_request_seconds", "Time to answer an HTTP request, by route.", ["route"]
)


def multiprocess_enabled() -> bool:
    """True when values are shared through ``PROMETHEUS_MULTIPROC_DIR``."""
    return bool(os.environ.get(MULTIPROC_ENV))


def render() -> tuple[bytes, str]:
    """The Prometheus text exposition of every process's metrics, and its content type."""
    if multiprocess_enabled():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def process_exited(pid: int) -> None:
    """Drop the live-gauge values of a process that ended (multiprocess mode only)."""
    if multiprocess_enabled():
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
