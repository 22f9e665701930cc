"""Store outage handling, as a wrapper usable around any backend.

While the store cannot be reached the server keeps running: every operation raises
``StoreUnavailable`` (so callers know nothing was accepted), the store alarm is active,
and the connection is retried with exponential backoff up to ``max_backoff_s``. During
the backoff, operations fail at once instead of waiting on timeouts. The first operation
or background probe that succeeds clears the alarm.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from orchestrion.errors import StoreError, StoreUnavailable
from persistence.alarm import Alarm
from persistence.contract import (
    FinishedSession,
    Lease,
    MailboxEntry,
    NodeInfo,
    ScheduleItem,
    SessionRecord,
    Store,
)

log = logging.getLogger("orchestrion.persistence")

T = TypeVar("T")


class ResilientStore(Store):
    """``inner`` with an alarm, fast failure during outages and reconnection with backoff."""

    def __init__(
        self,
        inner: Store | Callable[[], Store],
        *,
        alarm: Alarm | None = None,
        max_backoff_s: float = 30.0,
        initial_backoff_s: float = 0.2,
        probe: bool = True,
    ) -> None:
        # A factory is called (again, with backoff) until it gives a backend: a store that
        # is down when the process starts must not stop the process.
        self._inner = inner if isinstance(inner, Store) else None
        self._connect = inner if not isinstance(inner, Store) else None
        self._alarm = alarm or Alarm("store")
        self.max_backoff_s = max_backoff_s
        self.initial_backoff_s = min(initial_backoff_s, max_backoff_s)
        self._backoff_s = self.initial_backoff_s
        self._next_attempt = 0.0  # monotonic time before which calls fail at once
        self._lock = threading.Lock()
        self._probe_enabled = probe
        self._prober: threading.Thread | None = None
        self._prober_pid = 0
        self._closed = threading.Event()

    @property
    def alarm(self) -> Alarm:
        return self._alarm

    @property
    def inner(self) -> Store:
        """The backend; connects first if it could not be opened yet."""
        if self._inner is None:
            assert self._connect is not None
            with self._lock:
                if self._inner is None:
                    self._inner = self._connect()
        return self._inner

    # -- the outage state machine -----------------------------------------------------------
    def _call(self, operation: Callable[[], T]) -> T:
        if self._alarm.active and time.monotonic() < self._next_attempt:
            raise StoreUnavailable(
                f"store unavailable since {self._alarm.since:.3f} "
                f"({self._alarm.last_error}); next reconnection attempt in "
                f"{max(0.0, self._next_attempt - time.monotonic()):.1f}s"
            )
        try:
            result = operation()
        except StoreUnavailable as exc:
            self._failed(exc)
            raise
        except StoreError:
            self._succeeded()  # the store answered (with a refusal): it is reachable
            raise
        self._succeeded()
        return result

    def _failed(self, exc: StoreUnavailable) -> None:
        with self._lock:
            if self._alarm.raise_(str(exc)):
                log.error("store alarm raised: %s", exc)
                self._backoff_s = self.initial_backoff_s
            self._next_attempt = time.monotonic() + self._backoff_s
            self._backoff_s = min(self._backoff_s * 2, self.max_backoff_s)
            self._start_prober()

    def _succeeded(self) -> None:
        if not self._alarm.active:
            return
        with self._lock:
            if self._alarm.clear():
                log.warning("store alarm cleared: the store answers again")
            self._backoff_s = self.initial_backoff_s
            self._next_attempt = 0.0

    def _start_prober(self) -> None:
        """Probe in the background so the alarm clears even when nothing calls the store."""
        if not self._probe_enabled or self._closed.is_set():
            return
        alive = self._prober is not None and self._prober.is_alive()
        if alive and self._prober_pid == os.getpid():
            return
        self._prober = threading.Thread(
            target=self._probe_until_back, name="store-reconnect", daemon=True
        )
        self._prober_pid = os.getpid()
        self._prober.start()

    def _probe_until_back(self) -> None:
        while self._alarm.active and not self._closed.is_set():
            wait = max(0.0, self._next_attempt - time.monotonic())
            if self._closed.wait(wait):
                return
            try:
                self.ping()
            except StoreError:
                continue
            except Exception:  # a driver bug must not kill reconnection silently
                log.exception("store probe failed unexpectedly")
                self._closed.wait(self.max_backoff_s)

    def check(self) -> bool:
        """Ping the store now (ignoring the backoff); True if it answered."""
        self._next_attempt = 0.0
        try:
            self.ping()
        except StoreUnavailable:
            return False
        return True

    # -- the contract, forwarded ------------------------------------------------------------
    def read_session(self, sessionid: str) -> SessionRecord | None:
        return self._call(lambda: self.inner.read_session(sessionid))

    def write_session(self, record: SessionRecord, *, fence: int | None = None) -> None:
        self._call(lambda: self.inner.write_session(record, fence=fence))

    def clear_outbox(self, sessionid: str, version: int) -> None:
        self._call(lambda: self.inner.clear_outbox(sessionid, version))

    def finish_session(self, sessionid: str, finished: FinishedSession, ttl_s: float) -> None:
        self._call(lambda: self.inner.finish_session(sessionid, finished, ttl_s))

    def read_finished(self, sessionid: str) -> FinishedSession | None:
        return self._call(lambda: self.inner.read_finished(sessionid))

    def append_events(
        self, sessionid: str, events: list[tuple[str, str]], *, fresh_ids: bool = False
    ) -> list[int]:
        return self._call(lambda: self.inner.append_events(sessionid, events, fresh_ids=fresh_ids))

    def read_mailbox(self, sessionid: str, after_seq: int, limit: int = 1000) -> list[MailboxEntry]:
        return self._call(lambda: self.inner.read_mailbox(sessionid, after_seq, limit))

    def trim_mailbox(self, sessionid: str, upto_seq: int) -> None:
        self._call(lambda: self.inner.trim_mailbox(sessionid, upto_seq))

    def acquire_lease(self, sessionid: str, owner: str, ttl_s: float, now: float) -> Lease | None:
        return self._call(lambda: self.inner.acquire_lease(sessionid, owner, ttl_s, now))

    def release_lease(self, lease: Lease) -> None:
        self._call(lambda: self.inner.release_lease(lease))

    def put_document(self, content_hash: str, source: str) -> None:
        self._call(lambda: self.inner.put_document(content_hash, source))

    def get_document(self, content_hash: str) -> str | None:
        return self._call(lambda: self.inner.get_document(content_hash))

    def put_schedule(self, item: ScheduleItem) -> None:
        self._call(lambda: self.inner.put_schedule(item))

    def remove_schedule(self, item_id: str) -> None:
        self._call(lambda: self.inner.remove_schedule(item_id))

    def get_schedule(self, item_id: str) -> ScheduleItem | None:
        return self._call(lambda: self.inner.get_schedule(item_id))

    def due_schedules(self, until: float, now: float, limit: int = 1000) -> list[ScheduleItem]:
        return self._call(lambda: self.inner.due_schedules(until, now, limit))

    def claim_schedule(self, item: ScheduleItem, claimant: str, ttl_s: float, now: float) -> bool:
        return self._call(lambda: self.inner.claim_schedule(item, claimant, ttl_s, now))

    def replace_schedule(self, current: ScheduleItem, new: ScheduleItem | None) -> bool:
        return self._call(lambda: self.inner.replace_schedule(current, new))

    def list_schedules(self, kind: str | None = None, limit: int = 1000) -> list[ScheduleItem]:
        return self._call(lambda: self.inner.list_schedules(kind, limit))

    def set_owner(self, sessionid: str, node: str) -> None:
        self._call(lambda: self.inner.set_owner(sessionid, node))

    def owner_of(self, sessionid: str) -> str | None:
        return self._call(lambda: self.inner.owner_of(sessionid))

    def sessions_of(self, node: str) -> list[str]:
        return self._call(lambda: self.inner.sessions_of(node))

    def heartbeat(self, node: str, now: float, info: dict[str, Any] | None = None) -> None:
        self._call(lambda: self.inner.heartbeat(node, now, info))

    def nodes(self) -> list[NodeInfo]:
        return self._call(lambda: self.inner.nodes())  # noqa: PLW0108 - connect inside _call

    def remove_node(self, node: str) -> None:
        self._call(lambda: self.inner.remove_node(node))

    def ping(self) -> None:
        self._call(lambda: self.inner.ping())  # noqa: PLW0108 - connect inside _call

    def close(self) -> None:
        self._closed.set()
        if self._inner is not None:
            self._inner.close()
