"""The JavaScript run once in every session context, before any document script.

It defines the SCXML system variables (read-only accessors whose setters throw, so that
even a sloppy-mode ``<script>`` cannot overwrite them), ``In()`` and the helpers the
Python side calls. The helpers are published on a temporary global that Python reads once
and deletes, so document scripts cannot reach them by name.

The XML DOM shim (:mod:`engine.datamodel.dom_shim`) and the snapshot codec
(:mod:`engine.datamodel.snapshot_codec`) are installed on first use through the
``extend`` helper: compiling JavaScript is most of the cost of a new context, and most
sessions never hold XML and only some contexts take snapshots.
"""

from __future__ import annotations

HELPERS_GLOBAL = "__orchestrion_helpers__"

PRELUDE_JS = r"""
(function (global) {
"use strict";
const BUILTIN_NAMES = new Set(Object.getOwnPropertyNames(global));
const BUILTIN_VALUES = new Map(Array.from(BUILTIN_NAMES, (n) => [n, Object.getOwnPropertyDescriptor(global, n).value]));
const SYSTEM_NAMES = new Set(["_sessionid", "_name", "_ioprocessors", "_event", "_x", "In"]);
const NEED_IN = "__NEED_IN__";
let currentEvent = undefined;
let inMap = Object.create(null);
let system = { sessionid: undefined, name: undefined, ioprocessors: undefined };

function readOnly(name, get) {
  Object.defineProperty(global, name, {
    get,
    set() { throw new TypeError(name + " is a read-only system variable"); },
    enumerable: false,
    configurable: false,
  });
}
readOnly("_sessionid", () => system.sessionid);
readOnly("_name", () => system.name);
readOnly("_ioprocessors", () => system.ioprocessors);
readOnly("_event", () => currentEvent);
const platform = Object.freeze({});
readOnly("_x", () => platform);
Object.defineProperty(global, "In", {
  value: function In(id) {
    const key = String(id);
    if (key in inMap) return inMap[key];
    throw new Error(NEED_IN + key);
  },
  writable: false, enumerable: false, configurable: false,
});

function deepFreeze(value) {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze(value[key]);
  }
  return value;
}
function userGlobalNames() {
  // a builtin name counts as a user global once a document has replaced its value
  return Object.getOwnPropertyNames(global).filter((n) => !SYSTEM_NAMES.has(n)
    && (!BUILTIN_NAMES.has(n) || !Object.is(Object.getOwnPropertyDescriptor(global, n).value, BUILTIN_VALUES.get(n))));
}
function isGlobalLexical(name) {
  // a top-level let/const/class binding of a script is not a property of globalThis
  if (Object.prototype.hasOwnProperty.call(global, name) || BUILTIN_NAMES.has(name)) return false;
  try { (0, eval)(name); return true; } catch (e) { return false; }
}
// What the lazily installed parts share with this one; never reachable from documents.
const internal = {
  global, BUILTIN_NAMES, userGlobalNames, isGlobalLexical,
  isXml: (value) => false, serializeXml: null, buildDocument: null,
  encodeGlobals: null, decodeGlobals: null,
};

// ---- values crossing from Python --------------------------------------------------
function reviver(key, value) {
  if (value !== null && typeof value === "object" && !Array.isArray(value)
      && typeof value.$xml === "string" && Array.isArray(value.$tree)) {
    return internal.buildDocument(value.$tree);
  }
  return value;
}
// kind 0: undefined, 1: a primitive passed as is, 2: JSON text (XML trees revived as DOM)
function decode(kind, payload) {
  if (kind === 0) return undefined;
  if (kind === 1) return payload;
  return JSON.parse(payload, reviver);
}

// ---- plain JSON view of a value (evaluate(), values()) -----------------------------
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

// ---- helpers called from Python ---------------------------------------------------
function isIdentifier(name) {
  if (typeof name !== "string" || !/^[A-Za-z_$][\w$]*$/.test(name) || SYSTEM_NAMES.has(name)) return false;
  try { Function(name, ""); return true; } catch (e) { return false; }
}
global.__orchestrion_helpers__ = {
  extend(install) { install(internal); },
  setSystem(sessionid, name, ioprocessorsJson) {
    system = { sessionid, name: name === null ? undefined : name,
               ioprocessors: deepFreeze(JSON.parse(ioprocessorsJson)) };
  },
  setIn(json) { inMap = JSON.parse(json); },
  clearIn() { inMap = Object.create(null); },
  // ids and answers ("1"/"0") joined by "\n": one call, no JSON, for a condition with In()
  callWithIn(ids, answers, fn, a, b) {
    const keys = ids.split("\n");
    inMap = Object.create(null);
    for (let i = 0; i < keys.length; i++) inMap[keys[i]] = answers[i] === "1";
    try { return fn(a, b); } finally { inMap = Object.create(null); }
  },
  setEvent(name, type, sendid, origin, origintype, invokeid, kind, payload, raw) {
    const u = (v) => (v === null ? undefined : v);
    currentEvent = Object.freeze({
      name, type, sendid: u(sendid), origin: u(origin), origintype: u(origintype),
      invokeid: u(invokeid), data: decode(kind, payload), raw: u(raw),
    });
  },
  isIdentifier,
  declare(name, kind, payload) { global[name] = decode(kind, payload); },
  assignDecoded(setter, kind, payload) { setter(decode(kind, payload)); },
  assignFrom(setter, getter) { setter(getter()); },
  exportJSON(value) {
    const p = plain(value, []);
    return p === undefined ? null : JSON.stringify(p);
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
  snapshot(lexicalJson) { return JSON.stringify(internal.encodeGlobals(JSON.parse(lexicalJson))); },
  restore(json) { return JSON.stringify(internal.decodeGlobals(JSON.parse(json))); },
  values(lexicalJson) {
    const out = {};
    const names = userGlobalNames().concat(JSON.parse(lexicalJson).filter(isGlobalLexical));
    for (const name of names) {
      const value = (0, eval)(name);
      const v = plain(value, []);
      if (v !== undefined) out[name] = v;
      else if (value === undefined) out[name] = null;
    }
    return JSON.stringify(out);
  },
  NEED_IN,
};
Object.defineProperty(global, "__orchestrion_helpers__", { enumerable: false });
})(globalThis);
"""  # noqa: E501 - JavaScript, kept readable rather than wrapped
