"""Session lifetime limits: the configured ones and a document's own overrides.

A document may set its own limits on its root element, in the Orchestrion namespace::

    <scxml xmlns="http://www.w3.org/2005/07/scxml"
           xmlns:orchestrion="http://orchestrion.dev/scxml"
           orchestrion:max-lifetime="2h" orchestrion:idle-timeout="15m" ...>

Values are seconds, or a number with a unit ``s``, ``m``, ``h`` or ``d``; ``0`` means no
limit for this document. An unreadable value is ignored with a warning (the configured
limit applies): the document was already accepted, so it is not rejected here.

When ``[orchestration] sessionid-with-nodeid`` is false, every session's lifetime is capped
at 24 hours, as Genesys ORS does (see docs/scheduler.md for why Orchestrion itself does
not need the cap).
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from typing import Final

from lxml import etree

from orchestrion.config import OrchestrationConfig
from persistence.contract import Store

log = logging.getLogger(__name__)

ORCHESTRION_NS: Final = "http://orchestrion.dev/scxml"
WITHOUT_NODEID_LIFETIME_S: Final = 24 * 3600.0
_UNITS: Final = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_CACHE_SIZE: Final = 4096


@dataclass(frozen=True)
class Limits:
    """Lifetime limits in seconds; 0 means no limit."""

    max_lifetime_s: float = 0.0
    idle_timeout_s: float = 0.0


@dataclass(frozen=True)
class Overrides:
    """A document's own limits; None where it sets none."""

    max_lifetime_s: float | None = None
    idle_timeout_s: float | None = None


def parse_duration(text: str) -> float:
    """Seconds from ``"90"``, ``"90s"``, ``"15m"``, ``"2h"``, ``"1d"``; ValueError otherwise."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"expected seconds or a number with s, m, h or d, got {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def document_overrides(source: str) -> Overrides:
    """The ``orchestrion:max-lifetime`` and ``orchestrion:idle-timeout`` of a document."""
    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
        root = etree.fromstring(source.encode("utf-8"), parser)
    except etree.XMLSyntaxError:
        return Overrides()
    return Overrides(
        _attribute_duration(root, "max-lifetime"), _attribute_duration(root, "idle-timeout")
    )


def _attribute_duration(root: etree._Element, name: str) -> float | None:
    raw = root.get(f"{{{ORCHESTRION_NS}}}{name}")
    if raw is None:
        return None
    try:
        return parse_duration(raw)
    except ValueError as exc:
        log.warning("ignoring <scxml orchestrion:%s>: %s", name, exc)
        return None


def effective_limits(config: OrchestrationConfig, overrides: Overrides) -> Limits:
    """The limits that apply to a session of a document with ``overrides``."""
    lifetime = (
        config.max_session_lifetime
        if overrides.max_lifetime_s is None
        else overrides.max_lifetime_s
    )
    idle = config.idle_timeout if overrides.idle_timeout_s is None else overrides.idle_timeout_s
    if not config.sessionid_with_nodeid:
        lifetime = (
            min(lifetime, WITHOUT_NODEID_LIFETIME_S) if lifetime > 0 else WITHOUT_NODEID_LIFETIME_S
        )
    return Limits(lifetime, idle)


class LimitsByDocument:
    """Effective limits per document hash, read once from the stored source and cached."""

    def __init__(self, store: Store, config: OrchestrationConfig) -> None:
        self._store = store
        self._config = config
        self._cache: dict[str, Limits] = {}
        self._lock = threading.Lock()

    def limits(self, document_hash: str) -> Limits:
        with self._lock:
            found = self._cache.get(document_hash)
        if found is not None:
            return found
        source = self._store.get_document(document_hash)
        overrides = Overrides() if source is None else document_overrides(source)
        found = effective_limits(self._config, overrides)
        with self._lock:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[document_hash] = found
        return found
