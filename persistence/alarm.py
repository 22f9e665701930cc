"""The store alarm: raised while the store cannot be reached, cleared when it is back.

The rest of the system reads it (the HTTP health endpoint shows it; the scheduler pauses
while it is active). It is thread-safe and cheap to read.
"""

from __future__ import annotations

import threading
import time
from typing import Any


class Alarm:
    """An on/off condition with the time it went on and the last error seen."""

    def __init__(self, name: str = "store") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._since: float | None = None
        self._cleared_at: float | None = None
        self._last_error: str | None = None
        self._raised_count = 0

    @property
    def active(self) -> bool:
        return self._since is not None

    @property
    def since(self) -> float | None:
        """Epoch seconds when the alarm went on, or None when it is off."""
        return self._since

    @property
    def cleared_at(self) -> float | None:
        """Epoch seconds when the alarm last went off, or None if it never did."""
        return self._cleared_at

    @property
    def last_error(self) -> str | None:
        """The most recent error while the alarm was on (kept after it clears)."""
        return self._last_error

    @property
    def raised_count(self) -> int:
        """How many times the alarm went from off to on since this process started."""
        return self._raised_count

    def raise_(self, error: str, now: float | None = None) -> bool:
        """Turn the alarm on (or keep it on); True if it was off."""
        with self._lock:
            self._last_error = error
            if self._since is not None:
                return False
            self._since = time.time() if now is None else now
            self._raised_count += 1
            return True

    def clear(self) -> bool:
        """Turn the alarm off; True if it was on."""
        with self._lock:
            was_active = self._since is not None
            self._since = None
            if was_active:
                self._cleared_at = time.time()
            return was_active

    def silent_for(self, heartbeat_at: float, now: float) -> float:
        """How long a node whose last heartbeat is ``heartbeat_at`` has been silent, as far
        as a process with this store alarm can tell. No node could heartbeat while the store
        was down, so silence counts from the end of the last outage this process saw: after
        a long outage, live nodes are not declared dead before they had a chance to."""
        return now - max(heartbeat_at, self._cleared_at or heartbeat_at)

    def to_json(self) -> dict[str, Any]:
        """``{"active", "since", "last_error"}`` for the health endpoint."""
        return {"active": self.active, "since": self._since, "last_error": self._last_error}
