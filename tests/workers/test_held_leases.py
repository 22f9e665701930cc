"""The leases a worker node holds between drains (workers/held_leases.py)."""

from persistence.contract import Lease
from workers.held_leases import HeldLeases

TTL = 10.0


def grant(sessionid: str, at: float, fence: int = 1) -> Lease:
    return Lease(sessionid, "node-a", fence, at + TTL)


def test_held_leases_are_found_and_renewals_replace_them() -> None:
    held = HeldLeases()
    held.put(grant("a", 0.0), now=0.0)
    held.put(grant("b", 1.0), now=1.0)
    held.put(grant("a", 2.0), now=2.0)  # a renewal: same fence, later expiry
    assert held.get("a") == grant("a", 2.0)
    held.forget("b")
    assert held.get("b") is None and len(held) == 1


def test_expired_leases_are_forgotten_as_new_grants_come() -> None:
    held = HeldLeases()
    for n in range(100):  # granted at 0.00 .. 0.99, expiring at 10.00 .. 10.99
        held.put(grant(f"s{n}", n * 0.01), now=n * 0.01)
    held.put(grant("s99", 10.5), now=10.5)  # a renewal, and s0 .. s50 have expired
    assert len(held) == 49
    assert held.get("s50") is None and held.get("s51") is not None
    held.put(grant("late", 15.0), now=15.0)
    assert {lease.sessionid for lease in held.take_all()} == {"s99", "late"}
    assert len(held) == 0


def test_a_lease_renewed_in_time_is_kept() -> None:
    held = HeldLeases()
    held.put(grant("old", 0.0), now=0.0)
    held.put(grant("kept", 0.0), now=0.0)
    held.put(grant("kept", 6.0), now=6.0)
    held.put(grant("new", 12.0), now=12.0)
    assert held.get("old") is None
    assert held.get("kept") == grant("kept", 6.0)
    assert sorted(lease.sessionid for lease in held.take_all()) == ["kept", "new"]
