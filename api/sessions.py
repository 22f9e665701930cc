"""``/v1/sessions``: start (now or at a time), query, send events to, terminate sessions."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api import schemas
from api.bodies import exactly_one_source, idempotency_key, parse_at, read_json_object
from api.facade import facade
from orchestrion.errors import InvalidRequest
from orchestrion.metrics import EVENTS_ACCEPTED


async def start_session(request: Request) -> Response:
    body = await read_json_object(request, schemas.START_SESSION)
    source, src = exactly_one_source(body)
    at = parse_at(body["at"]) if "at" in body else None
    sessionid = await run_in_threadpool(
        lambda: facade(request).start_session(
            source=source, src=src, data=body.get("data"), at=at, sessionid=body.get("sessionid")
        )
    )
    return JSONResponse(
        {"sessionid": sessionid, "at": at},
        status_code=201,
        headers={"Location": f"/v1/sessions/{sessionid}"},
    )


async def get_session(request: Request) -> Response:
    sessionid = request.path_params["sessionid"]
    state = await run_in_threadpool(facade(request).query, sessionid)
    return JSONResponse({"sessionid": sessionid, **state})


async def send_event(request: Request) -> Response:
    sessionid = request.path_params["sessionid"]
    body = await read_json_object(request, schemas.SEND_EVENT)
    key = idempotency_key(request)
    if key is not None and body.get("id") not in (None, key):
        raise InvalidRequest(
            "the body's id and the Idempotency-Key header differ: give the key once", where="id"
        )
    key = body.get("id", key)
    eventid = await run_in_threadpool(
        lambda: facade(request).send_event(sessionid, body["name"], body.get("data"), event_id=key)
    )
    EVENTS_ACCEPTED.labels(via="rest").inc()
    return JSONResponse({"sessionid": sessionid, "eventid": eventid}, status_code=202)


async def terminate_session(request: Request) -> Response:
    sessionid = request.path_params["sessionid"]
    at: float | None = None
    if request.method == "POST":
        body = await read_json_object(request, schemas.TERMINATE, optional=True)
        at = parse_at(body["at"]) if "at" in body else None
    await run_in_threadpool(lambda: facade(request).terminate(sessionid, at=at))
    return JSONResponse({"sessionid": sessionid, "at": at}, status_code=202)


routes = [
    Route("/v1/sessions", start_session, methods=["POST"]),
    Route("/v1/sessions/{sessionid}", get_session, methods=["GET"]),
    Route("/v1/sessions/{sessionid}", terminate_session, methods=["DELETE"]),
    Route("/v1/sessions/{sessionid}/events", send_event, methods=["POST"]),
    Route("/v1/sessions/{sessionid}/terminate", terminate_session, methods=["POST"]),
]
