"""A delegating wrapper that counts the calls of each method of the object it wraps."""

from __future__ import annotations

from collections import Counter
from typing import Any


class Counting:
    """Delegates every attribute to ``inner``; ``calls[name]`` counts calls of each method."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attr(*args, **kwargs)

        return counted
