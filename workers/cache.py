"""A bounded LRU of live sessions, each valid only for the store version it was left at.

A worker keeps the sessions it ran recently so that a busy session is not rebuilt from its
snapshot on every event. An entry is valid only while the stored record still has the
version the entry was left at. The host checks that with the fenced write itself (it must
be exactly one version ahead), so a hit costs no read: if any other worker wrote the
session since, the write fails, the entry is dropped and the session restored instead.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any


@dataclass
class LiveSession:
    """A session in memory and what the host knows about it beyond the engine."""

    session: Any  # engine.Session
    document_hash: str
    version: int
    applied_seq: int
    persist: bool
    next_wakeup: float | None = None
    created_at: float = 0.0
    trimmed_seq: int = 0


def close_session(entry: LiveSession) -> None:
    """Free what a session holds outside Python's heap (its JavaScript context)."""
    entry.session.close()


class SessionCache:
    """Thread-safe LRU keyed by session id; ``take`` removes, so one runner holds an entry."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, LiveSession] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def take(self, sessionid: str) -> LiveSession | None:
        """The entry whatever its version (removed): its user validates it by a fenced write."""
        with self._lock:
            entry = self._entries.pop(sessionid, None)
            if entry is None:
                self.misses += 1
            else:
                self.hits += 1
            return entry

    def put(self, sessionid: str, entry: LiveSession) -> None:
        """Keep ``entry`` as the most recently used, evicting the least recently used."""
        evicted: list[LiveSession] = []
        with self._lock:
            self._entries[sessionid] = entry
            self._entries.move_to_end(sessionid)
            while len(self._entries) > self._capacity:
                evicted.append(self._entries.popitem(last=False)[1])
        for old in evicted:
            close_session(old)

    def drop(self, sessionid: str) -> None:
        with self._lock:
            entry = self._entries.pop(sessionid, None)
        if entry is not None:
            close_session(entry)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
