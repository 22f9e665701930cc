"""Accepting work for a session and waking a worker for it, without losing either.

Accepting an event is a durable append to the session's mailbox. Waking is two things: a
Celery message naming the session, and a ``mailbox:<sessionid>`` schedule item, the safety
net: the beat fires it ``grace`` after it was put, and if the session still has work then
(the message was lost, e.g. with the worker that held it), wakes the session again.

The item is put per accept only when this process has not put it recently: items are never
removed before they are due (only the beat removes them, once fired, and ended sessions),
and every put moves the due time later, so an item this process put less than ``grace/2``
ago is still there and fires after this accept's append. Workers never touch it: a drain
costs no schedule writes. Messages are batched: sessions woken within a millisecond or two
share one message per queue.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from orchestrion.bounded import BoundedMap
from persistence.contract import ScheduleItem, Store

log = logging.getLogger(__name__)

WAKEUP_KIND = "wakeup"
MAX_SESSIONS_PER_MESSAGE = 32
ARMED_CACHE_SIZE = 100_000

Publish = Callable[[str, list[str], float], None]
"""``publish(queue, sessionids, delay_s)``: send one wake-up message, due after delay_s."""


def mailbox_item_id(sessionid: str) -> str:
    return f"mailbox:{sessionid}"


def wakeup_item_id(sessionid: str) -> str:
    return f"wakeup:{sessionid}"


class Waker:
    """Durable accept plus the safety net and batched wake-up messages."""

    def __init__(self, store: Store, publish: Publish, grace_s: float, linger_s: float = 0.001):
        self._store = store
        self._publish = publish
        self._grace_s = grace_s
        self._linger_s = linger_s
        self._pending: dict[str, dict[str, None]] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        # sessionid -> due time of the mailbox: item this process put last.
        self._armed: BoundedMap[str, float] = BoundedMap(ARMED_CACHE_SIZE)

    def accept(
        self,
        sessionid: str,
        entries: list[tuple[str, str]],
        queue: str,
        *,
        fresh_ids: bool = False,
    ) -> list[int]:
        """Append ``(event_id, payload)`` pairs durably, then wake the session.

        ``fresh_ids``: the ids were made up just now (see ``Store.append_events``)."""
        seqs = self._store.append_events(sessionid, entries, fresh_ids=fresh_ids)
        # After the append: the safety net, if it fires, sees these entries.
        self.wake(sessionid, queue)
        return seqs

    def wake(self, sessionid: str, queue: str) -> None:
        """Make sure the safety-net item is armed, then send (batched) a wake-up message."""
        self.arm(sessionid)
        self.send(sessionid, queue)

    def arm(self, sessionid: str) -> None:
        """Put the ``mailbox:`` safety-net item, due after the grace period, unless this
        process put it less than half a grace period ago (then it is there, not yet due)."""
        now = time.time()
        due = self._armed.get(sessionid)
        if due is not None and due - now > self._grace_s / 2:
            return
        due = now + self._grace_s
        self._store.put_schedule(
            ScheduleItem(mailbox_item_id(sessionid), due, WAKEUP_KIND, {"sessionid": sessionid})
        )
        self._armed.put(sessionid, due)

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
