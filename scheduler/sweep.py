"""The due → claim → fire → remove cycle, shared by every beat process.

:meth:`Sweeper.sweep` reads the items due within ``lookahead`` and claims each one (in
the claim pool: claims are store round trips). A claim won is held in a local heap until
its due time; :meth:`Sweeper.fire_ready` hands every item whose time has come to the
fire pool, which fires it and removes it when done. Several beats may sweep the same
store: the atomic claim gives each item to exactly one of them, and a claim not followed
by a removal (the beat died) expires after ``claim_ttl`` so that another beat fires it.

An item claimed ahead of its time is re-read just before it fires (wake-ups excepted), so
that a cancel or reschedule in the last ``lookahead`` seconds is honoured. A claim held for
so long that it may have expired (by another beat's clock) is not fired here: whoever
claims it next does.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass, field

from orchestrion.config import SchedulerConfig
from orchestrion.errors import StoreError
from orchestrion.metrics import QUEUE_DEPTH, STORE_ERRORS
from persistence.contract import ScheduleItem, Store
from scheduler import items
from scheduler.handlers import Handlers, Outcome

log = logging.getLogger(__name__)

CLAIM_CHUNK = 32
Clock = Callable[[], float]


@dataclass(order=True)
class _Claimed:
    due_at: float
    order: int
    item: ScheduleItem = field(compare=False)
    claimed_at: float = field(compare=False)


class Sweeper:
    """Claims due items for one beat and fires them on time."""

    def __init__(
        self,
        store: Store,
        handlers: Handlers,
        *,
        claimant: str,
        config: SchedulerConfig,
        claim_executor: Executor,
        fire_executor: Executor,
        clock: Clock,
        batch: int = 1000,
    ) -> None:
        self._store = store
        self._handlers = handlers
        self._claimant = claimant
        self._config = config
        # Separate pools: claims of items due later never queue ahead of firings due now.
        self._claim_executor = claim_executor
        self._fire_executor = fire_executor
        self._clock = clock
        self._batch = batch
        self._heap: list[_Claimed] = []
        self._order = itertools.count()
        self._inflight: set[str] = set()
        self._claim_chunks_pending = 0
        self._peers: tuple[str, ...] = ()
        self._handoff_s = max(2 * config.sweep_interval, 0.1)
        self.changed = threading.Condition()
        # claimed, lost_claims, fired, retried, skipped: for health and tests.
        self.stats: Counter[str] = Counter()
        # Beyond this age a claim may look expired to a beat whose clock is ahead.
        self._claim_safe_s = max(config.claim_ttl - 2 * config.max_clock_skew, 0.0)

    def sweep(self, now: float) -> int:
        """Read due items and start claiming the new ones; return how many were new.

        Raises ``StoreUnavailable`` (and other ``StoreError``) from the read.
        """
        with self.changed:
            if self._claim_chunks_pending:
                # The last sweep's claims are still running: reading the same unclaimed
                # items again would only cost CPU. New ones are read once they are done.
                return 0
        due = self._store.due_schedules(now + self._config.lookahead, now, self._batch)
        with self.changed:
            fresh = [
                item
                for item in due
                if item.item_id not in self._inflight and self._claims_now(item, now)
            ]
            self._inflight.update(item.item_id for item in fresh)
            chunks = [fresh[i : i + CLAIM_CHUNK] for i in range(0, len(fresh), CLAIM_CHUNK)]
            self._claim_chunks_pending += len(chunks)
        QUEUE_DEPTH.labels("schedule_due").set(len(due))
        for chunk in chunks:
            self._submit(self._claim_executor, self._claim, chunk)
        return len(fresh)

    def set_peers(self, beats: list[str]) -> None:
        """The live beats (this one included): each claims its share of early items first."""
        with self.changed:
            self._peers = tuple(sorted(beats))

    def _claims_now(self, item: ScheduleItem, now: float) -> bool:
        """Whether to claim ``item`` at this sweep.

        Items due soon are claimed by every beat (the store picks one). Items further ahead
        are claimed by one beat by hash of their id, so that two beats do not both spend a
        round trip on each; an item its beat has not claimed when it is nearly due (that
        beat is slow or dead) is claimed by any beat then.
        """
        peers = self._peers
        if item.due_at <= now + self._handoff_s or self._claimant not in peers:
            return True
        share = zlib.crc32(item.item_id.encode()) % len(peers)
        return peers[share] == self._claimant

    def fire_ready(self, now: float) -> int:
        """Hand every claimed item due by ``now`` to the executor; return how many."""
        ready: list[_Claimed] = []
        with self.changed:
            while self._heap and self._heap[0].due_at <= now:
                ready.append(heapq.heappop(self._heap))
        for claimed in ready:
            self._submit(self._fire_executor, self._fire, claimed)
        return len(ready)

    def next_due(self) -> float | None:
        """The due time of the earliest claimed item waiting here."""
        with self.changed:
            return self._heap[0].due_at if self._heap else None

    def release_unfired(self) -> int:
        """Give back the claims of items not fired yet (on a clean stop), so that another
        beat fires them on time instead of after ``claim_ttl``. Re-storing an item in place
        of itself drops its claim; one changed meanwhile is left as it is now."""
        with self.changed:
            unfired, self._heap = self._heap, []
        released = 0
        for claimed in unfired:
            try:
                if self._store.replace_schedule(claimed.item, claimed.item):
                    released += 1
            except StoreError as exc:
                log.warning("could not release %s (its claim expires): %s", claimed.item, exc)
        return released

    def counts(self) -> dict[str, int]:
        """A copy of the counters (claimed, lost_claims, fired, retried, skipped)."""
        with self.changed:
            return dict(self.stats)

    def inflight(self) -> int:
        with self.changed:
            return len(self._inflight)

    def _claim(self, batch: list[ScheduleItem]) -> None:
        try:
            self._claim_each(batch)
        finally:
            with self.changed:
                self._claim_chunks_pending -= 1

    def _claim_each(self, batch: list[ScheduleItem]) -> None:
        for index, item in enumerate(batch):
            now = self._clock()
            try:
                won = self._store.claim_schedule(item, self._claimant, self._config.claim_ttl, now)
            except Exception as exc:
                # Whatever failed (an unexpected driver error included), the items must
                # leave the in-flight set, or this beat would never claim them again.
                STORE_ERRORS.labels(type(exc).__name__).inc()
                log.warning("claiming schedule items failed: %r", exc)
                self._release(item.item_id for item in batch[index:])
                return
            if not won:
                self._count("lost_claims")
                self._release([item.item_id])
                continue
            self._count("claimed")
            with self.changed:
                heapq.heappush(self._heap, _Claimed(item.due_at, next(self._order), item, now))
                self.changed.notify_all()

    def _fire(self, claimed: _Claimed) -> None:
        item = claimed.item
        try:
            now = self._clock()
            if now - claimed.claimed_at > self._claim_safe_s:
                self._count("skipped")
                log.warning("claim on %s held too long; leaving it to expire", item.item_id)
                return
            if self._needs_recheck(claimed) and self._store.get_schedule(item.item_id) != item:
                self._count("skipped")
                return  # cancelled or rescheduled since it was claimed
            outcome = self._handlers.fire(item, now)
            if outcome is Outcome.RETRY:
                self._count("retried")
                return
            self._count("fired")
            if outcome is Outcome.DONE:
                # Unconditional: a start, terminate or reap stored again under the same id
                # while this one fired is moot (the session was started or ended already).
                self._store.remove_schedule(item.item_id)
        except StoreError as exc:
            STORE_ERRORS.labels(type(exc).__name__).inc()
            self._count("retried")
            log.warning("firing %s failed, it will be retried: %s", item.item_id, exc)
        except Exception:
            self._count("retried")
            log.exception("firing %s failed, it will be retried", item.item_id)
        finally:
            self._release([item.item_id])

    @staticmethod
    def _needs_recheck(claimed: _Claimed) -> bool:
        """Whether the item may have been cancelled or moved since it was claimed ahead.

        A wake-up is never re-read: waking a session whose delayed send was cancelled
        costs a worker a look and changes nothing (the send is gone from its snapshot).
        """
        return claimed.item.due_at > claimed.claimed_at and claimed.item.kind != items.WAKEUP

    def _release(self, item_ids: Iterable[str]) -> None:
        with self.changed:
            self._inflight.difference_update(item_ids)

    def _count(self, name: str) -> None:
        with self.changed:
            self.stats[name] += 1

    @staticmethod
    def _submit(executor: Executor, fn: Callable[..., None], arg: object) -> None:
        try:
            executor.submit(fn, arg)
        except RuntimeError:
            # Shutting down: claims not fired expire and another beat fires the items.
            log.debug("executor shut down; dropping work")
