"""The receiving half of the SCXML Basic HTTP Event I/O Processor (SCXML 1.0 appendix C.2).

A session's access URI (its ``_ioprocessors['http://www.w3.org/TR/scxml/#BasicHTTPEventProcessor']
.location``) is ``<[api] public-url>/scxml/session/<sessionid>/basichttp``. An HTTP POST
there becomes an external event of that session:

- its name is the ``_scxmleventname`` parameter, or ``HTTP.<method>`` (``HTTP.POST``) when
  there is none, as the W3C tests 520 and 532 expect;
- its data are the other parameters (form or query string), or the JSON body, or for any
  other content type the body text;
- its raw form is the HTTP message as received (request line, headers, body), for
  ``_event.raw``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.bodies import (
    FORM_TYPE,
    decode_text,
    form_params,
    is_json,
    media_type,
    parse_json,
    single,
)
from api.facade import facade
from api.names import check_event_name
from engine.events import Event
from orchestrion.metrics import EVENTS_ACCEPTED

BASICHTTP_TYPE = "http://www.w3.org/TR/scxml/#BasicHTTPEventProcessor"
EVENT_NAME_PARAM = "_scxmleventname"


@dataclass(frozen=True)
class BasicHttpEvent:
    """What a POST to an access URI delivers."""

    name: str
    data: Any
    raw: str


def access_path(sessionid: str) -> str:
    """The path of a session's access URI, below ``[api] public-url``."""
    return f"/scxml/session/{sessionid}/basichttp"


def raw_message(request: Request, body: str) -> str:
    """The HTTP message as text: request line, headers, blank line, body."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    version = request.scope.get("http_version", "1.1")
    lines = [f"{request.method} {target} HTTP/{version}"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    return "\r\n".join(lines) + "\r\n\r\n" + body


def parse_message(request: Request, body: bytes) -> BasicHttpEvent:
    """Name, data and raw text of a Basic HTTP event message."""
    text = decode_text(body)
    params = form_params(request.url.query)
    kind = media_type(request)
    payload: Any = None
    if is_json(kind) and text.strip():
        payload = parse_json(body)
        if isinstance(payload, dict):
            params.update(payload)
            payload = None
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
    return BasicHttpEvent(name, data or None, raw_message(request, text))


async def receive(request: Request) -> Response:
    sessionid = request.path_params["sessionid"]
    message = parse_message(request, await request.body())
    event = Event(message.name, data=message.data, origintype=BASICHTTP_TYPE)
    eventid = uuid.uuid4().hex
    await run_in_threadpool(lambda: facade(request).post(sessionid, event, event_id=eventid))
    EVENTS_ACCEPTED.labels(via="basichttp").inc()
    return JSONResponse({"sessionid": sessionid, "eventid": eventid, "name": message.name})


routes = [Route(access_path("{sessionid}"), receive, methods=["POST"])]
