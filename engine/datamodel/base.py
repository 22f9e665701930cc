"""The data model contract between the interpreter and a data model (ECMAScript, null).

The interpreter never sees a JavaScript value: expressions are evaluated inside the data
model and only JSON-compatible Python values cross the boundary (for send parameters,
event data, donedata, ``delayexpr`` and the like).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any

from engine.events import Event


class ScriptError(Exception):
    """An expression or script failed; the interpreter raises ``error.execution``.

    Also raised when the session's CPU time or memory limit is exceeded.
    """


class DataModel(ABC):
    """One session's data model. Not shared between sessions."""

    name: str

    @abstractmethod
    def setup(
        self,
        sessionid: str,
        name: str | None,
        ioprocessors: dict[str, Any],
        in_state: Callable[[str], bool],
    ) -> None:
        """Bind the read-only system variables and ``In()``."""

    @abstractmethod
    def declare(self, location: str, expr: str | None = None, value: Any = None) -> None:
        """Create a ``<data>`` variable from ``expr`` (evaluated here) or ``value``."""

    @abstractmethod
    def assign(self, location: str, expr: str) -> None:
        """``<assign location expr>``: ScriptError if the location is not legal."""

    @abstractmethod
    def assign_value(self, location: str, value: Any) -> None:
        """Assign a Python value (``idlocation``, ``<assign>`` with content)."""

    @abstractmethod
    def evaluate(self, expr: str) -> Any:
        """Evaluate to a JSON-compatible Python value."""

    @abstractmethod
    def condition(self, expr: str) -> bool:
        """Evaluate a ``cond``; ScriptError if it cannot be evaluated."""

    @abstractmethod
    def execute(self, script: str) -> None:
        """Run a ``<script>``."""

    @abstractmethod
    def foreach(self, array: str, item: str, index: str | None) -> Iterator[None]:
        """Iterate a shallow copy of ``array``, binding ``item`` (and ``index``) each time."""

    @abstractmethod
    def is_location(self, location: str) -> bool:
        """True when ``location`` can be read (for ``namelist`` checks)."""

    @abstractmethod
    def set_event(self, event: Event) -> None:
        """Bind ``_event`` for the event being processed."""

    @abstractmethod
    def snapshot(self) -> dict[str, Any]:
        """Every user variable (functions included), as JSON-serialisable data."""

    @abstractmethod
    def restore(self, snapshot: dict[str, Any]) -> None:
        """Bring back what :meth:`snapshot` wrote, into a fresh data model."""

    @abstractmethod
    def values(self) -> dict[str, Any]:
        """User variables as plain JSON values, for queries and tests."""

    def close(self) -> None:  # noqa: B027 - optional hook with a sane default
        """Release the engine behind the data model (a JavaScript context)."""
