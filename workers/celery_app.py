"""The Celery app, built from the configuration, with the settings that do not lose work.

A Celery message is only a wake-up: the store's mailbox is the truth. Still, the settings
below keep a message alive until its work is done (acks late, rejected back to the queue
when its worker dies, one message prefetched), because every redelivery that does not need
the safety net (the store's ``mailbox:`` schedule items) is a faster recovery.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from celery import Celery

from orchestrion.config import Config

SHARED_QUEUE = "orchestrion"
WAKE_TASK = "orchestrion.wake"
QUERY_TASK = "orchestrion.query"

# A live query's answer is read within seconds; one nobody read expires (Redis) soon after.
QUERY_RESULT_TTL_S = 60

# Longer than any task (a drain is bounded by the lease ttl), short enough that a message
# of a killed worker comes back within a minute or so (see docs/workers.md).
VISIBILITY_TIMEOUT_S = 60


def node_queue(node: str) -> str:
    """The queue only ``node`` consumes: wake-ups of the non-persisted sessions it holds."""
    return f"{SHARED_QUEUE}.node.{re.sub(r'[^A-Za-z0-9_.-]', '_', node)}"


def broker_url(config: Config) -> str:
    return config.broker.url or "filesystem://"


def transport_options(config: Config) -> dict[str, Any]:
    if config.broker.url.startswith(("redis://", "rediss://", "unix://")):
        return {
            "visibility_timeout": VISIBILITY_TIMEOUT_S,
            # Scan for unacked messages of dead workers every second, not every 100 s.
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
        }
    if not config.broker.url:
        folder = Path(config.broker.data_dir) / "queue"
        # kombu's broadcast (pidbox) folder defaults to ./control in the working directory.
        control = Path(config.broker.data_dir) / "control"
        for path in (folder, control):
            path.mkdir(parents=True, exist_ok=True)
        return {
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "control_folder": str(control),
        }
    return {}


def result_backend(config: Config) -> str | None:
    """Where a worker answers live queries of the non-persisted sessions it holds: the
    broker's Redis, or a folder beside the embedded queue (None: no live queries)."""
    url = config.broker.url
    if url.startswith(("redis://", "rediss://")):
        return url
    if not url:
        folder = Path(config.broker.data_dir) / "results"
        folder.mkdir(parents=True, exist_ok=True)
        return f"file://{folder.resolve()}"
    return None


def create_app(config: Config) -> Celery:
    """A Celery app for ``config``: broker from ``[broker] url`` or the embedded folder."""
    app = Celery("orchestrion", set_as_current=False)
    app.conf.update(
        broker_url=broker_url(config),
        broker_transport_options=transport_options(config),
        broker_connection_retry_on_startup=True,
        task_default_queue=SHARED_QUEUE,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        result_backend=result_backend(config),
        result_expires=QUERY_RESULT_TTL_S,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_serializer="json",
        accept_content=["json"],
        # The filesystem transport polls; a short interval keeps the embedded latency low.
        broker_pool_limit=10,
    )
    if not config.broker.url:
        app.conf.broker_transport_options["polling_interval"] = 0.05
    return app
