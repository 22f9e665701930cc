"""Read request bodies and parameters: JSON objects (``/v1``) and form or JSON parameters
(ORS paths, Basic HTTP Event I/O Processor), with clear errors for anything malformed."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from api import schemas
from api.validation import Schema, json_type_name, validate
from engine.ioprocessor import IDEMPOTENCY_HEADER
from orchestrion.errors import InvalidRequest

FORM_TYPE = "application/x-www-form-urlencoded"

Params = dict[str, Any]


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def idempotency_key(request: Request) -> str | None:
    """The ``Idempotency-Key`` header, checked: an event sent again under the same key is
    accepted once (workers/http_send.py sends one on every Basic HTTP send)."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is not None:
        validate(key, schemas.EVENT_ID, IDEMPOTENCY_HEADER)
    return key


def is_json(kind: str) -> bool:
    return kind == "application/json" or kind.endswith("+json")


def decode_text(body: bytes, where: str = "body") -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            f"{where} is not valid UTF-8 (byte {exc.start})", code="malformed_body", where=where
        ) from None


def parse_json(body: bytes) -> Any:
    text = decode_text(body)
    if not text.strip():
        raise InvalidRequest(
            "request body is empty; expected JSON", code="malformed_json", where="body"
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(
            f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            code="malformed_json",
            where="body",
        ) from None


async def read_json_object(request: Request, schema: Schema, *, optional: bool = False) -> Params:
    """The body as a JSON object checked against ``schema``.

    With ``optional``, an empty body stands for ``{}``.
    """
    body = await request.body()
    if optional and not body.strip():
        return {}
    kind = media_type(request)
    if not is_json(kind):
        raise InvalidRequest(
            f"Content-Type must be application/json, not {kind or 'missing'}",
            code="unsupported_media_type",
            where="Content-Type",
        )
    value = parse_json_object(body)
    validate(value, schema)
    return value


def parse_json_object(body: bytes) -> Params:
    value = parse_json(body)
    if not isinstance(value, dict):
        raise InvalidRequest(
            f"body must be a JSON object, not {json_type_name(value)}",
            code="wrong_type",
            where="body",
        )
    return value


def form_params(text: str) -> Params:
    """URL-encoded parameters; a name given more than once keeps every value, in a list."""
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict")
    except UnicodeDecodeError:
        raise InvalidRequest(
            "form parameters are not valid UTF-8", code="malformed_body", where="body"
        ) from None
    params: Params = {}
    for name, value in pairs:
        if name in params:
            previous = params[name]
            params[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            params[name] = value
    return params


async def read_params(request: Request) -> Params:
    """Query-string parameters merged with the body's (form or JSON object; body wins)."""
    params = form_params(request.url.query)
    body = await request.body()
    if not body.strip():
        return params
    kind = media_type(request)
    if is_json(kind):
        params.update(parse_json_object(body))
    elif kind in (FORM_TYPE, ""):
        params.update(form_params(decode_text(body)))
    else:
        raise InvalidRequest(
            f"Content-Type must be {FORM_TYPE} or application/json, not {kind}",
            code="unsupported_media_type",
            where="Content-Type",
        )
    return params


def single(params: Params, name: str) -> str | None:
    """One text parameter: None when absent, an error when given twice or not text."""
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, list):
        raise InvalidRequest(f"parameter {name} is given more than once", where=name)
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise InvalidRequest(f"parameter {name} must be text", code="wrong_type", where=name)
    return str(value)


def parse_at(value: Any, where: str = "at") -> float:
    """Epoch seconds from an ISO-8601 date-time with offset, or from epoch seconds."""
    if isinstance(value, bool):
        raise InvalidRequest(
            f"{where} must be a date-time or epoch seconds", code="wrong_type", where=where
        )
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise InvalidRequest(
                f"{where} {value!r} is not an ISO-8601 date-time (e.g. 2026-11-25T12:00:00Z)",
                code="invalid_value",
                where=where,
            ) from None
        if moment.tzinfo is None:
            raise InvalidRequest(
                f"{where} {value!r} has no UTC offset; add Z or +HH:MM",
                code="invalid_value",
                where=where,
            )
        seconds = moment.timestamp()
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidRequest(
            f"{where} must be a time after 1970", code="invalid_value", where=where
        )
    return seconds


def exactly_one_source(body: Params) -> tuple[str | None, str | None]:
    """``(source, src)`` with exactly one of them set."""
    source, src = body.get("source"), body.get("src")
    if (source is None) == (src is None):
        raise InvalidRequest(
            "give exactly one of source (the SCXML text) and src (its URL)",
            code="missing_field" if source is None else "invalid_request",
            where="source",
        )
    return source, src
