"""The Celery tasks: wake sessions (a batch of session ids) and drain each one; answer a
live query of a non-persisted session.

A wake message names sessions, not events: the events are in the store's mailboxes. A
session that fails to drain (store outage) has its safety-net item re-armed and the message
is retried later, so a failure delays work and loses none.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Celery

from workers.celery_app import QUERY_TASK, WAKE_TASK
from workers.host import SessionHost
from workers.wakeups import Waker

log = logging.getLogger(__name__)

RETRY_BACKOFF_MAX_S = 30
LATE_ANSWER_MARGIN_S = 0.5
"""A query answered later than this before its deadline is not answered (see ``query``)."""


def register_tasks(app: Celery, host: SessionHost, waker: Waker) -> None:
    """Bind the tasks of ``app`` to ``host`` (one per worker process).

    Neither task is shared: Celery adds a shared task to every app made later in the
    process, still bound to this host.
    """

    # Sent to the holder's own queue; a query nobody waits for any more is not retried. The
    # answer is stored here and polled for by the asker: Celery's own result waiting
    # subscribes on a Redis connection that its threads cannot share.
    @app.task(  # type: ignore[untyped-decorator]
        name=QUERY_TASK, bind=True, ignore_result=True, acks_late=False, shared=False
    )
    def query(task: Any, sessionid: str, answer_by: float) -> None:
        # An answer the asker will not read (it gave up at answer_by) would never be removed.
        answer = host.query_transient(sessionid, wait_until=answer_by - LATE_ANSWER_MARGIN_S)
        if time.time() < answer_by - LATE_ANSWER_MARGIN_S:
            task.backend.store_result(task.request.id, answer, "SUCCESS")

    @app.task(  # type: ignore[untyped-decorator]
        name=WAKE_TASK,
        bind=True,
        max_retries=None,
        acks_late=True,
        ignore_result=True,
        shared=False,
    )
    def wake(task: Any, sessionids: list[str]) -> None:
        failed: list[str] = []
        for sessionid in sessionids:
            try:
                host.drain(sessionid)
            except Exception:
                log.exception("draining session %s failed; retrying later", sessionid)
                failed.append(sessionid)
        if failed:
            for sessionid in failed:
                try:
                    waker.arm(sessionid)
                except Exception:
                    log.warning("could not re-arm session %s (store down?)", sessionid)
            countdown = min(2**task.request.retries, RETRY_BACKOFF_MAX_S)
            raise task.retry(args=[failed], countdown=countdown)
