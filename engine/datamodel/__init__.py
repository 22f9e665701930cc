"""Data models for SCXML documents: ``create("ecmascript" | "null", **limits)``.

``create`` raises :class:`orchestrion.errors.DocumentError` (located at the ``<scxml>``
``datamodel`` attribute) for a name it does not know, so the document loader can let it
propagate as a load-time rejection; it may add the line number by re-raising.
"""

from __future__ import annotations

from typing import Any

from engine.datamodel.base import DataModel, ScriptError
from engine.datamodel.content import parse_content
from orchestrion.errors import DocumentError, SourceLocation

SUPPORTED = ("ecmascript", "null")

__all__ = ["SUPPORTED", "DataModel", "ScriptError", "create", "parse_content"]


def create(name: str, **limits: Any) -> DataModel:
    """A fresh data model called ``name``; ``limits`` go to the ECMAScript constructor
    (``time_limit_s``, ``memory_limit_bytes``, ``max_stack_bytes``) and are ignored by null.
    """
    if name == "ecmascript":
        from engine.datamodel.ecmascript import EcmaScriptDataModel

        return EcmaScriptDataModel(**limits)
    if name == "null":
        from engine.datamodel.null import NullDataModel

        return NullDataModel()
    raise DocumentError(
        f"unsupported data model {name!r}; this server supports {', '.join(SUPPORTED)}",
        SourceLocation(element="scxml", attribute="datamodel"),
    )
