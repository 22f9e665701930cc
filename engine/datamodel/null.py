"""The null data model (SCXML 1.0 appendix B.1): no data, only ``In()`` conditions."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from engine.datamodel.base import DataModel, ScriptError
from engine.events import Event

SNAPSHOT_FORMAT = "orchestrion.null/1"

# The only boolean expression of the null data model: In('state id').
_IN_CONDITION = re.compile(r"""\s*In\s*\(\s*(['"])([^'"]*)\1\s*\)\s*""")


class NullDataModel(DataModel):
    """No variables and no scripts: a condition is ``In('id')``; anything else is an error."""

    name = "null"

    def __init__(self) -> None:
        self._in_state: Callable[[str], bool] | None = None

    def setup(
        self,
        sessionid: str,
        name: str | None,
        ioprocessors: dict[str, Any],
        in_state: Callable[[str], bool],
    ) -> None:
        self._in_state = in_state

    def condition(self, expr: str) -> bool:
        match = _IN_CONDITION.fullmatch(expr)
        if match is None:
            raise ScriptError(f"the null data model only supports In('state id'), not {expr!r}")
        if self._in_state is None:
            raise ScriptError("In() is not available before the data model is set up")
        return bool(self._in_state(match[2]))

    def declare(self, location: str, expr: str | None = None, value: Any = None) -> None:
        raise ScriptError(f"the null data model has no variables (<data id={location!r}>)")

    def assign(self, location: str, expr: str) -> None:
        raise ScriptError(f"the null data model has no locations to assign ({location!r})")

    def assign_value(self, location: str, value: Any) -> None:
        raise ScriptError(f"the null data model has no locations to assign ({location!r})")

    def evaluate(self, expr: str) -> Any:
        raise ScriptError(f"the null data model cannot evaluate expressions ({expr!r})")

    def execute(self, script: str) -> None:
        raise ScriptError("the null data model cannot run <script>")

    def foreach(self, array: str, item: str, index: str | None) -> Iterator[None]:
        raise ScriptError("the null data model does not support <foreach>")

    def is_location(self, location: str) -> bool:
        return False

    def set_event(self, event: Event) -> None:
        """Nothing to bind: the null data model has no ``_event``."""

    def snapshot(self) -> dict[str, Any]:
        return {"format": SNAPSHOT_FORMAT}

    def restore(self, snapshot: dict[str, Any]) -> None:
        if snapshot.get("format") != SNAPSHOT_FORMAT:
            raise ScriptError(f"not a null data model snapshot: {snapshot.get('format')!r}")

    def values(self) -> dict[str, Any]:
        return {}
