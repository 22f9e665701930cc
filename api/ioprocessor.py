"""The receiving half of the SCXML Basic HTTP Event I/O Processor (SCXML 1.0 appendix C.2).

A session's access URI (its ``_ioprocessors['http://www.w3.org/TR/scxml/#BasicHTTPEventProcessor']
.location``) is ``<[api] public-url>/scxml/session/<sessionid>/basichttp``. An HTTP POST
there becomes an external event of that session:

- its name is the ``_scxmleventname`` parameter, or ``HTTP.<method>`` (``HTTP.POST``) when
  there is none, as the W3C tests 520 and 532 expect;
- its data are the other parameters (form or query string), or the JSON body, or for any
  other content type the body text; a URL-encoded body that is no ``name=value`` list is
  a ``<content>`` text (``workers/http_send.py`` sends it so, as the W3C test 520 expects);
- its ``origintype`` is the Basic HTTP Event I/O Processor's URI;
- its ``raw`` (``_event.raw``) is the message as received: request line, headers, a blank
  line, the body (without the ``Authorization`` header: a session must not see the token).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.bodies import (
    FORM_TYPE,
    decode_text,
    form_params,
    idempotency_key,
    is_json,
    media_type,
    parse_json,
    single,
)
from api.facade import facade
from api.names import check_event_name
from engine.events import Event
from engine.ioprocessor import BASICHTTP_TYPE, EVENT_NAME_PARAM
from orchestrion.metrics import EVENTS_ACCEPTED


def access_path(sessionid: str) -> str:
    """The path of a session's access URI, below ``[api] public-url``."""
    return f"/scxml/session/{sessionid}/basichttp"


def parse_message(request: Request, body: bytes) -> Event:
    """The external event a Basic HTTP message delivers."""
    text = decode_text(body)
    params = form_params(request.url.query)
    kind = media_type(request)
    payload: Any = None
    if is_json(kind) and text.strip():
        payload = parse_json(body)
        if isinstance(payload, dict):
            params.update(payload)
            payload = None
    elif kind == FORM_TYPE and text.strip() and "=" not in text:
        payload = unquote_plus(text)
    elif kind in (FORM_TYPE, "") and text.strip():
        params.update(form_params(text))
    elif text:
        payload = text
    explicit = single(params, EVENT_NAME_PARAM)
    params.pop(EVENT_NAME_PARAM, None)
    name = check_event_name(explicit, EVENT_NAME_PARAM) if explicit else f"HTTP.{request.method}"
    data = params if payload is None else payload
    if payload is not None and params:
        data = {"content": payload, **params}
    return Event(name, data=data or None, origintype=BASICHTTP_TYPE, raw=raw_message(request, text))


def raw_message(request: Request, body: str) -> str:
    """The message as received, for ``_event.raw``: request line, headers, blank line, body."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    version = request.scope.get("http_version", "1.1")
    lines = [f"{request.method} {target} HTTP/{version}"]
    for name, value in request.headers.items():
        if name != "authorization":  # the bearer token stays out of the session's data
            lines.append(f"{name}: {value}")
    return "\r\n".join(lines) + "\r\n\r\n" + body


async def receive(request: Request) -> Response:
    sessionid = request.path_params["sessionid"]
    event = parse_message(request, await request.body())
    key = idempotency_key(request)
    eventid = await run_in_threadpool(
        lambda: facade(request).accept_event(sessionid, event, key=key)
    )
    EVENTS_ACCEPTED.labels(via="basichttp").inc()
    return JSONResponse({"sessionid": sessionid, "eventid": eventid, "name": event.name})


routes = [Route(access_path("{sessionid}"), receive, methods=["POST"])]
