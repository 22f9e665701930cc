"""The sending half of the Basic HTTP Event I/O Processor (SCXML 1.0 appendix C.2).

A ``<send type="http://www.w3.org/TR/scxml/#BasicHTTPEventProcessor">`` becomes an HTTP
POST to the target URL. The event name, when there is one, travels in the
``_scxmleventname`` parameter; a data dict (from ``namelist``/``param``) travels as form
fields; ``<content>`` text is the body, URL-encoded (the W3C test 520 looks for
``this%20is%20some%20content``); other data as a JSON body. Any failure is reported to the
caller as :class:`HttpSendError`, which the outbox turns into ``error.communication`` for
the sending session.

A POST to this server's own API (a URL under ``[api] public-url``, such as a session's own
access URI) carries ``Authorization: Bearer <the first [api] auth-tokens entry>``, since
the API asks every request for one; the token is never sent anywhere else.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from engine.events import Event
from engine.ioprocessor import EVENT_NAME_PARAM, IDEMPOTENCY_HEADER
from orchestrion.config import ApiConfig
from orchestrion.errors import OrchestrionError

TIMEOUT_S = 10.0
DEFAULT_PORTS = {"http": 80, "https": 443}


class HttpSendError(OrchestrionError):
    """The POST could not be made or was answered with a non-2xx status."""


def form_fields(event: Event) -> dict[str, str]:
    """The form of an event whose data is a dict: one field per key, plus the name."""
    fields = {EVENT_NAME_PARAM: event.name} if event.name else {}
    data: dict[str, Any] = event.data or {}
    for key, value in data.items():
        fields[str(key)] = value if isinstance(value, str) else json.dumps(value)
    return fields


def _origin_and_path(url: str) -> tuple[str, str, int | None, str]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or DEFAULT_PORTS.get(scheme)
    return scheme, (parts.hostname or "").lower(), port, parts.path


def is_under(url: str, base: str) -> bool:
    """Whether ``url`` is ``base`` or below it: same scheme, host and port, path within."""
    if not base:
        return False
    *origin, path = _origin_and_path(url)
    *base_origin, base_path = _origin_and_path(base)
    base_path = base_path.rstrip("/")
    return origin == base_origin and (path == base_path or path.startswith(base_path + "/"))


def post_event(
    url: str,
    event: Event,
    client: httpx.Client | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> None:
    """POST ``event`` to ``url``; raise ``HttpSendError`` on any error or non-2xx answer."""
    own = client is None
    http = client or httpx.Client(timeout=TIMEOUT_S)
    extra = headers or {}
    try:
        if isinstance(event.data, dict) or event.data is None:
            response = http.post(url, data=form_fields(event), headers=extra)
        else:
            if isinstance(event.data, str):
                # quote() writes a space as %20, which the W3C test 520 accepts ('+' it does not)
                body, kind = quote(event.data, safe=""), "application/x-www-form-urlencoded"
            else:
                body, kind = json.dumps(event.data), "application/json"
            response = http.post(
                url,
                params={EVENT_NAME_PARAM: event.name} if event.name else None,
                content=body.encode("utf-8"),
                headers={**extra, "content-type": kind},
            )
    except httpx.HTTPError as exc:
        raise HttpSendError(f"POST {url} failed: {exc}") from exc
    finally:
        if own:
            http.close()
    if not 200 <= response.status_code < 300:
        raise HttpSendError(f"POST {url} answered {response.status_code}")


class HttpSender:
    """Posts events, with this server's bearer token on posts to its own ``public_url``."""

    def __init__(self, public_url: str = "", token: str | None = None) -> None:
        self.public_url = public_url
        self._token = token

    @classmethod
    def from_config(cls, api: ApiConfig) -> HttpSender:
        return cls(api.public_url, api.auth_tokens[0] if api.auth_tokens else None)

    def headers_for(self, url: str) -> dict[str, str]:
        if self._token is None or not is_under(url, self.public_url):
            return {}
        return {"authorization": f"Bearer {self._token}"}

    def post(self, url: str, event: Event, idempotency_key: str) -> None:
        headers = {**self.headers_for(url), IDEMPOTENCY_HEADER: idempotency_key}
        post_event(url, event, headers=headers)
