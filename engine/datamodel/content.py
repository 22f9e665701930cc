"""Inline and fetched content (``<data>``, ``<content>``, ``src`` text) as a data value.

SCXML B.2 asks the ECMAScript data model to read content as JSON when it is JSON, as an
XML document when it is XML, and otherwise as a space-normalised string (W3C tests 179,
446, 529, 557, 558). XML is kept as ``{"$xml": text}``, the JSON-safe form that
``engine.events.Event`` uses; the data model turns it into a DOM object.
"""

from __future__ import annotations

import json
from typing import Any

from engine.datamodel.xmltree import parse_xml

XML_KEY = "$xml"


def parse_content(text: str) -> Any:
    """Read content text as JSON, else XML (``{"$xml": ...}``), else a normalised string.

    Whitespace-only text gives None (the variable stays ``undefined``).
    """
    stripped = text.strip()
    if not stripped:
        return None
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    if stripped.startswith("<"):
        try:
            parse_xml(stripped)
        except ValueError:
            pass
        else:
            return {XML_KEY: stripped}
    return " ".join(stripped.split())


def is_xml_value(value: Any) -> bool:
    """True for the ``{"$xml": text}`` form of XML content."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(XML_KEY), str)
