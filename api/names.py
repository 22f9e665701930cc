"""Checks of event names given in paths and parameters (the ``/v1`` bodies use the schema)."""

from __future__ import annotations

from api import schemas
from api.validation import validate


def check_event_name(name: str, where: str = "name") -> str:
    """``name`` if it is a valid SCXML event name, else ``InvalidRequest`` at ``where``."""
    validate(name, schemas.EVENT_NAME, where)
    return name
