"""Where a ``<send>`` goes: the SCXML and Basic HTTP Event I/O Processors' target rules.

Resolution is pure: it turns (type, target) into a :class:`Route` or raises
:class:`SendError` naming the error event the spec asks for (SCXML 1.0 section 6.2.4
and Appendix C.1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

SCXML_TYPE = "http://www.w3.org/TR/scxml/#SCXMLEventProcessor"
BASICHTTP_TYPE = "http://www.w3.org/TR/scxml/#BasicHTTPEventProcessor"
# The Basic HTTP message, as workers/http_send.py sends it and api/ioprocessor.py reads it:
# the parameter naming the event (Appendix C.2), and the header whose repeat on a send
# dispatched again after a crash lets the receiver drop it.
EVENT_NAME_PARAM = "_scxmleventname"
IDEMPOTENCY_HEADER = "idempotency-key"
SEND_TYPES = {
    SCXML_TYPE: SCXML_TYPE,
    "scxml": SCXML_TYPE,
    BASICHTTP_TYPE: BASICHTTP_TYPE,
    "basichttp": BASICHTTP_TYPE,
}
INVOKE_TYPES = frozenset(
    {
        "http://www.w3.org/TR/scxml/",
        "http://www.w3.org/TR/scxml",
        "scxml",
        SCXML_TYPE,
    }
)

RouteKind = Literal["internal", "self", "session", "parent", "child", "url"]


@dataclass(frozen=True)
class Route:
    """A resolved send target: ``sessionid`` for session/parent/child, ``url`` for HTTP."""

    kind: RouteKind
    sessionid: str | None = None
    url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "sessionid": self.sessionid, "url": self.url}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Route:
        return cls(raw["kind"], raw.get("sessionid"), raw.get("url"))


class SendError(Exception):
    """A send cannot be dispatched; ``event`` is ``error.execution`` or ``error.communication``."""

    def __init__(self, event: str, message: str) -> None:
        super().__init__(message)
        self.event = event
        self.sendid: str | None = None


def ioprocessors_for(sessionid: str, extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``_ioprocessors`` system variable: SCXML always, plus what the host offers."""
    scxml = {"location": f"#_scxml_{sessionid}"}
    processors: dict[str, Any] = {SCXML_TYPE: scxml, "scxml": scxml}
    if extra:
        processors.update(extra)
        if BASICHTTP_TYPE in extra and "basichttp" not in extra:
            processors["basichttp"] = extra[BASICHTTP_TYPE]
    return processors


def resolve_target(
    send_type: str,
    target: str | None,
    *,
    sessionid: str,
    parent: str | None,
    children: Mapping[str, str],
    session_exists: Callable[[str], bool] | None,
) -> Route:
    """Resolve ``target`` for ``send_type``; ``children`` maps invoke ids to session ids."""
    kind = SEND_TYPES.get(send_type)
    if kind is None:
        raise SendError("error.execution", f"unsupported send type {send_type!r}")
    if kind == BASICHTTP_TYPE:
        if not target:
            raise SendError("error.communication", "a basichttp send needs a target URL")
        if target.startswith(("http://", "https://")):
            return Route("url", url=target)
        raise SendError("error.communication", f"cannot reach {target!r} over basichttp")
    if target is None:
        return Route("self")
    if target == "#_internal":
        return Route("internal")
    if target == "#_parent":
        if parent is None:
            raise SendError("error.communication", "this session has no parent")
        return Route("parent", sessionid=parent)
    if target.startswith("#_scxml_"):
        other = target[len("#_scxml_") :]
        if other == sessionid:
            return Route("self")
        if other == parent:
            return Route("parent", sessionid=parent)
        if session_exists is not None and not session_exists(other):
            raise SendError("error.communication", f"no session {other!r}")
        return Route("session", sessionid=other)
    if target.startswith("#_"):
        child = children.get(target[2:])
        if child is None:
            raise SendError("error.communication", f"no active invocation {target[2:]!r}")
        return Route("child", sessionid=child)
    raise SendError("error.execution", f"invalid target {target!r}")
