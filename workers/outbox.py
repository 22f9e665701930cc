"""Carrying out a session's effects after the state that caused them is stored.

Every effect gets a deterministic id, ``<sessionid>:<version>:<index>`` (the record version
that stored the outbox and the effect's place in it). Events sent to sessions carry it as
their mailbox event id, so dispatching the same outbox twice (after a crash between the
store write and the clearing of the outbox) appends nothing twice. Child starts are
idempotent by child session id. HTTP sends are the one effect that may leave twice.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Protocol

from engine.effects import CancelChild, Effect, Log, SendToSession, SendToUrl, StartChild
from engine.events import Event
from orchestrion.errors import DocumentError, SessionNotFound
from workers.codec import CANCELLED_BY_PARENT, MailboxItem, TerminateRequest, decode_effect
from workers.http_send import HttpSender, HttpSendError

log = logging.getLogger("orchestrion.session")


class Delivery(Protocol):
    """What the outbox needs from the session layer (the ``Orchestrator`` provides it)."""

    def post(self, sessionid: str, item: MailboxItem, *, event_id: str) -> None:
        """Accept ``item`` into the session's mailbox; ``SessionNotFound`` if there is none."""

    def start_child(self, effect: StartChild) -> None:
        """Start an invoked child session (a no-op if it exists or existed)."""


def effect_id(sessionid: str, version: int, index: int) -> str:
    return f"{sessionid}:{version}:{index}"


def error_event(name: str, cause: Event | None, message: str) -> Event:
    """A platform error event about ``cause`` (SCXML 1.0 section 5.10.3)."""
    return Event(
        name,
        type="platform",
        sendid=cause.sendid if cause else None,
        data={"message": message},
    )


class Outbox:
    """Dispatches stored effects through a :class:`Delivery`."""

    def __init__(self, delivery: Delivery, http: HttpSender | None = None) -> None:
        self._delivery = delivery
        self._http = http or HttpSender()

    def dispatch(self, sessionid: str, version: int, effects: Sequence[str]) -> None:
        for index, text in enumerate(effects):
            self.carry_out(sessionid, effect_id(sessionid, version, index), decode_effect(text))

    def carry_out(self, sessionid: str, eid: str, effect: Effect) -> None:
        """Carry out one effect of session ``sessionid``; ``eid`` makes a repeat a no-op."""
        if isinstance(effect, SendToSession):
            try:
                self._delivery.post(effect.sessionid, effect.event, event_id=eid)
            except SessionNotFound:
                self._report(
                    sessionid,
                    eid,
                    "error.communication",
                    effect.event,
                    f"no session {effect.sessionid}",
                )
        elif isinstance(effect, SendToUrl):
            try:
                self._http.post(effect.url, effect.event, idempotency_key=eid)
            except HttpSendError as exc:
                self._report(sessionid, eid, "error.communication", effect.event, str(exc))
        elif isinstance(effect, StartChild):
            try:
                self._delivery.start_child(effect)
            except DocumentError as exc:
                self._report(
                    sessionid, eid, "error.execution", None, f"invoke {effect.invokeid}: {exc}"
                )
        elif isinstance(effect, CancelChild):
            with contextlib.suppress(SessionNotFound):  # the child already ended
                self._delivery.post(
                    effect.sessionid, TerminateRequest(CANCELLED_BY_PARENT), event_id=eid
                )
        elif isinstance(effect, Log):
            log.info(
                "session %s: %s%s",
                sessionid,
                f"{effect.label}: " if effect.label else "",
                effect.value,
            )

    def _report(self, sessionid: str, eid: str, name: str, cause: Event | None, why: str) -> None:
        try:
            self._delivery.post(sessionid, error_event(name, cause, why), event_id=f"{eid}:error")
        except SessionNotFound:
            log.warning("session %s ended before it could receive %s: %s", sessionid, name, why)
