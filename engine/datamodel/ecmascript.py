"""The ECMAScript data model (SCXML 1.0 appendix B.2) on QuickJS.

Every session owns one QuickJS runtime and context: document scripts cannot reach files,
the network, the environment or another session (the bindings expose no ``std``/``os``
modules and no module loader), and each call into JavaScript runs under a CPU time limit
and the runtime under a memory limit. Exceeding either raises :class:`ScriptError`; the
context stays usable afterwards.

Hot path: each distinct expression, condition and assignment location is compiled once
into a JavaScript function and cached, so an evaluation is one call into the engine.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import quickjs

from engine.datamodel.base import DataModel, ScriptError
from engine.datamodel.content import is_xml_value
from engine.datamodel.prelude import HELPERS_GLOBAL, PRELUDE_JS
from engine.datamodel.xmltree import parse_xml
from engine.events import Event

SNAPSHOT_FORMAT = "orchestrion.ecmascript/1"
DEFAULT_TIME_LIMIT_S = 1.0
DEFAULT_MEMORY_LIMIT_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_STACK_BYTES = 512 * 1024
DEFAULT_CACHE_SIZE = 4096
_MAX_SAFE_INTEGER = 2**53

# In('id') with a literal id: its answer is handed to the context before the call, because
# the bindings refuse calls from JavaScript into Python while a time limit is set.
_IN_LITERAL = re.compile(r"""\bIn\s*\(\s*(['"])([^'"\\]*)\1\s*\)""")
_LEXICAL_DECLARATION = re.compile(r"\b(?:let|const|class)\s+([A-Za-z_$][\w$]*)")
_HELPER_NAMES = (
    "setSystem", "setIn", "clearIn", "setEvent", "isIdentifier", "declare", "assignDecoded",
    "assignFrom", "exportJSON", "foreachCopy", "length", "foreachBind", "snapshot", "restore",
    "values", "NEED_IN",
)  # fmt: skip

JsFunction = Any  # a quickjs.Object that is callable


class _Compiled:
    """A cached JavaScript function for one expression, and the literal ``In()`` ids in it."""

    __slots__ = ("function", "in_ids")

    def __init__(self, function: JsFunction, in_ids: tuple[str, ...]) -> None:
        self.function = function
        self.in_ids = in_ids


class EcmaScriptDataModel(DataModel):
    """One session's ECMAScript data model in its own sandboxed QuickJS context.

    ``time_limit_s`` bounds the CPU time of each call into JavaScript (one expression,
    condition, assignment or ``<script>``); ``memory_limit_bytes`` bounds the whole
    context; ``max_stack_bytes`` bounds recursion.
    """

    name = "ecmascript"

    def __init__(
        self,
        *,
        time_limit_s: float = DEFAULT_TIME_LIMIT_S,
        memory_limit_bytes: int = DEFAULT_MEMORY_LIMIT_BYTES,
        max_stack_bytes: int = DEFAULT_MAX_STACK_BYTES,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        if time_limit_s <= 0 or memory_limit_bytes <= 0 or max_stack_bytes <= 0:
            raise ValueError("data model limits must be positive")
        self.time_limit_s = time_limit_s
        self.memory_limit_bytes = memory_limit_bytes
        self.max_stack_bytes = max_stack_bytes
        self._cache_size = cache_size
        self._system: tuple[str, str | None, dict[str, Any]] | None = None
        self._in_state: Callable[[str], bool] | None = None
        self._lexical_names: set[str] = set()
        self.restore_problems: list[str] = []
        self._new_context()

    # ---- context ---------------------------------------------------------------

    def _new_context(self) -> None:
        context = quickjs.Context()
        context.set_memory_limit(self.memory_limit_bytes)
        context.set_max_stack_size(self.max_stack_bytes)
        context.eval(PRELUDE_JS)
        helpers = {name: context.eval(f"{HELPERS_GLOBAL}.{name}") for name in _HELPER_NAMES}
        context.eval(f"delete globalThis.{HELPERS_GLOBAL}")
        context.set_time_limit(self.time_limit_s)
        self._context = context
        self._helpers = helpers
        self._need_in_marker = str(helpers["NEED_IN"])
        self._cache: dict[str, _Compiled] = {}
        if self._system is not None:
            self._apply_system()

    def close(self) -> None:
        self._cache.clear()
        self._helpers.clear()

    def _error(self, what: str, exc: BaseException) -> ScriptError:
        message = str(exc).split("\n", 1)[0]
        if "InternalError: interrupted" in message:
            return ScriptError(f"{what}: exceeded the CPU time limit of {self.time_limit_s:g} s")
        if "InternalError: out of memory" in message:
            self._context.gc()
            limit_mb = self.memory_limit_bytes / (1024 * 1024)
            return ScriptError(f"{what}: exceeded the memory limit of {limit_mb:g} MB")
        return ScriptError(f"{what}: {message}")

    def _call(self, what: str, helper: str, *args: Any) -> Any:
        try:
            return self._helpers[helper](*args)
        except (quickjs.JSException, TypeError, ValueError, OverflowError) as exc:
            raise self._error(what, exc) from None

    def _compile(self, key: str, source: str, what: str) -> _Compiled:
        compiled = self._cache.get(key)
        if compiled is None:
            try:
                function = self._context.eval(source)
            except quickjs.JSException as exc:
                raise self._error(what, exc) from None
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            compiled = _Compiled(function, _literal_in_ids(key))
            self._cache[key] = compiled
        return compiled

    def _expression(self, expr: str) -> _Compiled:
        return self._compile(expr, f"(function(){{return ({expr}\n);}})", f"expression {expr!r}")

    def _condition(self, expr: str) -> _Compiled:
        return self._compile(
            "!" + expr, f"(function(){{return !!({expr}\n);}})", f"condition {expr!r}"
        )

    def _setter(self, location: str) -> _Compiled:
        return self._compile(
            "=" + location,
            f'(function(v){{"use strict"; ({location}\n) = v;}})',
            f"location {location!r}",
        )

    def _run(
        self, what: str, compiled: _Compiled, run: Callable[[], Any], *, rerun: bool = True
    ) -> Any:
        """Run ``run`` with the ``In()`` answers it needs handed to the context first.

        ``In(x)`` with an id only known at run time stops the call; the call is run again
        with the answer when ``rerun`` (expressions), and is an error otherwise (scripts,
        whose side effects must not happen twice).
        """
        answers: dict[str, bool] = {}
        ids = compiled.in_ids
        while True:
            if ids or answers:
                answers.update({state: self._ask_in(state) for state in ids})
                ids = ()
                self._helpers["setIn"](json.dumps(answers))
            try:
                return run()
            except (quickjs.JSException, TypeError, ValueError, OverflowError) as exc:
                state = self._missing_in_state(exc)
                if state is None or state in answers:
                    raise self._error(what, exc) from None
                if not rerun:
                    raise ScriptError(
                        f"{what}: In() in a <script> needs a literal state id, got {state!r}"
                    ) from None
                answers[state] = self._ask_in(state)
            finally:
                if answers:
                    self._helpers["clearIn"]()

    def _ask_in(self, state: str) -> bool:
        if self._in_state is None:
            raise ScriptError("In() is not available before the data model is set up")
        return bool(self._in_state(state))

    def _missing_in_state(self, exc: BaseException) -> str | None:
        message = str(exc).split("\n", 1)[0]
        at = message.find(self._need_in_marker)
        return None if at < 0 else message[at + len(self._need_in_marker) :]

    # ---- the DataModel contract ---------------------------------------------------

    def setup(
        self,
        sessionid: str,
        name: str | None,
        ioprocessors: dict[str, Any],
        in_state: Callable[[str], bool],
    ) -> None:
        self._system = (sessionid, name, ioprocessors)
        self._in_state = in_state
        self._apply_system()

    def _apply_system(self) -> None:
        assert self._system is not None
        sessionid, name, ioprocessors = self._system
        self._call("setup", "setSystem", sessionid, name, json.dumps(ioprocessors))

    def declare(self, location: str, expr: str | None = None, value: Any = None) -> None:
        """Create a global; it exists (``undefined``) even when ``expr`` fails (W3C 277)."""
        if not self._is_identifier(location):
            raise ScriptError(f"<data> id {location!r} is not a legal ECMAScript variable name")
        self._call(f"<data id={location!r}>", "declare", location, 0, None)
        if expr is not None:
            self.assign(location, expr)
        elif value is not None:
            self.assign_value(location, value)

    def assign(self, location: str, expr: str) -> None:
        setter = self._setter(location).function
        getter = self._expression(expr)
        what = f"assign {expr!r} to {location!r}"
        self._run(what, getter, lambda: self._helpers["assignFrom"](setter, getter.function))

    def assign_value(self, location: str, value: Any) -> None:
        setter = self._setter(location).function
        kind, payload = _to_js(value)
        self._call(f"assign to {location!r}", "assignDecoded", setter, kind, payload)

    def evaluate(self, expr: str) -> Any:
        compiled = self._expression(expr)
        result = self._run(f"expression {expr!r}", compiled, compiled.function)
        return self._to_python(result, f"expression {expr!r}")

    def condition(self, expr: str) -> bool:
        compiled = self._condition(expr)
        return bool(self._run(f"condition {expr!r}", compiled, compiled.function))

    def execute(self, script: str) -> None:
        compiled = _Compiled(None, _literal_in_ids(script))
        self._run("<script>", compiled, lambda: self._context.eval(script), rerun=False)
        self._lexical_names.update(_LEXICAL_DECLARATION.findall(script))

    def foreach(self, array: str, item: str, index: str | None) -> Iterator[None]:
        for name in (item, index):
            if name is not None and not self._is_identifier(name):
                raise ScriptError(f"<foreach> {name!r} is not a legal ECMAScript variable name")
        getter = self._expression(array)
        what = f"<foreach array={array!r}>"
        copy = self._run(what, getter, lambda: self._helpers["foreachCopy"](getter.function))
        for at in range(int(self._call(what, "length", copy))):
            self._call(what, "foreachBind", copy, at, item, index)
            yield

    def is_location(self, location: str) -> bool:
        try:
            compiled = self._expression(location)
            self._run(f"location {location!r}", compiled, compiled.function)
        except ScriptError:
            return False
        return True

    def set_event(self, event: Event) -> None:
        kind, payload = _to_js(event.data)
        self._call(
            f"event {event.name!r}",
            "setEvent",
            event.name,
            event.type,
            event.sendid,
            event.origin,
            event.origintype,
            event.invokeid,
            kind,
            payload,
        )

    def snapshot(self) -> dict[str, Any]:
        lexical = json.dumps(sorted(self._lexical_names))
        encoded: dict[str, Any] = json.loads(self._call("snapshot", "snapshot", lexical))
        snap = {"format": SNAPSHOT_FORMAT, "globals": encoded["globals"]}
        snap["objects"] = encoded["objects"]
        if encoded["lost"]:
            snap["lost"] = sorted(set(encoded["lost"]))
        return snap

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Rebuild the globals in a fresh context; problems go to ``restore_problems``."""
        if snapshot.get("format") != SNAPSHOT_FORMAT:
            raise ScriptError(f"not an ECMAScript data model snapshot: {snapshot.get('format')!r}")
        self._new_context()
        self._lexical_names = set()
        objects = [_with_xml_tree(entry) for entry in snapshot["objects"]]
        payload = json.dumps({"globals": snapshot["globals"], "objects": objects})
        self.restore_problems = json.loads(self._call("restore", "restore", payload))

    def values(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self._call("values", "values"))
        return result

    # ---- conversions ----------------------------------------------------------------

    def _is_identifier(self, name: str) -> bool:
        return bool(self._call("identifier check", "isIdentifier", name))

    def _to_python(self, value: Any, what: str) -> Any:
        if isinstance(value, quickjs.Object):
            text = self._call(what, "exportJSON", value)
            return None if text is None else json.loads(text)
        if isinstance(value, float) and value.is_integer() and abs(value) < _MAX_SAFE_INTEGER:
            return int(value)
        return value


def _literal_in_ids(source: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(match[1] for match in _IN_LITERAL.findall(source)))


def _to_js(value: Any) -> tuple[int, Any]:
    """(kind, payload) for the prelude's ``decode``: 0 undefined, 1 primitive, 2 JSON."""
    if value is None:
        return 0, None
    if isinstance(value, bool | str | float):
        return 1, value
    if isinstance(value, int) and abs(value) < _MAX_SAFE_INTEGER:
        return 1, value
    return 2, json.dumps(_with_xml_trees(value))


def _with_xml_trees(value: Any) -> Any:
    """Add the parsed tree to every ``{"$xml": text}`` so the context can build a DOM."""
    if isinstance(value, dict):
        if is_xml_value(value):
            try:
                return {"$xml": value["$xml"], "$tree": parse_xml(value["$xml"])}
            except ValueError:
                return value
        return {key: _with_xml_trees(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_xml_trees(item) for item in value]
    return value


def _with_xml_tree(entry: dict[str, Any]) -> dict[str, Any]:
    if entry.get("k") != "xml":
        return entry
    return {**entry, "tree": parse_xml(entry["xml"])}
