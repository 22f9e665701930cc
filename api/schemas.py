"""JSON schemas of the ``/v1`` request and response bodies: checked by
:mod:`api.validation`, published in the OpenAPI document by :mod:`api.openapi`."""

from __future__ import annotations

from api.validation import Schema

EVENT_NAME_PATTERN = r"^[A-Za-z0-9_:\-]+(\.[A-Za-z0-9_:\-]+)*$"
SESSIONID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$"

EVENT_NAME: Schema = {
    "type": "string",
    "minLength": 1,
    "maxLength": 256,
    "pattern": EVENT_NAME_PATTERN,
    "description": "an SCXML event name: tokens of letters, digits, '_', '-' or ':' "
    "separated by single dots (no wildcards)",
    "examples": ["order.paid"],
}
SESSIONID: Schema = {
    "type": "string",
    "pattern": SESSIONID_PATTERN,
    "description": "1 to 128 letters, digits, '.', '_', ':' or '-', "
    "starting with a letter or digit",
}
AT: Schema = {
    "type": ["string", "number"],
    "description": "when: an ISO-8601 date-time with a UTC offset (2026-11-25T12:00:00Z) "
    "or epoch seconds",
    "examples": ["2026-11-25T12:00:00Z", 1795608000],
}
SOURCE: Schema = {"type": "string", "minLength": 1, "description": "SCXML document text"}
SRC: Schema = {
    "type": "string",
    "minLength": 1,
    "description": "URL of the SCXML document (file: or http(s):), within the allowed "
    "locations ([api] allowed-locations)",
}
DATA: Schema = {
    "type": "object",
    "description": "initial values of the session's top-level <data> items, by id",
}
CONTENT_HASH: Schema = {"type": "string", "description": "sha256 hex of the document source"}

START_SESSION: Schema = {
    "type": "object",
    "additionalProperties": False,
    "description": "exactly one of source and src",
    "properties": {
        "source": SOURCE,
        "src": SRC,
        "data": DATA,
        "at": AT,
        "sessionid": SESSIONID,
    },
}
EVENT_ID: Schema = {
    "type": "string",
    "minLength": 1,
    "maxLength": 200,
    "description": "idempotency key: an id already accepted for this session is "
    "not delivered twice",
}
SEND_EVENT: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": EVENT_NAME,
        "data": {"description": "any JSON value: the event's _event.data"},
        "id": EVENT_ID,
    },
}
TERMINATE: Schema = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"at": AT},
}
STORE_DOCUMENT: Schema = {
    "type": "object",
    "additionalProperties": False,
    "description": "exactly one of source and src",
    "properties": {"source": SOURCE, "src": SRC},
}

WHERE: Schema = {
    "type": ["object", "null"],
    "description": "the offending request field ({field}) or document place "
    "({element, attribute, line}), when known",
    "properties": {
        "field": {"type": "string"},
        "element": {"type": ["string", "null"]},
        "attribute": {"type": ["string", "null"]},
        "line": {"type": ["integer", "null"]},
    },
}
ERROR: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "where"],
            "properties": {
                "code": {"type": "string", "examples": ["session_not_found"]},
                "message": {"type": "string"},
                "where": WHERE,
            },
        }
    },
}
SESSION_STARTED: Schema = {
    "type": "object",
    "required": ["sessionid"],
    "properties": {
        "sessionid": {"type": "string"},
        "at": {"type": ["number", "null"], "description": "scheduled start, epoch seconds"},
    },
}
SESSION_STATE: Schema = {
    "type": "object",
    "description": "the session's query: active configuration and data model",
    "properties": {
        "sessionid": {"type": "string"},
        "configuration": {"type": "array", "items": {"type": "string"}},
        "datamodel": {"type": "object"},
    },
}
EVENT_ACCEPTED: Schema = {
    "type": "object",
    "required": ["eventid"],
    "properties": {"sessionid": {"type": "string"}, "eventid": {"type": "string"}},
}
DOCUMENT_STORED: Schema = {
    "type": "object",
    "required": ["hash"],
    "properties": {"hash": CONTENT_HASH, "name": {"type": ["string", "null"]}},
}
DOCUMENT: Schema = {
    "type": "object",
    "required": ["hash", "source"],
    "properties": {"hash": CONTENT_HASH, "source": SOURCE},
}
DOCUMENT_REJECTED: Schema = {
    "type": "object",
    "required": ["error", "hash"],
    "description": "the error shape plus the hash of the rejected source",
    "properties": {"error": ERROR["properties"]["error"], "hash": CONTENT_HASH},
}
HEALTH: Schema = {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "alarm"]},
        "alarms": {"type": "array", "items": {"type": "object"}},
        "checks": {"type": "object"},
    },
}

CRON_FIELDS = ("name", "cron", "timezone", "start_at", "end_at", "missed_run_policy")
CREATE_SCHEDULE: Schema = {
    "type": "object",
    "additionalProperties": False,
    "description": "a one-shot start (at) or a recurring one (name + cron); the document "
    "is exactly one of source, src and document",
    "properties": {
        "at": AT,
        "sessionid": SESSIONID,
        "name": {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "pattern": r"^[^:/]+$",
            "description": "the cron schedule's unique name (no ':' or '/')",
        },
        "cron": {
            "type": "string",
            "minLength": 1,
            "description": "five fields (minute hour day month weekday), an optional sixth "
            "for seconds, or @hourly, @daily, @weekly, @monthly, @yearly",
            "examples": ["*/15 * * * *"],
        },
        "timezone": {
            "type": "string",
            "description": "IANA time zone of the cron fields",
            "examples": ["Europe/Paris"],
        },
        "start_at": AT,
        "end_at": AT,
        "missed_run_policy": {"type": "string", "enum": ["once", "skip"]},
        "source": SOURCE,
        "src": SRC,
        "document": {
            "type": "string",
            "description": "hash of a document stored with POST /v1/documents",
        },
        "data": DATA,
    },
}
SCHEDULE: Schema = {
    "type": "object",
    "required": ["id", "kind"],
    "description": "a cron schedule (kind cron: its spec, paused, next_due) or a one-shot "
    "item (kind start or terminate: due_at, sessionid and its payload)",
    "properties": {
        "id": {"type": "string", "examples": ["cron:nightly", "start:order-42"]},
        "kind": {"type": "string", "enum": ["cron", "start", "terminate"]},
        "next_due": {"type": ["number", "null"]},
        "due_at": {"type": "number"},
        "paused": {"type": "boolean"},
    },
}
SCHEDULE_LIST: Schema = {
    "type": "object",
    "properties": {"schedules": {"type": "array", "items": SCHEDULE}},
}
