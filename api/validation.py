"""Check a JSON value against the small JSON Schema subset the API's request schemas use.

The schemas in :mod:`api.schemas` serve twice: here to check request bodies, and in the
OpenAPI document. Supported keywords: ``type`` (a name or a list), ``properties``,
``required``, ``additionalProperties`` (false), ``items``, ``enum``, ``minLength``,
``maxLength``, ``pattern``, ``minimum``. Other keywords (``description``, ``format``,
``examples``) are documentation only.
"""

from __future__ import annotations

import re
from typing import Any

from orchestrion.errors import InvalidRequest

Schema = dict[str, Any]

JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "null": (type(None),),
    "integer": (int,),
    "number": (int, float),
}


def json_type_name(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages."""
    if isinstance(value, bool):
        return "boolean"
    for name in ("object", "array", "string", "null", "integer", "number"):
        if isinstance(value, JSON_TYPES[name]):
            return name
    return type(value).__name__


def has_type(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False  # JSON true is not a number, though Python's bool is an int
    return isinstance(value, JSON_TYPES[name])


def validate(value: Any, schema: Schema, path: str = "") -> None:
    """Raise ``InvalidRequest`` (``where`` = the field path) if ``value`` breaks ``schema``."""
    where = path or "body"
    expected = schema.get("type")
    if expected is not None:
        names = [expected] if isinstance(expected, str) else list(expected)
        if not any(has_type(value, name) for name in names):
            raise InvalidRequest(
                f"{where} must be {' or '.join(names)}, not {json_type_name(value)}",
                code="wrong_type",
                where=where,
            )
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(repr(v) for v in schema["enum"])
        raise InvalidRequest(f"{where} must be one of {allowed}", code="invalid_value", where=where)
    if isinstance(value, str):
        check_string(value, schema, where)
    elif has_type(value, "number") and "minimum" in schema and value < schema["minimum"]:
        raise InvalidRequest(
            f"{where} must be >= {schema['minimum']}", code="invalid_value", where=where
        )
    elif isinstance(value, dict):
        check_object(value, schema, path)
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            validate(item, schema["items"], f"{where}[{index}]")


def check_string(value: str, schema: Schema, where: str) -> None:
    if len(value) < schema.get("minLength", 0):
        message = (
            "must not be empty"
            if schema["minLength"] == 1
            else (f"must be at least {schema['minLength']} characters")
        )
        raise InvalidRequest(f"{where} {message}", code="invalid_value", where=where)
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        raise InvalidRequest(
            f"{where} must be at most {schema['maxLength']} characters",
            code="invalid_value",
            where=where,
        )
    if "pattern" in schema and not re.fullmatch(schema["pattern"], value):
        hint = schema.get("description", f"match {schema['pattern']}")
        raise InvalidRequest(
            f"{where} {value!r} is not valid: {hint}", code="invalid_value", where=where
        )


def check_object(value: dict[str, Any], schema: Schema, path: str) -> None:
    properties: dict[str, Schema] = schema.get("properties", {})
    prefix = f"{path}." if path else ""
    if schema.get("additionalProperties") is False:
        unknown = sorted(key for key in value if key not in properties)
        if unknown:
            known = ", ".join(properties) or "none"
            raise InvalidRequest(
                f"unknown field {prefix}{unknown[0]} (known fields: {known})",
                code="unknown_field",
                where=f"{prefix}{unknown[0]}",
            )
    for name in schema.get("required", ()):
        if name not in value:
            raise InvalidRequest(
                f"missing required field {prefix}{name}", code="missing_field", where=prefix + name
            )
    for name, item in value.items():
        if name in properties:
            validate(item, properties[name], prefix + name)
