"""What a session asks of the world, returned as data by every step of the engine.

The engine never performs I/O. After each call that runs the interpreter, the host takes
these effects and carries them out *after* it has stored the state that caused them (the
outbox rule). Delayed sends are not effects: they stay inside the session (and its
snapshot) until due, and the host only has to run the session again at ``next_wakeup``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.events import Event


@dataclass(frozen=True)
class SendToSession:
    """Deliver ``event`` to the external queue of session ``sessionid``.

    Covers ``#_scxml_<id>``, ``#_parent`` (resolved to the parent's id), ``#_<invokeid>``
    (resolved to the child's id) and ``done.invoke.<id>`` from a child to its parent.
    """

    sessionid: str
    event: Event


@dataclass(frozen=True)
class SendToUrl:
    """Deliver ``event`` through the Basic HTTP Event I/O Processor (an HTTP POST)."""

    url: str
    event: Event


@dataclass(frozen=True)
class StartChild:
    """Start an invoked SCXML child session (``<invoke>``).

    ``source`` is the child's document text (the engine already resolved ``src`` through
    its injected loader); ``location`` is the URL it came from, for relative ``src`` in it.
    ``data`` is the child's initial values from ``param`` and ``namelist``.
    """

    sessionid: str
    invokeid: str
    parent_sessionid: str
    source: str
    location: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CancelChild:
    """Stop child session ``sessionid``: its parent left the invoking state."""

    sessionid: str
    invokeid: str


@dataclass(frozen=True)
class Log:
    """A ``<log>`` element was executed."""

    label: str | None
    value: Any


Effect = SendToSession | SendToUrl | StartChild | CancelChild | Log
