"""The part of ``workers.orchestrator.Orchestrator`` the HTTP layer calls, as a protocol.

The API never runs sessions itself: every route turns a request into one facade call,
so that any API node can answer for any session.
"""

from __future__ import annotations

from typing import Any, Protocol

from starlette.requests import Request

from engine.events import Event
from persistence.contract import Store


class LoadedDocument(Protocol):
    """What the API reads of a loaded document."""

    @property
    def content_hash(self) -> str: ...

    @property
    def name(self) -> str | None: ...


class Facade(Protocol):
    """Start, signal, query and terminate sessions; load documents; report health."""

    @property
    def store(self) -> Store: ...

    def load_document(self, source: str | None = None, src: str | None = None) -> Any: ...

    def start_session(
        self,
        *,
        source: str | None = None,
        src: str | None = None,
        data: dict[str, Any] | None = None,
        at: float | None = None,
        sessionid: str | None = None,
    ) -> str: ...

    def send_event(
        self, sessionid: str, name: str, data: Any = None, *, event_id: str | None = None
    ) -> str: ...

    def accept_event(self, sessionid: str, event: Event, *, key: str | None = None) -> str: ...

    def terminate(self, sessionid: str, *, at: float | None = None) -> None: ...

    def query(self, sessionid: str) -> dict[str, Any]: ...

    def health(self) -> dict[str, Any]: ...


def facade(request: Request) -> Facade:
    """The facade the application was created with."""
    found: Facade = request.app.state.orchestrator
    return found
