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
    ``raw`` is the message as an I/O processor received it (for the Basic HTTP Event I/O
    Processor: request line, headers, blank line, body), or None when there was none.
    """

    name: str
    type: EventType = "external"
    sendid: str | None = None
    origin: str | None = None
    origintype: str | None = None
    invokeid: str | None = None
    data: Any = None
    raw: str | None = None

    def to_json(self) -> dict[str, Any]:
        fields = asdict(self)
        if self.raw is None:
            # most events have no raw form: keep their JSON as it was before the field existed
            del fields["raw"]
        return fields

    @classmethod
    def from_json(cls, fields: dict[str, Any]) -> Event:
        return cls(**fields)
