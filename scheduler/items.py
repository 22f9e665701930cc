"""The kinds of schedule item the beat fires, and how their ids are spelled.

Every kind is stored as a :class:`persistence.contract.ScheduleItem` whose ``item_id``
starts with the kind, so that writers (API, workers, the beat itself) agree on one id per
thing and re-adding it replaces it:

- ``start:<sessionid>``: start a session at ``due_at`` (payload: sessionid, document_hash
  or src, data).
- ``terminate:<sessionid>``: terminate a session at ``due_at``.
- ``wakeup:<sessionid>``: run a session again at its next delayed send. Written and removed
  by the workers; the beat only wakes the session.
- ``mailbox:<sessionid>`` (kind ``wakeup``): the safety net of accepted work, put by
  accepts (see :mod:`workers.wakeups`). The beat removes it when it fires and wakes the
  session if work is still pending.
- ``cron:<name>``: a recurring schedule (payload: see :mod:`scheduler.cron`).
- ``reap:<sessionid>``: a session passed its lifetime or idle deadline (payload: reason).
- ``system:reap-scan`` and ``system:takeover-scan``: the beat's own periodic jobs; the
  claim makes exactly one beat run each scan.
"""

from __future__ import annotations

from typing import Final

from persistence.contract import ScheduleItem

START: Final = "start"
TERMINATE: Final = "terminate"
WAKEUP: Final = "wakeup"
CRON: Final = "cron"
REAP: Final = "reap"
SYSTEM: Final = "system"

KINDS: Final = (START, TERMINATE, WAKEUP, CRON, REAP, SYSTEM)

REAP_SCAN_ID: Final = "system:reap-scan"
TAKEOVER_SCAN_ID: Final = "system:takeover-scan"

# A paused cron item stays stored, due at the last second of year 9999: no sweep reaches it.
PAUSED_DUE_AT: Final = 253402300799.0


def item_id(kind: str, key: str) -> str:
    """The id of the ``kind`` item for ``key`` (a session id or a cron name)."""
    return f"{kind}:{key}"


def key_of(item: ScheduleItem) -> str:
    """The session id or cron name an item is about (the part after ``<kind>:``)."""
    return item.item_id.partition(":")[2]


def wakeup_item(sessionid: str, due_at: float) -> ScheduleItem:
    """The item that wakes ``sessionid`` at ``due_at`` (for the workers to store)."""
    return ScheduleItem(item_id(WAKEUP, sessionid), due_at, WAKEUP, {"sessionid": sessionid})
