"""What the beat asks of the session layer: the part of ``workers.orchestrator.Orchestrator``
it calls, as a protocol, so that the beat runs against the real facade in production and
against a recording one in tests.

Each call must be idempotent, because a claim that expires is fired again: starting a
session id that already exists (or already ended) is a no-op, terminating a session that is
gone is a no-op (or raises ``SessionNotFound``, which the beat treats as done), and waking
a session only makes a worker look at it.
"""

from __future__ import annotations

from typing import Any, Protocol


class SessionControl(Protocol):
    """Start, terminate and wake sessions (implemented by the ``Orchestrator`` facade)."""

    def start_now(
        self,
        *,
        sessionid: str,
        document_hash: str | None = None,
        src: str | None = None,
        data: dict[str, Any] | None = None,
        idealtime: float | None = None,
    ) -> str:
        """Start session ``sessionid`` of a stored document (by hash) or of ``src``."""

    def terminate(self, sessionid: str, *, reason: str = "terminated") -> None:
        """Terminate the session; ``reason`` ends up in its finished record and log."""

    def wake(self, sessionid: str) -> bool:
        """Have a worker run the session (due delayed sends, pending events, re-owning);
        return False, and do nothing, for an unknown or ended session."""

    def wake_if_pending(self, sessionid: str) -> bool:
        """Wake the session if it has work no worker did yet (a pending start, events not
        applied); return whether it did."""
