"""Accepting work for a session and waking a worker for it, without losing either.

Accepting an event is a durable append to the session's mailbox. Waking is two things:
a ``mailbox:<sessionid>`` schedule item (the safety net: the scheduler fires it if no
worker drained the mailbox in time, e.g. because the worker holding the wake-up message was
killed) and a Celery message naming the session. The item doubles as the "a wake-up is
pending" flag: while it exists, more events for the session need no new message, because
the runner removes the item *before* it reads the mailbox and so sees every event appended
before the removal. Messages are batched: sessions woken within a millisecond or two share
one message per queue.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from persistence.contract import ScheduleItem, Store

log = logging.getLogger(__name__)

WAKEUP_KIND = "wakeup"
MAX_SESSIONS_PER_MESSAGE = 32

Publish = Callable[[str, list[str], float], None]
"""``publish(queue, sessionids, delay_s)``: send one wake-up message, due after delay_s."""


def mailbox_item_id(sessionid: str) -> str:
    return f"mailbox:{sessionid}"


def wakeup_item_id(sessionid: str) -> str:
    return f"wakeup:{sessionid}"


class Waker:
    """Durable accept plus deduplicated, batched wake-up messages."""

    def __init__(self, store: Store, publish: Publish, grace_s: float, linger_s: float = 0.001):
        self._store = store
        self._publish = publish
        self._grace_s = grace_s
        self._linger_s = linger_s
        self._pending: dict[str, dict[str, None]] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def accept(self, sessionid: str, entries: list[tuple[str, str]], queue: str) -> list[int]:
        """Append ``(event_id, payload)`` pairs durably, then make sure a wake-up is pending."""
        seqs = self._store.append_events(sessionid, entries)
        # After the append: a runner that removes the item later reads these entries.
        if self._store.get_schedule(mailbox_item_id(sessionid)) is None:
            self.wake(sessionid, queue)
        return seqs

    def wake(self, sessionid: str, queue: str) -> None:
        """Put the safety-net item, then send (batched) a wake-up message."""
        self.arm(sessionid)
        self.send(sessionid, queue)

    def arm(self, sessionid: str, delay_s: float | None = None) -> None:
        """Put the ``mailbox:`` safety-net item, due after the grace period."""
        due = time.time() + (self._grace_s if delay_s is None else delay_s)
        self._store.put_schedule(
            ScheduleItem(mailbox_item_id(sessionid), due, WAKEUP_KIND, {"sessionid": sessionid})
        )

    def schedule_wakeup(self, sessionid: str, due_at: float) -> None:
        """Put the ``wakeup:`` item: the scheduler wakes the session at its next delayed send."""
        self._store.put_schedule(
            ScheduleItem(wakeup_item_id(sessionid), due_at, WAKEUP_KIND, {"sessionid": sessionid})
        )

    def send(self, sessionid: str, queue: str) -> None:
        """Queue a wake-up message for the flusher thread (started on first use)."""
        with self._cond:
            if self._closed:
                raise RuntimeError("waker is closed")
            self._pending.setdefault(queue, {})[sessionid] = None
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="waker", daemon=True)
                self._thread.start()
            self._cond.notify()

    def send_later(self, sessionid: str, queue: str, delay_s: float) -> None:
        """Send a wake-up message due in ``delay_s`` (now, from the caller's thread)."""
        try:
            self._publish(queue, [sessionid], delay_s)
        except Exception:
            log.exception("could not publish a delayed wake-up for %s", sessionid)

    def flush(self) -> None:
        """Send every queued wake-up now (from the caller's thread)."""
        with self._cond:
            batches, self._pending = self._pending, {}
        self._send_batches(batches)

    def close(self) -> None:
        """Send what is queued and stop the flusher."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
            time.sleep(self._linger_s)  # let concurrent wake-ups join the same message
            self.flush()

    def _send_batches(self, batches: dict[str, dict[str, None]]) -> None:
        for queue, sessions in batches.items():
            ids = list(sessions)
            for start in range(0, len(ids), MAX_SESSIONS_PER_MESSAGE):
                chunk = ids[start : start + MAX_SESSIONS_PER_MESSAGE]
                try:
                    self._publish(queue, chunk, 0.0)
                except Exception:
                    # The mailbox items stay armed: the scheduler wakes these sessions later.
                    log.exception("could not publish a wake-up for %d sessions", len(chunk))
