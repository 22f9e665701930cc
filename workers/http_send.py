"""The sending half of the Basic HTTP Event I/O Processor (SCXML 1.0 appendix C.2).

A ``<send type="http://www.w3.org/TR/scxml/#BasicHTTPEventProcessor">`` becomes an HTTP
POST to the target URL. The event name travels in the ``_scxmleventname`` parameter; a
data dict (from ``namelist``/``param``) travels as form fields, other data (``<content>``)
as the request body. Any failure is reported to the caller as :class:`HttpSendError`, which
the outbox turns into ``error.communication`` for the sending session.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from engine.events import Event
from orchestrion.errors import OrchestrionError

TIMEOUT_S = 10.0


class HttpSendError(OrchestrionError):
    """The POST could not be made or was answered with a non-2xx status."""


def form_fields(event: Event) -> dict[str, str]:
    """The form of an event whose data is a dict: one field per key, plus the name."""
    fields = {"_scxmleventname": event.name}
    data: dict[str, Any] = event.data
    for key, value in data.items():
        fields[str(key)] = value if isinstance(value, str) else json.dumps(value)
    return fields


def post_event(url: str, event: Event, client: httpx.Client | None = None) -> None:
    """POST ``event`` to ``url``; raise ``HttpSendError`` on any error or non-2xx answer."""
    own = client is None
    http = client or httpx.Client(timeout=TIMEOUT_S)
    try:
        if isinstance(event.data, dict) or event.data is None:
            response = http.post(url, data=form_fields(Event(event.name, data=event.data or {})))
        else:
            body = event.data if isinstance(event.data, str) else json.dumps(event.data)
            kind = "text/plain" if isinstance(event.data, str) else "application/json"
            response = http.post(
                url,
                params={"_scxmleventname": event.name},
                content=body.encode("utf-8"),
                headers={"content-type": kind},
            )
    except httpx.HTTPError as exc:
        raise HttpSendError(f"POST {url} failed: {exc}") from exc
    finally:
        if own:
            http.close()
    if not 200 <= response.status_code < 300:
        raise HttpSendError(f"POST {url} answered {response.status_code}")
