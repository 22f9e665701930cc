"""The Genesys ORS session paths, so that ORS clients can move over unchanged.

- ``POST /scxml/session/start``: ``src`` (mandatory) the document URL, ``idealtime`` epoch
  milliseconds for a scheduled start, every other parameter into the session's data.
  Answers ``200 {"sessionid": ...}``.
- ``POST /scxml/session/<id>/event/<name>``: every parameter into ``_event.data``.
- ``GET|POST /scxml/session/<id>/query``: the configuration and data model.
- ``POST /scxml/session/<id>/terminate``.

Parameters come from the query string and from an ``application/x-www-form-urlencoded``
or ``application/json`` body (ORS 8.1.400.30 and later accept JSON too).
"""

from __future__ import annotations

import math

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.bodies import idempotency_key, read_params, single
from api.facade import facade
from api.names import check_event_name
from api.sessions import get_session
from orchestrion.errors import InvalidRequest
from orchestrion.metrics import EVENTS_ACCEPTED


def idealtime_seconds(raw: str) -> float:
    """ORS ``idealtime`` (epoch milliseconds, as ECMAScript ``Date.getTime()``) in seconds."""
    try:
        millis = float(raw)
    except ValueError:
        raise InvalidRequest(
            f"idealtime {raw!r} must be epoch milliseconds (an integer)",
            code="invalid_value",
            where="idealtime",
        ) from None
    if not math.isfinite(millis) or millis < 0:
        raise InvalidRequest(
            "idealtime must be a time after 1970", code="invalid_value", where="idealtime"
        )
    return millis / 1000.0


async def start(request: Request) -> Response:
    params = await read_params(request)
    src = single(params, "src")
    if not src:
        raise InvalidRequest(
            "parameter src (the SCXML document URL) is mandatory", code="missing_field", where="src"
        )
    raw_idealtime = single(params, "idealtime")
    at = idealtime_seconds(raw_idealtime) if raw_idealtime else None
    data = {key: value for key, value in params.items() if key not in ("src", "idealtime")}
    sessionid = await run_in_threadpool(
        lambda: facade(request).start_session(src=src, data=data or None, at=at)
    )
    return JSONResponse({"sessionid": sessionid})


async def event(request: Request) -> Response:
    sessionid = request.path_params["sessionid"]
    name = check_event_name(request.path_params["name"])
    data = await read_params(request)
    key = idempotency_key(request)
    eventid = await run_in_threadpool(
        lambda: facade(request).send_event(sessionid, name, data or None, event_id=key)
    )
    EVENTS_ACCEPTED.labels(via="ors").inc()
    return JSONResponse({"sessionid": sessionid, "eventid": eventid})


async def terminate(request: Request) -> Response:
    sessionid = request.path_params["sessionid"]
    await run_in_threadpool(facade(request).terminate, sessionid)
    return JSONResponse({"sessionid": sessionid})


routes = [
    Route("/scxml/session/start", start, methods=["POST"]),
    Route("/scxml/session/{sessionid}/event/{name}", event, methods=["POST"]),
    Route("/scxml/session/{sessionid}/query", get_session, methods=["GET", "POST"]),
    Route("/scxml/session/{sessionid}/terminate", terminate, methods=["POST"]),
]
