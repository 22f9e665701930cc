"""The OpenAPI 3.1 document of the HTTP API, served at ``/v1/openapi.json``.

Built from the same schemas that check request bodies (:mod:`api.schemas`), so the
published contract and the checks cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api import schemas
from api.validation import Schema

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

COMPONENTS: dict[str, Schema] = {
    "Error": schemas.ERROR,
    "StartSession": schemas.START_SESSION,
    "SessionStarted": schemas.SESSION_STARTED,
    "SessionState": schemas.SESSION_STATE,
    "SendEvent": schemas.SEND_EVENT,
    "EventAccepted": schemas.EVENT_ACCEPTED,
    "Terminate": schemas.TERMINATE,
    "StoreDocument": schemas.STORE_DOCUMENT,
    "DocumentStored": schemas.DOCUMENT_STORED,
    "DocumentRejected": schemas.DOCUMENT_REJECTED,
    "Document": schemas.DOCUMENT,
    "CreateSchedule": schemas.CREATE_SCHEDULE,
    "Schedule": schemas.SCHEDULE,
    "ScheduleList": schemas.SCHEDULE_LIST,
    "Health": schemas.HEALTH,
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def body(name: str, media: str = JSON, *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {media: {"schema": ref(name)}}}


def answer(description: str, schema: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"description": description}
    if schema:
        found["content"] = {JSON: {"schema": ref(schema)}}
    return found


def errors(*statuses: int) -> dict[str, Any]:
    meaning = {
        400: "malformed or invalid request (JSON, types, unknown fields, values)",
        401: "missing or invalid bearer token",
        404: "no such session, document or schedule",
        409: "conflict (existing name or id)",
        413: "request body over [api] max-body-bytes",
        415: "wrong Content-Type",
        422: "the SCXML document was rejected (where: element, attribute, line)",
        503: "store or broker unavailable",
    }
    return {str(status): answer(meaning[status], "Error") for status in (401, 503, *statuses)}


def operation(summary: str, ok: dict[str, Any], *statuses: int, **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": {**ok, **errors(*statuses)}, **extra}


SESSION_ID = {"name": "sessionid", "in": "path", "required": True, "schema": {"type": "string"}}
SCHEDULE_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "cron:<name>, start:<sessionid> or terminate:<sessionid>",
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": schemas.EVENT_ID,
}
ORS_FORM = {
    "required": False,
    "content": {FORM: {"schema": {"type": "object"}}, JSON: {"schema": {"type": "object"}}},
}


def paths() -> dict[str, Any]:
    return {
        "/v1/sessions": {
            "post": operation(
                "Start a session now, or at a time",
                {"201": answer("started", "SessionStarted")},
                400,
                409,
                413,
                415,
                422,
                requestBody=body("StartSession"),
            )
        },
        "/v1/sessions/{sessionid}": {
            "parameters": [SESSION_ID],
            "get": operation(
                "Query a session: configuration and data model",
                {"200": answer("the session", "SessionState")},
                404,
            ),
            "delete": operation(
                "Terminate a session now", {"202": answer("termination accepted")}, 404
            ),
        },
        "/v1/sessions/{sessionid}/events": {
            "parameters": [SESSION_ID, IDEMPOTENCY_KEY],
            "post": operation(
                "Send an external event",
                {"202": answer("accepted", "EventAccepted")},
                400,
                404,
                413,
                415,
                requestBody=body("SendEvent"),
            ),
        },
        "/v1/sessions/{sessionid}/terminate": {
            "parameters": [SESSION_ID],
            "post": operation(
                "Terminate a session now or at a time",
                {"202": answer("termination accepted")},
                400,
                404,
                415,
                requestBody=body("Terminate", required=False),
            ),
        },
        "/v1/documents": {
            "post": operation(
                "Validate and store an SCXML document (JSON, or the XML itself as the body)",
                {
                    "201": answer("stored", "DocumentStored"),
                    "422": answer("rejected, with where", "DocumentRejected"),
                },
                400,
                413,
                415,
                requestBody=body("StoreDocument"),
            )
        },
        "/v1/documents/{hash}": {
            "get": operation(
                "A stored document by content hash",
                {"200": answer("the document", "Document")},
                404,
                parameters=[
                    {"name": "hash", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
            )
        },
        "/v1/schedules": {
            "post": operation(
                "Create a one-shot or cron schedule",
                {"201": answer("created", "Schedule")},
                400,
                409,
                413,
                415,
                422,
                requestBody=body("CreateSchedule"),
            ),
            "get": operation("List schedules", {"200": answer("schedules", "ScheduleList")}),
        },
        "/v1/schedules/{id}": {
            "parameters": [SCHEDULE_ID],
            "get": operation("One schedule", {"200": answer("the schedule", "Schedule")}, 404),
            "delete": operation("Delete a schedule", {"204": answer("deleted")}, 404),
        },
        "/v1/schedules/{id}/pause": {
            "parameters": [SCHEDULE_ID],
            "post": operation(
                "Pause a cron schedule", {"200": answer("paused", "Schedule")}, 404, 409
            ),
        },
        "/v1/schedules/{id}/resume": {
            "parameters": [SCHEDULE_ID],
            "post": operation(
                "Resume a cron schedule from its next occurrence",
                {"200": answer("resumed", "Schedule")},
                404,
                409,
            ),
        },
        "/scxml/session/start": {
            "post": operation(
                "ORS: start a session (src mandatory; idealtime epoch ms; other fields are data)",
                {"200": answer("started", "SessionStarted")},
                400,
                413,
                415,
                422,
                requestBody=ORS_FORM,
            )
        },
        "/scxml/session/{sessionid}/event/{name}": {
            "parameters": [
                SESSION_ID,
                {"name": "name", "in": "path", "required": True, "schema": schemas.EVENT_NAME},
                IDEMPOTENCY_KEY,
            ],
            "post": operation(
                "ORS: send an event (parameters become _event.data)",
                {"200": answer("accepted", "EventAccepted")},
                400,
                404,
                413,
                requestBody=ORS_FORM,
            ),
        },
        "/scxml/session/{sessionid}/query": {
            "parameters": [SESSION_ID],
            "get": operation(
                "ORS: query a session", {"200": answer("the session", "SessionState")}, 404
            ),
            "post": operation(
                "ORS: query a session", {"200": answer("the session", "SessionState")}, 404
            ),
        },
        "/scxml/session/{sessionid}/terminate": {
            "parameters": [SESSION_ID],
            "post": operation("ORS: terminate a session", {"200": answer("terminated")}, 404),
        },
        "/scxml/session/{sessionid}/basichttp": {
            "parameters": [SESSION_ID, IDEMPOTENCY_KEY],
            "post": operation(
                "SCXML Basic HTTP Event I/O Processor: _scxmleventname names the event "
                "(default HTTP.POST); other parameters or the JSON body are its data",
                {"200": answer("accepted", "EventAccepted")},
                400,
                404,
                413,
                requestBody=ORS_FORM,
            ),
        },
        "/health": {
            "get": {
                "summary": "Store and broker alarms (no authentication)",
                "security": [],
                "responses": {
                    "200": answer("no alarm", "Health"),
                    "503": answer("an alarm is active", "Health"),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus text format (no authentication)",
                "security": [],
                "responses": {"200": {"description": "metrics", "content": {"text/plain": {}}}},
            }
        },
    }


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Orchestrion HTTP API",
            "version": "1",
            "description": "Start SCXML sessions now, later or on cron, send them events, "
            'query and terminate them. Every error is {"error": {code, message, where}}.',
        },
        "paths": paths(),
        "components": {
            "schemas": COMPONENTS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


async def openapi(request: Request) -> Response:
    return JSONResponse(document())


routes = [Route("/v1/openapi.json", openapi, methods=["GET"])]
