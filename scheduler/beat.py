"""The beat: one loop that sweeps the schedule store and fires what is due, on time.

``orchestrion beat`` runs :func:`run`. Any number of beats may run against one store; the
atomic claim makes each item fire once. The loop sweeps every ``sweep_interval`` (items
due within ``lookahead`` are claimed early) and otherwise sleeps until the earliest
claimed item is due, so an item stored ahead of time fires within milliseconds of its
time and one stored for "now" within about one sweep interval.

When the store cannot be reached the beat raises its alarm, keeps running and retries with
a growing back-off (up to one second); when the store answers
again it clears the alarm and catches up: what fell due meanwhile fires at once (cron
schedules follow their missed-run policy).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import FrameType
from typing import Any

from orchestrion.config import Config
from orchestrion.errors import StoreError
from orchestrion.metrics import STORE_ERRORS
from persistence.alarm import Alarm
from persistence.contract import ScheduleItem, Store
from scheduler import items
from scheduler.control import SessionControl
from scheduler.handlers import Handlers
from scheduler.reaper import Reaper
from scheduler.sweep import Clock, Sweeper
from scheduler.takeover import BEAT_ROLE, Takeover

log = logging.getLogger(__name__)

DEFAULT_THREADS = 16
CLAIM_THREADS = 8
ALARM_REMINDER_S = 60.0
MAX_OUTAGE_BACKOFF_S = 1.0


class Beat:
    """One beat process's loop; :meth:`run` blocks until :meth:`stop`."""

    def __init__(
        self,
        config: Config,
        store: Store,
        control: SessionControl,
        *,
        claimant: str | None = None,
        threads: int = DEFAULT_THREADS,
        clock: Clock = time.time,
    ) -> None:
        self.config = config
        self.store = store
        self.claimant = claimant or f"beat-{config.orchestration.node_id}"
        self.alarm = Alarm("scheduler")
        self._clock = clock
        self._claimers = ThreadPoolExecutor(CLAIM_THREADS, thread_name_prefix="beat-claim")
        self._firers = ThreadPoolExecutor(threads, thread_name_prefix="beat-fire")
        self.handlers = Handlers(
            store,
            control,
            config,
            Reaper(store, control, config.orchestration),
            Takeover(store, control, config),
        )
        self.sweeper = Sweeper(
            store,
            self.handlers,
            claimant=self.claimant,
            config=config.scheduler,
            claim_executor=self._claimers,
            fire_executor=self._firers,
            clock=clock,
        )
        self._stopping = threading.Event()
        self._last_alarm_log = 0.0
        scheduler = config.scheduler
        if scheduler.claim_ttl < 2 * (scheduler.lookahead + 2 * scheduler.max_clock_skew):
            log.warning(
                "[scheduler] claim-ttl %.1f s is short for lookahead %.1f s and max-clock-skew"
                " %.1f s: firings delayed by a slow store are abandoned and retried",
                scheduler.claim_ttl,
                scheduler.lookahead,
                scheduler.max_clock_skew,
            )

    # -- lifecycle ------------------------------------------------------------------------
    def run(self) -> None:
        """Sweep and fire until :meth:`stop`; never raises for store outages."""
        scheduler = self.config.scheduler
        # Retrying a store that is down is cheap (it fails fast), and catching up soon matters.
        max_backoff = min(self.config.persistence.reconnect_max_backoff, MAX_OUTAGE_BACKOFF_S)
        housekeeping_every = self.config.worker.heartbeat_interval
        next_sweep = next_housekeeping = 0.0
        backoff = scheduler.sweep_interval
        log.info("beat %s started", self.claimant)
        while not self._stopping.is_set():
            now = self._clock()
            if now >= next_sweep:
                try:
                    if now >= next_housekeeping:
                        self.housekeeping(now)
                        next_housekeeping = now + housekeeping_every
                    self.sweeper.sweep(now)
                    self._store_answered()
                    backoff = scheduler.sweep_interval
                    next_sweep = now + scheduler.sweep_interval
                except StoreError as exc:
                    self._store_failed(exc, now)
                    backoff = min(backoff * 2, max_backoff)
                    next_sweep = now + backoff
                except Exception:
                    # A bug or an unexpected driver error: keep the beat alive and retry.
                    log.exception("sweep failed; retrying")
                    backoff = min(backoff * 2, max_backoff)
                    next_sweep = now + backoff
            self.sweeper.fire_ready(self._clock())
            self._wait_until(next_sweep)
        self._shutdown()

    def stop(self) -> None:
        self._stopping.set()
        with self.sweeper.changed:
            self.sweeper.changed.notify_all()

    def health(self) -> dict[str, Any]:
        return {
            "beat": self.claimant,
            "alarm": self.alarm.to_json(),
            "inflight": self.sweeper.inflight(),
            "stats": self.sweeper.counts(),
        }

    # -- steps ----------------------------------------------------------------------------
    def housekeeping(self, now: float) -> None:
        """Heartbeat, learn the live beats, make sure the periodic system items exist."""
        info = {"role": BEAT_ROLE, "pid": os.getpid(), **self.sweeper.counts()}
        self.store.heartbeat(self.claimant, now, info)
        alive_s = 3 * self.config.worker.heartbeat_interval + self.config.scheduler.max_clock_skew
        self.sweeper.set_peers(
            [
                node.node
                for node in self.store.nodes()
                if node.info.get("role") == BEAT_ROLE and now - node.heartbeat_at <= alive_s
            ]
        )
        for item_id in (items.REAP_SCAN_ID, items.TAKEOVER_SCAN_ID):
            if self.store.get_schedule(item_id) is None:
                self.store.put_schedule(ScheduleItem(item_id, now, items.SYSTEM, {}))

    def _wait_until(self, next_sweep: float) -> None:
        with self.sweeper.changed:
            deadline = next_sweep
            earliest = self.sweeper.next_due()
            if earliest is not None and earliest < deadline:
                deadline = earliest
            timeout = deadline - self._clock()
            if timeout > 0 and not self._stopping.is_set():
                self.sweeper.changed.wait(timeout)

    def _store_failed(self, exc: StoreError, now: float) -> None:
        STORE_ERRORS.labels(type(exc).__name__).inc()
        first = self.alarm.raise_(str(exc), now)
        if first or now - self._last_alarm_log >= ALARM_REMINDER_S:
            self._last_alarm_log = now
            log.error("ALARM: store unavailable, scheduling is unavailable: %s", exc)

    def _store_answered(self) -> None:
        if self.alarm.clear():
            log.warning("store answers again: scheduling resumed, catching up on due items")

    def _shutdown(self) -> None:
        self._claimers.shutdown(wait=True, cancel_futures=False)
        self._firers.shutdown(wait=True, cancel_futures=False)
        released = self.sweeper.release_unfired()
        try:
            self.store.remove_node(self.claimant)  # the other beats take its share at once
        except StoreError as exc:
            log.warning("could not remove this beat from the node list: %s", exc)
        log.info("beat %s stopped (released %d claimed items)", self.claimant, released)


def run(config: Config) -> None:
    """``orchestrion beat``: open the store and the facade, then loop until SIGTERM/SIGINT."""
    from persistence import open_store
    from workers.orchestrator import Orchestrator

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    store = open_store(config)
    orchestrator = Orchestrator(config, store)
    beat = Beat(config, store, orchestrator)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        beat.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        beat.run()
    finally:
        orchestrator.close()  # sends the wake-ups still queued
        store.close()
