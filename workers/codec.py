"""JSON forms of what the workers keep in the store: mailbox entries, outbox effects, records.

A mailbox entry is either an SCXML event or a control request (``terminate``) so that a
terminate is ordered with the events accepted before it. A session record's ``snapshot``
is the engine's snapshot, except for two states the engine never sees: a session whose
start was accepted but not run yet (``pending start``), and a non-persisted session whose
state lives only in its owner's memory (``transient``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from engine.effects import CancelChild, Effect, Log, SendToSession, SendToUrl, StartChild
from engine.events import Event

MARKER = "orchestrion"


# -- mailbox entries --------------------------------------------------------------------------


@dataclass(frozen=True)
class TerminateRequest:
    """End the session through the normal path, after the events accepted before it."""

    reason: str


# The reason a parent gives when it leaves its invoking state; any other reason is told to it.
CANCELLED_BY_PARENT = "cancelled"


def client_event_id(key: str) -> str:
    """The mailbox event id of an idempotency key a client chose. Client keys have their own
    namespace, so that none can stand for an id the server gives its own entries (such as
    ``terminate:<reason>``, which would make a later terminate a duplicate)."""
    return f"client:{key}"


MailboxItem = Event | TerminateRequest


def encode_item(item: MailboxItem) -> str:
    if isinstance(item, TerminateRequest):
        return json.dumps({"terminate": item.reason})
    return json.dumps({"event": item.to_json()})


def decode_item(payload: str) -> MailboxItem:
    raw = json.loads(payload)
    if "terminate" in raw:
        return TerminateRequest(str(raw["terminate"]))
    return Event.from_json(raw["event"])


# -- outbox effects ---------------------------------------------------------------------------


def encode_effect(effect: Effect) -> str:
    if isinstance(effect, SendToSession):
        body: dict[str, Any] = {"sessionid": effect.sessionid, "event": effect.event.to_json()}
    elif isinstance(effect, SendToUrl):
        body = {"url": effect.url, "event": effect.event.to_json()}
    elif isinstance(effect, StartChild):
        body = {
            "sessionid": effect.sessionid,
            "invokeid": effect.invokeid,
            "parent_sessionid": effect.parent_sessionid,
            "source": effect.source,
            "location": effect.location,
            "data": effect.data,
        }
    elif isinstance(effect, CancelChild):
        body = {"sessionid": effect.sessionid, "invokeid": effect.invokeid}
    else:
        body = {"label": effect.label, "value": effect.value}
    return json.dumps({"type": type(effect).__name__, **body}, default=str)


def decode_effect(text: str) -> Effect:
    raw = json.loads(text)
    kind = raw.pop("type")
    if kind == "SendToSession":
        return SendToSession(raw["sessionid"], Event.from_json(raw["event"]))
    if kind == "SendToUrl":
        return SendToUrl(raw["url"], Event.from_json(raw["event"]))
    if kind == "StartChild":
        return StartChild(**raw)
    if kind == "CancelChild":
        return CancelChild(**raw)
    return Log(raw["label"], raw["value"])


# -- record snapshots -------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingStart:
    """A start accepted (durably) and not run yet: what ``Session.create`` needs."""

    data: dict[str, Any] = field(default_factory=dict)
    parent: str | None = None
    invokeid: str | None = None
    location: str | None = None
    persist: bool = True


@dataclass(frozen=True)
class Transient:
    """A non-persisted session: its state lives only in ``node``'s memory.

    ``parent``/``invokeid`` are kept for the one thing the store must still know if that
    memory is lost: which parent to tell.
    """

    node: str
    parent: str | None = None
    invokeid: str | None = None


def encode_pending(start: PendingStart) -> str:
    return json.dumps(
        {
            MARKER: "start",
            "data": start.data,
            "parent": start.parent,
            "invokeid": start.invokeid,
            "location": start.location,
            "persist": start.persist,
        }
    )


def encode_transient(marker: Transient) -> str:
    return json.dumps(
        {
            MARKER: "transient",
            "node": marker.node,
            "parent": marker.parent,
            "invokeid": marker.invokeid,
        }
    )


def decode_snapshot(text: str) -> PendingStart | Transient | dict[str, Any]:
    """The pending start, the transient marker, or the engine's snapshot dict."""
    raw: dict[str, Any] = json.loads(text)
    kind = raw.get(MARKER)
    if kind == "start":
        return PendingStart(
            data=raw["data"] or {},
            parent=raw["parent"],
            invokeid=raw["invokeid"],
            location=raw["location"],
            persist=raw["persist"],
        )
    if kind == "transient":
        return Transient(raw["node"], raw.get("parent"), raw.get("invokeid"))
    return raw


def invoked_by(snapshot_text: str) -> tuple[str, str] | None:
    """The parent session and invokeid of a record's session, if ``<invoke>`` started it.

    Reads what it can of a snapshot that may be corrupt (the session is failing).
    """
    try:
        state = decode_snapshot(snapshot_text)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if isinstance(state, dict):
        parent, invokeid = state.get("parent"), state.get("invokeid")
    else:
        parent, invokeid = state.parent, state.invokeid
    if isinstance(parent, str) and isinstance(invokeid, str):
        return parent, invokeid
    return None
