"""Compiled documents by content hash: parsed once per process, stored once in the store."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from engine import load_document
from orchestrion.config import Config
from orchestrion.errors import DocumentError
from persistence.contract import Store

Loader = Callable[[str], str]


class DocumentCache:
    """Bounded map of content hash → compiled document, backed by the store."""

    def __init__(self, config: Config, store: Store, loader: Loader | None, capacity: int = 256):
        self._config = config
        self._store = store
        self._loader = loader
        self._capacity = capacity
        self._docs: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._stored: set[tuple[str, str | None]] = set()  # (hash, location) stored by us

    @property
    def loader(self) -> Loader | None:
        return self._loader

    def compile(self, source: str, location: str | None = None) -> Any:
        """Validate ``source`` (``DocumentError`` if invalid), store it, keep it compiled.

        A source this process compiled and stored before (same text and location) is
        answered from memory: starting many sessions of one document costs one compile.
        """
        known = (hashlib.sha256(source.encode("utf-8")).hexdigest(), location)
        with self._lock:
            doc = self._docs.get(known[0]) if known in self._stored else None
        if doc is not None:
            return doc
        doc = load_document(
            source,
            location,
            self._loader,
            max_bytes=self._config.scxml.max_document_bytes,
            max_depth=self._config.scxml.max_depth,
        )
        self._store.put_document(doc.content_hash, source)
        self._keep(doc.content_hash, doc)
        with self._lock:
            self._stored.add((doc.content_hash, location))
        return doc

    def get(self, content_hash: str, location: str | None = None) -> Any:
        """The compiled document stored under ``content_hash``; ``DocumentError`` if missing."""
        with self._lock:
            doc = self._docs.get(content_hash)
            if doc is not None:
                self._docs.move_to_end(content_hash)
                return doc
        source = self._store.get_document(content_hash)
        if source is None:
            raise DocumentError(f"no stored document has content hash {content_hash}")
        doc = load_document(
            source,
            location,
            self._loader,
            max_bytes=self._config.scxml.max_document_bytes,
            max_depth=self._config.scxml.max_depth,
        )
        self._keep(content_hash, doc)
        return doc

    def _keep(self, content_hash: str, doc: Any) -> None:
        with self._lock:
            self._docs[content_hash] = doc
            self._docs.move_to_end(content_hash)
            while len(self._docs) > self._capacity:
                evicted, _ = self._docs.popitem(last=False)
                self._stored = {key for key in self._stored if key[0] != evicted}
