"""The store contract: everything Orchestrion keeps, as a small set of atomic operations.

Every backend (memory, SQLite, Redis, Cassandra) implements :class:`Store`. The logic that
uses it (session hosting, scheduling, takeover) lives in ``workers/`` and ``scheduler/`` and
works on every backend. Times are epoch seconds, UTC, as floats. Every operation raises
:class:`orchestrion.errors.StoreUnavailable` when the backend cannot be reached.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from persistence.alarm import Alarm

MAILBOX_DEDUP_WINDOW = 1000
"""How many sequence numbers back an applied and trimmed event id is still remembered.

An event whose id was trimmed less than this many events ago is still recognised as a
duplicate by ``append_events``; older ids are forgotten to bound the bytes per session.
"""


@dataclass(frozen=True)
class SessionRecord:
    """The stored state of one active session.

    ``snapshot`` is the engine's snapshot as JSON text. ``version`` increases by one on
    every write. ``applied_seq`` is the mailbox sequence number of the last event the
    snapshot includes, so that replay after a crash applies every later event once.
    ``outbox`` holds the effects (as JSON) produced by the write that stored this
    snapshot and not yet carried out; the writer clears it after dispatching them.
    """

    sessionid: str
    document_hash: str
    snapshot: str
    version: int
    applied_seq: int = 0
    outbox: tuple[str, ...] = ()
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True)
class FinishedSession:
    """What is kept, for a while, of a session that ended (status queries after the end)."""

    sessionid: str
    final_state: str | None
    ended_at: float
    reason: str = "final"


@dataclass(frozen=True)
class MailboxEntry:
    """An event accepted for a session and not yet applied.

    ``event_id`` is unique per session: appending an id that is already there is a no-op,
    which makes redelivered sends and re-dispatched outboxes idempotent. ``payload`` is the
    event as JSON text.
    """

    seq: int
    event_id: str
    payload: str


@dataclass(frozen=True)
class Lease:
    """Exclusive right to run a session. ``fence`` increases on every new grant."""

    sessionid: str
    owner: str
    fence: int
    expires_at: float


@dataclass(frozen=True)
class ScheduleItem:
    """Something due at a time: start, terminate, wake a session for a delayed send, cron.

    ``item_id`` is chosen by the caller and unique: adding an existing id replaces it
    (so re-adding after a crash is harmless). ``kind`` says which handler fires it and
    ``payload`` (JSON-compatible) carries its arguments.
    """

    item_id: str
    due_at: float
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NodeInfo:
    """A worker node and its last heartbeat."""

    node: str
    heartbeat_at: float
    info: dict[str, Any] = field(default_factory=dict)


class Store(ABC):
    """The contract every backend implements. All methods are atomic on their own."""

    # -- sessions -------------------------------------------------------------------------
    @abstractmethod
    def read_session(self, sessionid: str) -> SessionRecord | None:
        """The current record, or None when the session is not stored."""

    @abstractmethod
    def write_session(self, record: SessionRecord, *, fence: int | None = None) -> None:
        """Store ``record`` if its version is exactly one more than the stored one.

        A new session is written with version 1. Raises ``VersionConflict`` when the
        stored version is not ``record.version - 1``, and ``LeaseLost`` when ``fence`` is
        given and is not the fence of the session's current lease (a released lease has
        none). The fence is checked before the version.

        Writing a record whose version and snapshot equal the stored ones is a no-op that
        succeeds, so that retrying a write whose reply was lost is harmless.
        """

    @abstractmethod
    def clear_outbox(self, sessionid: str, version: int) -> None:
        """Empty the outbox of the record at ``version`` (a no-op if it moved on)."""

    @abstractmethod
    def finish_session(self, sessionid: str, finished: FinishedSession, ttl_s: float) -> None:
        """Remove the session, its mailbox, lease and owner; keep ``finished`` for ttl_s."""

    @abstractmethod
    def read_finished(self, sessionid: str) -> FinishedSession | None:
        """The record of an ended session, while it has not expired."""

    # -- mailboxes ------------------------------------------------------------------------
    @abstractmethod
    def append_events(
        self, sessionid: str, events: list[tuple[str, str]], *, fresh_ids: bool = False
    ) -> list[int]:
        """Append ``(event_id, payload)`` pairs in order; return their sequence numbers.

        Sequence numbers increase per session. An event id already in the mailbox (or
        already applied and trimmed, for a bounded window) keeps its old number.
        ``fresh_ids`` says the caller made the ids up just now (random uuids), so none can
        be there yet: a backend where looking them up costs a round trip may skip it.
        """

    @abstractmethod
    def read_mailbox(self, sessionid: str, after_seq: int, limit: int = 1000) -> list[MailboxEntry]:
        """Entries with ``seq > after_seq``, oldest first."""

    @abstractmethod
    def trim_mailbox(self, sessionid: str, upto_seq: int) -> None:
        """Drop entries with ``seq <= upto_seq`` (they are in a stored snapshot)."""

    # -- leases ---------------------------------------------------------------------------
    @abstractmethod
    def acquire_lease(self, sessionid: str, owner: str, ttl_s: float, now: float) -> Lease | None:
        """Grant the lease if it is free, expired or already ``owner``'s; else None."""

    @abstractmethod
    def release_lease(self, lease: Lease) -> None:
        """Give the lease up if it is still this one."""

    # -- documents ------------------------------------------------------------------------
    @abstractmethod
    def put_document(self, content_hash: str, source: str) -> None:
        """Store a document once under its content hash (idempotent)."""

    @abstractmethod
    def get_document(self, content_hash: str) -> str | None:
        """The document's source text, or None."""

    # -- schedules ------------------------------------------------------------------------
    @abstractmethod
    def put_schedule(self, item: ScheduleItem) -> None:
        """Add or replace an item (a claim on the replaced item is dropped)."""

    @abstractmethod
    def remove_schedule(self, item_id: str) -> None:
        """Delete an item whether claimed or not (cancel, or done)."""

    @abstractmethod
    def get_schedule(self, item_id: str) -> ScheduleItem | None:
        """One item by id."""

    @abstractmethod
    def due_schedules(self, until: float, now: float, limit: int = 1000) -> list[ScheduleItem]:
        """Items with ``due_at <= until`` that are unclaimed or whose claim expired."""

    @abstractmethod
    def claim_schedule(self, item: ScheduleItem, claimant: str, ttl_s: float, now: float) -> bool:
        """Claim ``item`` as it was read, atomically: True for exactly one of concurrent
        claimers; False if it is claimed, or was replaced or removed since it was read
        (so that nobody fires an old version of an item)."""

    @abstractmethod
    def replace_schedule(self, current: ScheduleItem, new: ScheduleItem | None) -> bool:
        """Replace ``current`` by ``new`` (same id; None removes it) only if the stored item
        still is ``current``: False, changing nothing, if it was replaced or removed since.
        A claim on it is dropped."""

    @abstractmethod
    def list_schedules(self, kind: str | None = None, limit: int = 1000) -> list[ScheduleItem]:
        """Items, optionally of one kind (for the REST API and cron management)."""

    # -- ownership ------------------------------------------------------------------------
    @abstractmethod
    def set_owner(self, sessionid: str, node: str) -> None:
        """Record that ``node`` owns the session in both indexes.

        The indexes are session → node and node → sessions; a previous owner's entry for
        the session is dropped.
        """

    @abstractmethod
    def owner_of(self, sessionid: str) -> str | None:
        """The owning node, if any."""

    @abstractmethod
    def sessions_of(self, node: str) -> list[str]:
        """Every session owned by ``node``."""

    @abstractmethod
    def heartbeat(self, node: str, now: float, info: dict[str, Any] | None = None) -> None:
        """Record that ``node`` is alive at ``now``."""

    @abstractmethod
    def nodes(self) -> list[NodeInfo]:
        """Every node that ever heart-beat and was not removed."""

    @abstractmethod
    def remove_node(self, node: str) -> None:
        """Forget a node (after its sessions were taken over).

        Drops its heartbeat, its node → sessions index and the session → node entries
        that still name it.
        """

    # -- lifecycle ------------------------------------------------------------------------
    _never_raised = Alarm()

    @property
    def alarm(self) -> Alarm:
        """The store alarm: active while the backend cannot be reached.

        ``persistence.open_store`` wraps the backend in ``ResilientStore``, whose alarm is
        raised on ``StoreUnavailable`` and cleared when the store answers again. A bare
        backend reports an alarm that is never raised.
        """
        return self._never_raised

    def ping(self) -> None:
        """Raise ``StoreUnavailable`` if the backend cannot be reached."""
        self.read_session("__ping__")

    def close(self) -> None:  # noqa: B027 - optional hook with a sane default
        """Release connections."""
