"""One JSON error shape for every failed request, and the map from error classes to it.

Every 4xx/5xx answer of the API is ``{"error": {"code": ..., "message": ..., "where": ...}}``.
``where`` is null, ``{"field": "<path>"}`` for a request field or parameter, or
``{"element": ..., "attribute": ..., "line": ...}`` for a place in an SCXML document.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from orchestrion.errors import (
    BrokerUnavailable,
    ConfigError,
    DocumentError,
    DocumentFetchError,
    InvalidRequest,
    LeaseLost,
    OrchestrionError,
    SessionNotFound,
    SourceLocation,
    StoreError,
    StoreUnavailable,
    VersionConflict,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ErrorKind:
    """How one error class is answered: HTTP status and stable error code."""

    status: int
    code: str


# Most specific first: the first class the error is an instance of wins.
ERROR_KINDS: tuple[tuple[type[OrchestrionError], ErrorKind], ...] = (
    (InvalidRequest, ErrorKind(400, "invalid_request")),
    (DocumentError, ErrorKind(422, "invalid_document")),
    (DocumentFetchError, ErrorKind(400, "document_not_fetched")),
    (SessionNotFound, ErrorKind(404, "session_not_found")),
    (VersionConflict, ErrorKind(409, "conflict")),
    (LeaseLost, ErrorKind(503, "session_busy")),
    (StoreUnavailable, ErrorKind(503, "store_unavailable")),
    (BrokerUnavailable, ErrorKind(503, "broker_unavailable")),
    (StoreError, ErrorKind(500, "store_error")),
    (ConfigError, ErrorKind(500, "configuration_error")),
    (OrchestrionError, ErrorKind(500, "internal_error")),
)

# Request errors whose code says more than "bad request".
CODE_STATUS = {
    "unsupported_media_type": 415,
    "cron_not_found": 404,
    "schedule_not_found": 404,
    "cron_exists": 409,
    "not_pausable": 409,
}

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def document_where(location: SourceLocation) -> dict[str, Any]:
    """A document location as the ``where`` object."""
    return {"element": location.element, "attribute": location.attribute, "line": location.line}


def error_body(code: str, message: str, where: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "where": where}}


def error_response(
    status: int,
    code: str,
    message: str,
    where: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(code, message, where), status_code=status, headers=headers)


def kind_of(exc: OrchestrionError) -> ErrorKind:
    for cls, kind in ERROR_KINDS:
        if isinstance(exc, cls):
            return kind
    return ErrorKind(500, "internal_error")  # unreachable: OrchestrionError is listed


def describe(exc: OrchestrionError) -> tuple[int, dict[str, Any]]:
    """The status and JSON body answering an error raised while handling a request."""
    kind = kind_of(exc)
    where: dict[str, Any] | None = None
    code = kind.code
    message = str(exc)
    status = kind.status
    if isinstance(exc, InvalidRequest):
        code = exc.code
        status = CODE_STATUS.get(code, status)
        where = {"field": exc.where} if exc.where else None
    elif isinstance(exc, DocumentError):
        message = exc.reason
        where = document_where(exc.location)
    if status >= 500:
        log.warning("request failed: %s: %s", type(exc).__name__, exc)
    return status, error_body(code, message, where)


def response_for(exc: OrchestrionError) -> JSONResponse:
    status, body = describe(exc)
    return JSONResponse(body, status_code=status)


async def handle_orchestrion_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OrchestrionError)
    return response_for(exc)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (no such route, wrong method) in our shape."""
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    where = {"field": request.url.path} if exc.status_code in (404, 405) else None
    return error_response(exc.status_code, code, str(exc.detail), where, exc.headers)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error answering %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "internal server error")
