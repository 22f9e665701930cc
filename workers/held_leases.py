"""The session leases a worker node holds between drains."""

from __future__ import annotations

import threading
from collections import OrderedDict

from persistence.contract import Lease


class HeldLeases:
    """Leases by session, oldest grant first; an expired one is forgotten as grants come.

    Every grant of a node has the same TTL, so grant order is expiry order: the expired
    leases are at the front, and dropping them costs nothing per grant however many the
    node holds. A forgotten lease is only a renewal round trip on the next drain.
    """

    def __init__(self) -> None:
        self._leases: OrderedDict[str, Lease] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._leases)

    def get(self, sessionid: str) -> Lease | None:
        with self._lock:
            return self._leases.get(sessionid)

    def put(self, lease: Lease, now: float) -> None:
        """Hold ``lease`` (a new grant or a renewal) and forget the ones expired at ``now``."""
        with self._lock:
            self._leases[lease.sessionid] = lease
            self._leases.move_to_end(lease.sessionid)
            while self._leases:
                oldest = next(iter(self._leases.values()))
                if oldest.expires_at > now:
                    break
                self._leases.popitem(last=False)

    def forget(self, sessionid: str) -> None:
        with self._lock:
            self._leases.pop(sessionid, None)

    def take_all(self) -> list[Lease]:
        """Every lease held, which are then no longer held (to release them on close)."""
        with self._lock:
            leases = list(self._leases.values())
            self._leases.clear()
        return leases
