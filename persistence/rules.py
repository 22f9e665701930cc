"""The decisions behind the atomic operations, for backends that read-modify-write.

The memory and SQLite backends read the current state inside their lock or transaction
and ask these functions what to do; Redis (Lua) and Cassandra (lightweight transactions)
encode the same rules in their own language. One place states the rules:

- a session write is accepted when its version is exactly one more than the stored one
  (1 for a new session); rewriting the stored version with the identical snapshot is a
  harmless no-op, so a retry after a lost reply does not fail;
- when a fence is given, it must be the fence of the session's current lease holder;
- a lease is granted when free, expired or already the owner's; a grant to a new holder
  (or after expiry) increases the fence, a renewal by the live holder keeps it;
- a schedule item may be claimed when it is unclaimed or its claim expired.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrion.errors import LeaseLost, VersionConflict
from persistence.contract import Lease, SessionRecord


@dataclass(frozen=True)
class LeaseState:
    """The stored lease of a session: ``owner`` is None once released; the fence stays."""

    owner: str | None
    fence: int
    expires_at: float


def check_session_write(
    record: SessionRecord,
    stored_version: int | None,
    stored_snapshot: str | None,
    lease: LeaseState | None,
    fence: int | None,
) -> bool:
    """True to write, False for an identical rewrite (no-op); raises when refused."""
    if fence is not None and (lease is None or lease.owner is None or lease.fence != fence):
        current = "none" if lease is None or lease.owner is None else str(lease.fence)
        raise LeaseLost(
            f"session {record.sessionid}: fence {fence} is not the current lease's ({current})"
        )
    if stored_version == record.version and stored_snapshot == record.snapshot:
        return False
    expected = (stored_version or 0) + 1
    if record.version != expected:
        raise VersionConflict(
            f"session {record.sessionid}: writing version {record.version}, "
            f"stored version is {stored_version or 'none'} (expected {expected})"
        )
    return True


def grant_lease(
    sessionid: str, current: LeaseState | None, owner: str, ttl_s: float, now: float
) -> Lease | None:
    """The lease to store, or None when someone else holds a live one."""
    if current is None:
        return Lease(sessionid, owner, 1, now + ttl_s)
    live = current.owner is not None and current.expires_at > now
    if live and current.owner == owner:
        return Lease(sessionid, owner, current.fence, now + ttl_s)
    if live:
        return None
    return Lease(sessionid, owner, current.fence + 1, now + ttl_s)


def claim_is_free(claim_until: float | None, now: float) -> bool:
    """An item may be claimed when unclaimed or its claim expired."""
    return claim_until is None or claim_until <= now
