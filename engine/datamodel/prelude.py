"""The JavaScript run once in every session context, before any document script.

It defines the SCXML system variables (read-only accessors whose setters throw, so that
even a sloppy-mode ``<script>`` cannot overwrite them), ``In()`` and ``setSystem``. The
prelude evaluates to a lookup function (``helper(name)``), so the helpers never sit on a
global that document scripts could reach by name.

Compiling JavaScript is most of the cost of a new context (QuickJS compiles a whole script
up front, about 0.15 ms per kB on the development machine), so this part is kept to what
every context needs. The other parts are compiled on first use and added through
``extend``: the per-session helpers (events, ``<data>``, ``<assign>``, ``In()`` answers:
:data:`SESSION_JS`), the plain JSON view of values (:data:`EXPORT_JS`), the snapshot and
restore of globals
(:mod:`engine.datamodel.globals_snapshot`), the full snapshot codec
(:mod:`engine.datamodel.snapshot_codec`) and the XML DOM shim
(:mod:`engine.datamodel.dom_shim`). :func:`compact` drops the comments and the
indentation of each part before it is compiled.
"""

from __future__ import annotations

import json
import re

# The read-only system variables, and In() (which the interpreter answers; see ecmascript.py)
SYSTEM_NAMES = ("_sessionid", "_name", "_ioprocessors", "_event", "_x", "In")
# In(id) for an id it was not told about throws this, followed by the id
NEED_IN = "__NEED_IN__"

PRELUDE_JS = r"""
(function (global) {
"use strict";
// a builtin replaced by a document counts as a user global; map() with a native callback is
// the cheapest way to read the values (they are compared the same way in the snapshot part)
const BUILTIN_NAMES = Object.getOwnPropertyNames(global);
const readGlobal = Reflect.get.bind(null, global);
const BUILTIN_VALUES = BUILTIN_NAMES.map(readGlobal);
const { assign, freeze } = Object;
const system = { _x: freeze({}) };
let inMap = Object.create(null);
for (const id of %SYSTEM_VARIABLES%) {
  Object.defineProperty(global, id, { get: () => system[id], set() { throw new TypeError(id + " is a read-only system variable"); } });
}
Object.defineProperty(global, "In", { value: function In(id) {
  const key = String(id);
  if (key in inMap) return inMap[key];
  throw new Error("%NEED_IN%" + key);
} });
// What the parts added later share with this one; never reachable from documents.
const internal = { global, BUILTIN_NAMES, BUILTIN_VALUES, readGlobal, system,
  pristine: (names) => names.map((n) => BUILTIN_VALUES[BUILTIN_NAMES.indexOf(n)]), parse: JSON.parse, stringify: JSON.stringify,
  setIn(answers) { inMap = answers; }, isXml: () => false };
// the helpers Python calls; the parts add theirs
const helpers = {
  extend(install) { assign(helpers, install(internal)); },
  setSystem(id, name, ioprocessorsJson) {
    system._sessionid = id; system._name = name === null ? undefined : name;
    system._ioprocessors = internal.parse(ioprocessorsJson, (key, value) => freeze(value));
  },
};
return (id) => helpers[id];
})(globalThis)
"""  # noqa: E501 - JavaScript, kept readable rather than wrapped

SESSION_JS = r"""
(function (internal) {
"use strict";
%PRISTINE%
const { global, parse, setIn } = internal;
const SYSTEM_NAMES = new Set(%SYSTEM_NAMES%);
function reviver(key, value) {
  if (value !== null && typeof value === "object" && !Array.isArray(value)
      && typeof value.$xml === "string" && Array.isArray(value.$tree)) {
    return internal.buildDocument(value.$tree);
  }
  return value;
}
// kind 0: undefined, 1: a primitive passed as is, 2: JSON text (XML trees revived as DOM)
function decode(kind, payload) { return kind === 0 ? undefined : kind === 1 ? payload : parse(payload, reviver); }
const u = (v) => (v === null ? undefined : v);
return {
  setIn(json) { setIn(Object.assign(Object.create(null), parse(json))); },
  clearIn() { setIn(Object.create(null)); },
  // ids and answers ("1"/"0") joined by "\n": one call, no JSON, for a condition with In()
  callWithIn(ids, answers, fn, a, b) {
    const keys = ids.split("\n");
    const inMap = Object.create(null);
    for (let i = 0; i < keys.length; i++) inMap[keys[i]] = answers[i] === "1";
    setIn(inMap);
    try { return fn(a, b); } finally { setIn(Object.create(null)); }
  },
  setEvent(name, type, sendid, origin, origintype, invokeid, kind, payload, raw) {
    internal.system._event = (Object.freeze({ name, type, sendid: u(sendid), origin: u(origin), origintype: u(origintype),
      invokeid: u(invokeid), data: decode(kind, payload), raw: u(raw) }));
  },
  isIdentifier(id) {
    if (typeof id !== "string" || !/^[A-Za-z_$][\w$]*$/.test(id) || SYSTEM_NAMES.has(id)) return false;
    try { Function(id, ""); return true; } catch (e) { return false; }
  },
  declare(id, kind, payload) { global[id] = decode(kind, payload); },
  assignDecoded(setter, kind, payload) { setter(decode(kind, payload)); },
  assignFrom(setter, getter) { setter(getter()); },
};
})
"""  # noqa: E501 - JavaScript, kept readable rather than wrapped

EXPORT_JS = r"""
(function (internal) {
"use strict";
%PRISTINE%
const { global, stringify } = internal;
// plain JSON view of a value (evaluate(), values())
function plain(value, ancestors) {
  switch (typeof value) {
    case "undefined": case "function": case "symbol": return undefined;
    case "number": return Number.isFinite(value) ? value : null;
    case "bigint": return value.toString();
    case "string": case "boolean": return value;
  }
  if (value === null) return null;
  if (internal.isXml(value)) return { $xml: internal.serializeXml(value) };
  if (typeof value.toJSON === "function") return plain(value.toJSON(), ancestors);
  if (ancestors.includes(value)) return "[Circular]";
  ancestors.push(value);
  let out;
  if (Array.isArray(value)) {
    out = [];
    for (let i = 0; i < value.length; i++) { const v = plain(value[i], ancestors); out.push(v === undefined ? null : v); }
  } else {
    out = {};
    for (const key of Object.keys(value)) { const v = plain(value[key], ancestors); if (v !== undefined) out[key] = v; }
  }
  ancestors.pop();
  return out;
}
internal.plain = plain;
return {
  values(lexicalJson) {
    const out = {};
    const names = internal.userGlobalNames().concat(internal.parse(lexicalJson).filter(internal.isGlobalLexical));
    for (const n of names) {
      const value = (0, eval)(n);
      const v = plain(value, []);
      if (v !== undefined) out[n] = v;
      else if (value === undefined) out[n] = null;
    }
    return stringify(out);
  },
  exportJSON(value) {
    const p = plain(value, []);
    return p === undefined ? null : stringify(p);
  },
  foreachCopy(getter) {
    const value = getter();
    if (Array.isArray(value)) return value.slice();
    if (value !== null && typeof value === "object" && typeof value[Symbol.iterator] === "function") {
      return Array.from(value);
    }
    throw new TypeError("foreach array is not an array or iterable collection (" + typeof value + ")");
  },
  length(array) { return array.length; },
  foreachBind(array, at, item, index) {
    global[item] = array[at];
    if (index !== null) global[index] = at;
  },
};
})
"""  # noqa: E501 - JavaScript, kept readable rather than wrapped

# The builtins the parts use, as they were before any document code ran: the parts are
# compiled later, and a document may have replaced a global such as Object or Map by then.
_PRISTINE = (
    "Object", "Array", "Function", "Reflect", "Number", "String", "Symbol", "BigInt", "Map", "Set",
    "TypeError", "Error", "Date", "RegExp", "WeakMap", "WeakSet", "Promise", "ArrayBuffer",
    "DataView",
)  # fmt: skip
_CONSTANTS = {
    "%PRISTINE%": f"const [{', '.join(_PRISTINE)}] = internal.pristine({json.dumps(_PRISTINE)});",
    "%SYSTEM_NAMES%": json.dumps(SYSTEM_NAMES),
    "%SYSTEM_VARIABLES%": json.dumps(SYSTEM_NAMES[:-1]),
    "%NEED_IN%": NEED_IN,
}
_LINE_COMMENT = re.compile(r"^\s*//.*$", re.MULTILINE)
_INDENT = re.compile(r"^\s+", re.MULTILINE)


def prepare(source: str) -> str:
    """A part's source as it is compiled: the shared constants (``%NEED_IN%``...) filled in,
    whole-line comments and indentation, which cost compile time, left out.

    Lines stay lines, so automatic semicolon insertion works as written; nothing else inside
    a line is touched (strings and regular expressions stay intact).
    """
    for name, value in _CONSTANTS.items():
        source = source.replace(name, value)
    return _INDENT.sub("", _LINE_COMMENT.sub("", source))
