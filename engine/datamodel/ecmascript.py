"""The ECMAScript data model (SCXML 1.0 appendix B.2) on QuickJS.

Every session owns one QuickJS runtime and context: document scripts cannot reach files,
the network, the environment or another session (the bindings expose no ``std``/``os``
modules and no module loader), and each call into JavaScript runs under a CPU time limit
and the runtime under a memory limit. Exceeding either raises :class:`ScriptError`; the
context stays usable afterwards.

Hot path: each distinct expression, condition and assignment location is compiled once
into a JavaScript function and cached, so an evaluation is one call into the engine.
Creation: only the small prelude is compiled with the context; the other parts of the
JavaScript side (snapshot, codec, DOM shim...) are compiled when one of their helpers is
first called.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from typing import Any

import quickjs

from engine.datamodel.base import DataModel, ScriptError
from engine.datamodel.content import XML_KEY, is_xml_value
from engine.datamodel.dom_shim import DOM_SHIM_JS
from engine.datamodel.globals_snapshot import RESTORE_JS, SNAPSHOT_JS
from engine.datamodel.prelude import EXPORT_JS, NEED_IN, PRELUDE_JS, SESSION_JS, prepare
from engine.datamodel.snapshot_codec import SNAPSHOT_CODEC_JS
from engine.datamodel.xmltree import parse_xml
from engine.events import Event

# 2: globals that are plain data or plain functions are saved as themselves ("j", "fn");
# 1 (still restored) had only codec entries ("v"), which 2 keeps for everything else
SNAPSHOT_FORMAT = "orchestrion.ecmascript/2"
_READABLE_FORMATS = frozenset({"orchestrion.ecmascript/1", SNAPSHOT_FORMAT})
DEFAULT_TIME_LIMIT_S = 1.0
DEFAULT_MEMORY_LIMIT_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_STACK_BYTES = 512 * 1024
DEFAULT_CACHE_SIZE = 4096
_MAX_SAFE_INTEGER = 2**53

# In('id') with a literal id: its answer is handed to the context before the call, because
# the bindings refuse calls from JavaScript into Python while a time limit is set.
_IN_LITERAL = re.compile(r"""\bIn\s*\(\s*(['"])([^'"\\]*)\1\s*\)""")
_LEXICAL_DECLARATION = re.compile(r"\b(?:let|const|class)\s+([A-Za-z_$][\w$]*)")
_PRELUDE = prepare(PRELUDE_JS)
# the parts compiled on first use, and the parts each of their helpers needs, in order
_PARTS = {
    "session": prepare(SESSION_JS),
    "export": prepare(EXPORT_JS),
    "snapshot": prepare(SNAPSHOT_JS),
    "restore": prepare(RESTORE_JS),
    "codec": prepare(SNAPSHOT_CODEC_JS),
    "DOM": prepare(DOM_SHIM_JS),
}
_HELPER_PARTS = {
    **dict.fromkeys(
        (
            "setIn",
            "clearIn",
            "callWithIn",
            "setEvent",
            "isIdentifier",
            "declare",
            "assignDecoded",
            "assignFrom",
        ),
        ("session",),
    ),
    "exportJSON": ("export",),
    "foreachCopy": ("export",),
    "length": ("export",),
    "foreachBind": ("export",),
    "snapshot": ("snapshot",),
    "restore": ("restore",),
    "values": ("snapshot", "export"),
}
# entries of a snapshot's globals that restore() sets without the codec
_SCALAR_TAGS = frozenset({"u", "n", "b"})
# isIdentifier answers, shared by every context: they depend on the name only
_IDENTIFIERS: dict[str, bool] = {}
_IDENTIFIERS_MAX = 4096
# what the bindings raise for a failed call (conversion failures are Python errors)
_ENGINE_ERRORS = (quickjs.JSException, TypeError, ValueError, OverflowError)
_XML_MARKER = json.dumps(XML_KEY)

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
        self._lookup: JsFunction = context.eval(_PRELUDE)
        context.set_time_limit(self.time_limit_s)
        self._context = context
        self._helpers: dict[str, JsFunction] = {}
        self._expressions: dict[str, _Compiled] = {}
        self._conditions: dict[str, _Compiled] = {}
        self._setters: dict[str, _Compiled] = {}
        self._installed: set[str] = set()
        # True until the first document code or value enters: restore() can reuse it
        self._fresh = True
        if self._system is not None:
            self._apply_system()

    def _install(self, part: str) -> None:
        """Compile a part of the JavaScript side (DOM shim, snapshot codec...) once."""
        if part not in self._installed:
            self._call(f"installing the {part}", "extend", self._context.eval(_PARTS[part]))
            self._installed.add(part)

    def _helper(self, name: str) -> JsFunction:
        helper = self._helpers.get(name)
        if helper is None:
            for part in _HELPER_PARTS.get(name, ()):
                self._install(part)
            helper = self._helpers[name] = self._lookup(name)
        return helper

    def close(self) -> None:
        for cache in (self._expressions, self._conditions, self._setters):
            cache.clear()
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
            return self._helper(helper)(*args)
        except _ENGINE_ERRORS as exc:
            raise self._error(what, exc) from None

    def _compile(self, cache: dict[str, _Compiled], key: str, source: str, what: str) -> _Compiled:
        self._fresh = False
        try:
            function = self._context.eval(source)
        except quickjs.JSException as exc:
            raise self._error(what, exc) from None
        if len(cache) >= self._cache_size:
            cache.clear()
        compiled = cache[key] = _Compiled(function, _literal_in_ids(key))
        return compiled

    def _expression(self, expr: str) -> _Compiled:
        compiled = self._expressions.get(expr)
        if compiled is None:
            source = f"(function(){{return ({_expression_text(expr)}\n);}})"
            compiled = self._compile(self._expressions, expr, source, f"expression {expr!r}")
        return compiled

    def _condition(self, expr: str) -> _Compiled:
        compiled = self._conditions.get(expr)
        if compiled is None:
            source = f"(function(){{return !!({_expression_text(expr)}\n);}})"
            compiled = self._compile(self._conditions, expr, source, f"condition {expr!r}")
        return compiled

    def _setter(self, location: str) -> _Compiled:
        compiled = self._setters.get(location)
        if compiled is None:
            # arguments[0], not a named parameter that a location could shadow
            source = f'(function(){{"use strict"; ({location}\n) = arguments[0];}})'
            compiled = self._compile(self._setters, location, source, f"location {location!r}")
        return compiled

    def _invoke(
        self, kind: str, subject: str, in_ids: tuple[str, ...], function: JsFunction, *args: Any
    ) -> Any:
        """Call a JavaScript function, handing it the ``In()`` answers it needs.

        Answers for literal ids are computed up front; ``In(x)`` with an id only known at
        run time stops the call, which is then run again with that answer too. An error
        names ``kind`` and ``subject`` (the message is only built when there is one).
        """
        if not in_ids:
            try:
                return function(*args)
            except _ENGINE_ERRORS as exc:
                state = self._missing_in_state(exc)
                if state is None:
                    raise self._error(f"{kind} {subject!r}", exc) from None
                in_ids = (state,)
        answers = {state: self._ask_in(state) for state in in_ids}
        call_with_in = self._helper("callWithIn")
        while True:
            ids = "\n".join(answers)
            flags = "".join("1" if answer else "0" for answer in answers.values())
            try:
                return call_with_in(ids, flags, function, *args)
            except _ENGINE_ERRORS as exc:
                state = self._missing_in_state(exc)
                if state is None or state in answers:
                    raise self._error(f"{kind} {subject!r}", exc) from None
                answers[state] = self._ask_in(state)

    def _ask_in(self, state: str) -> bool:
        if self._in_state is None:
            raise ScriptError("In() is not available before the data model is set up")
        return bool(self._in_state(state))

    def _missing_in_state(self, exc: BaseException) -> str | None:
        message = str(exc).split("\n", 1)[0]
        at = message.find(NEED_IN)
        return None if at < 0 else message[at + len(NEED_IN) :]

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
        self._fresh = False
        self._call(f"<data id={location!r}>", "declare", location, 0, None)
        if expr is not None:
            self.assign(location, expr)
        elif value is not None:
            self.assign_value(location, value)

    def assign(self, location: str, expr: str) -> None:
        setter = self._setter(location).function
        getter = self._expression(expr)
        assign_from = self._helper("assignFrom")
        self._invoke("<assign> to", location, getter.in_ids, assign_from, setter, getter.function)

    def assign_value(self, location: str, value: Any) -> None:
        setter = self._setter(location).function  # compiling it marks the context used
        kind, payload = self._to_js(value)
        self._call(f"assign to {location!r}", "assignDecoded", setter, kind, payload)

    def evaluate(self, expr: str) -> Any:
        compiled = self._expression(expr)
        result = self._invoke("expression", expr, compiled.in_ids, compiled.function)
        if isinstance(result, quickjs.Object):
            text = self._call(f"expression {expr!r}", "exportJSON", result)
            return None if text is None else json.loads(text)
        if isinstance(result, float):
            if not math.isfinite(result):
                return None  # as JSON.stringify has it: NaN and the infinities are not JSON
            if result.is_integer() and abs(result) < _MAX_SAFE_INTEGER:
                return int(result)
        return result

    def condition(self, expr: str) -> bool:
        compiled = self._condition(expr)
        return bool(self._invoke("condition", expr, compiled.in_ids, compiled.function))

    def execute(self, script: str) -> None:
        """Run a ``<script>`` in global scope.

        ``In()`` needs literal ids here: a script is never run twice, so an id only known
        at run time cannot be asked for after the fact.
        """
        self._fresh = False
        in_ids = _literal_in_ids(script)
        if in_ids:
            answers = {state: self._ask_in(state) for state in in_ids}
            self._call("<script>", "setIn", json.dumps(answers))
        try:
            self._context.eval(script)
        except _ENGINE_ERRORS as exc:
            state = self._missing_in_state(exc)
            if state is not None:
                raise ScriptError(
                    f"<script>: In() in a script needs a literal state id, got {state!r}"
                ) from None
            raise self._error("<script>", exc) from None
        finally:
            if in_ids:
                self._call("<script>", "clearIn")
        self._lexical_names.update(_LEXICAL_DECLARATION.findall(script))

    def foreach(self, array: str, item: str, index: str | None) -> Iterator[None]:
        for name in (item, index):
            if name is not None and not self._is_identifier(name):
                raise ScriptError(f"<foreach> {name!r} is not a legal ECMAScript variable name")
        getter = self._expression(array)
        what = f"<foreach> array {array!r}"
        copy_of = self._helper("foreachCopy")
        copy = self._invoke("<foreach> array", array, getter.in_ids, copy_of, getter.function)
        for at in range(int(self._call(what, "length", copy))):
            self._call(what, "foreachBind", copy, at, item, index)
            yield

    def is_location(self, location: str) -> bool:
        try:
            compiled = self._expression(location)
            self._invoke("location", location, compiled.in_ids, compiled.function)
        except ScriptError:
            return False
        return True

    def set_event(self, event: Event) -> None:
        self._fresh = False
        kind, payload = self._to_js(event.data)
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
            event.raw,
        )

    def snapshot(self) -> dict[str, Any]:
        lexical = json.dumps(sorted(self._lexical_names))
        text = self._call("snapshot", "snapshot", lexical)
        if text is None:  # some global needs the full codec
            self._install("codec")
            text = self._call("snapshot", "snapshot", lexical)
        encoded: dict[str, Any] = json.loads(text)
        snap = {"format": SNAPSHOT_FORMAT, "globals": encoded["globals"]}
        snap["objects"] = encoded["objects"]
        if encoded["lost"]:
            snap["lost"] = sorted(set(encoded["lost"]))
        return snap

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Rebuild the globals in a fresh context; problems go to ``restore_problems``."""
        if snapshot.get("format") not in _READABLE_FORMATS:
            raise ScriptError(f"not an ECMAScript data model snapshot: {snapshot.get('format')!r}")
        objects, globals_ = snapshot.get("objects"), snapshot.get("globals")
        if not isinstance(objects, list) or not isinstance(globals_, list):
            raise ScriptError("ECMAScript data model snapshot without 'globals' and 'objects'")
        if not self._fresh:
            self._new_context()
        self._fresh = False
        self._lexical_names = set()
        problems: list[str] = []
        if objects or not all(map(_is_fast_entry, globals_)):
            self._install("codec")
        if any(entry.get("k") == "xml" for entry in objects):
            self._install("DOM")
            objects = [_with_xml_tree(entry, problems) for entry in objects]
        payload = json.dumps({"globals": globals_, "objects": objects})
        failures = self._call("restore", "restore", payload)
        if failures:
            problems += json.loads(failures)
        self.restore_problems = problems

    def values(self) -> dict[str, Any]:
        lexical = json.dumps(sorted(self._lexical_names))
        result: dict[str, Any] = json.loads(self._call("values", "values", lexical))
        return result

    # ---- conversions ----------------------------------------------------------------

    def _is_identifier(self, name: str) -> bool:
        known = _IDENTIFIERS.get(name)
        if known is None:
            if len(_IDENTIFIERS) >= _IDENTIFIERS_MAX:
                _IDENTIFIERS.clear()
            known = _IDENTIFIERS[name] = bool(self._call("identifier check", "isIdentifier", name))
        return known

    def _to_js(self, value: Any) -> tuple[int, Any]:
        """(kind, payload) for the prelude's ``decode``: 0 undefined, 1 primitive, 2 JSON."""
        if value is None:
            return 0, None
        if isinstance(value, bool | str | float):
            return 1, value
        if isinstance(value, int) and abs(value) < _MAX_SAFE_INTEGER:
            return 1, value
        try:
            text = json.dumps(value, allow_nan=True)
        except (TypeError, ValueError) as exc:
            raise ScriptError(f"value is not JSON-compatible: {exc}") from None
        if _XML_MARKER in text:
            self._install("DOM")
            text = json.dumps(_with_xml_trees(value))
        return 2, text


def _expression_text(expr: str) -> str:
    """The expression without trailing semicolons, which documents write (W3C 452)."""
    text = expr.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    return text


def _is_fast_entry(entry: Any) -> bool:
    """True for a snapshot global that restore() sets without the codec."""
    if not isinstance(entry, dict):
        return True  # malformed: the restore helper reports it
    value = entry.get("v")
    return not isinstance(value, dict) or value.get("$") in _SCALAR_TAGS


def _literal_in_ids(source: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(match[1] for match in _IN_LITERAL.findall(source)))


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


def _with_xml_tree(entry: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    """A snapshot entry for an XML document, with its tree; XML that a script made
    unparseable (``setAttribute("a b", ...)``) is dropped and reported."""
    if entry.get("k") != "xml":
        return entry
    try:
        return {**entry, "tree": parse_xml(entry["xml"])}
    except ValueError as exc:
        problems.append(f"XML value dropped: {exc}")
        return {"k": "lost", "what": "XML"}
