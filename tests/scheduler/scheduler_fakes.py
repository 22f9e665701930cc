"""Test doubles for the scheduler: a session layer that records what the beat asked of it.

``RecordingControl`` keeps calls in memory (unit tests); ``FileRecordingControl`` appends
one line per call to a file (beat processes in integration tests and the benchmark), so
that firings are counted from what really happened, not from timing.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, replace
from typing import Any

from orchestrion.config import Config
from orchestrion.errors import SessionNotFound
from persistence.contract import Store
from scheduler.control import SessionControl
from scheduler.handlers import Handlers
from scheduler.reaper import Reaper
from scheduler.sweep import Sweeper
from scheduler.takeover import Takeover


@dataclass(frozen=True)
class Call:
    """One call: ``start``, ``terminate`` or ``wake``, its session, and its arguments."""

    op: str
    sessionid: str
    args: dict[str, Any]
    at: float


class RecordingControl:
    """Implements ``scheduler.control.SessionControl``; records calls, starts idempotently."""

    def __init__(self, *, missing: set[str] | None = None) -> None:
        self.calls: list[Call] = []
        self.started: set[str] = set()
        self.missing = missing if missing is not None else set()
        self.fail_with: Exception | None = None
        self._lock = threading.Lock()

    def start_now(
        self,
        *,
        sessionid: str,
        document_hash: str | None = None,
        src: str | None = None,
        data: dict[str, Any] | None = None,
        idealtime: float | None = None,
    ) -> str:
        self._record(
            "start", sessionid, document_hash=document_hash, src=src, data=data, idealtime=idealtime
        )
        with self._lock:
            self.started.add(sessionid)
        return sessionid

    def terminate(self, sessionid: str, *, reason: str = "terminated") -> None:
        self._record("terminate", sessionid, reason=reason)
        if sessionid in self.missing:
            raise SessionNotFound(sessionid)

    def wake(self, sessionid: str) -> bool:
        if sessionid in self.missing:
            return False
        self._record("wake", sessionid)
        return True

    def wake_if_pending(self, sessionid: str) -> bool:
        if sessionid in self.missing:  # ended: nothing is pending
            return False
        self._record("wake", sessionid)  # a recording has no mailboxes: always pending
        return True

    def ops(self, op: str) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.op == op]

    def _record(self, op: str, sessionid: str, **args: Any) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        with self._lock:
            self.calls.append(Call(op, sessionid, args, time.time()))


class FileRecordingControl:
    """Appends ``op<TAB>sessionid<TAB>idealtime<TAB>now`` per call (one atomic write each)."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def start_now(
        self,
        *,
        sessionid: str,
        document_hash: str | None = None,
        src: str | None = None,
        data: dict[str, Any] | None = None,
        idealtime: float | None = None,
    ) -> str:
        self._write("start", sessionid, idealtime)
        return sessionid

    def terminate(self, sessionid: str, *, reason: str = "terminated") -> None:
        self._write("terminate", sessionid, None)

    def wake(self, sessionid: str) -> bool:
        self._write("wake", sessionid, None)
        return True

    def wake_if_pending(self, sessionid: str) -> bool:
        self._write("wake", sessionid, None)
        return True

    def _write(self, op: str, sessionid: str, idealtime: float | None) -> None:
        line = f"{op}\t{sessionid}\t{idealtime if idealtime is not None else ''}\t{time.time()!r}\n"
        os.write(self._fd, line.encode())


def read_records(paths: list[str]) -> list[tuple[str, str, float | None, float]]:
    """Every line written by ``FileRecordingControl`` into ``paths``."""
    records = []
    for path in paths:
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                op, sessionid, ideal, now = line.rstrip("\n").split("\t")
                records.append((op, sessionid, float(ideal) if ideal else None, float(now)))
    return records


class InlineExecutor(Executor):
    """Runs submitted work at once, in the caller's thread (deterministic unit tests)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future


class DeferredExecutor(Executor):
    """Holds submitted work until :meth:`run_pending` (to interleave two beats' claims)."""

    def __init__(self) -> None:
        self.pending: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.pending.append((fn, args))
        return Future()

    def run_pending(self) -> int:
        ran = 0
        while self.pending:
            fn, args = self.pending.pop(0)
            fn(*args)
            ran += 1
        return ran


class ManualClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def scheduler_config(**scheduler: Any) -> Config:
    """Default config with ``[scheduler]`` options replaced."""
    base = Config()
    return replace(base, scheduler=replace(base.scheduler, **scheduler))


def make_sweeper(
    store: Store,
    control: SessionControl,
    clock: ManualClock,
    *,
    claimant: str = "beat-a",
    config: Config | None = None,
    executor: Executor | None = None,
) -> Sweeper:
    """A sweeper with inline execution: sweep/fire_ready do all their work before returning."""
    config = config or scheduler_config()
    handlers = Handlers(
        store,
        control,
        config,
        Reaper(store, control, config.orchestration),
        Takeover(store, control, config),
    )
    return Sweeper(
        store,
        handlers,
        claimant=claimant,
        config=config.scheduler,
        claim_executor=executor or InlineExecutor(),
        fire_executor=executor or InlineExecutor(),
        clock=clock,
    )
