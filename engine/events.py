"""SCXML events as plain data: what ``_event`` holds, and what crosses sessions."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

EventType = Literal["platform", "internal", "external"]


@dataclass(frozen=True)
class Event:
    """One SCXML event (SCXML 1.0 section 5.10.1, the fields of ``_event``).

    ``data`` is JSON-compatible (dicts, lists, str, numbers, bool, None); XML content is
    carried as its serialised text in a dict ``{"$xml": "<...>"}`` so that it survives JSON.
    """

    name: str
    type: EventType = "external"
    sendid: str | None = None
    origin: str | None = None
    origintype: str | None = None
    invokeid: str | None = None
    data: Any = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Event:
        return cls(**raw)
