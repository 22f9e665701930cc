"""Snapshot and restore of the user globals, with a fast path for plain data.

Most globals of a session are plain data (objects, arrays, strings, finite numbers,
booleans, null) and a few top-level functions. Such a global is saved as itself, ``{"n":
name, "j": value}``, or as its source, ``{"n": name, "fn": source, "name": fn.name}``, and
the whole snapshot is one ``JSON.stringify``; restore is one ``JSON.parse`` and an
assignment per global. Plain data holding fractional numbers is printed by the snapshot
itself instead, reusing the text of numbers it printed before: QuickJS prints a fraction
ten times slower than an integer, and most of a session's numbers do not change between
two snapshots. That needs neither the full codec
(:mod:`engine.datamodel.snapshot_codec`) nor its compile time.

A global takes the fast path only when JSON carries it exactly: every object on the way
has the standard prototype, is extensible and has only enumerable, writable data
properties with string keys; arrays have no holes and no extra properties; numbers are
finite and not ``-0``; nothing is reached twice (no cycles, no object shared with
another global). A function qualifies when its prototype is ``Function.prototype``, it
is not native, and it has no own properties other than ``length``, ``name`` and an
untouched default ``prototype``. Every other global goes through the full codec. Objects
shared between a fast and a codec global are found while the codec runs (its ``onRef``
hook), and the fast one joins the codec, so shared references still survive.

Two parts, each compiled on first use: :data:`SNAPSHOT_JS` and :data:`RESTORE_JS`.
"""

from __future__ import annotations

SNAPSHOT_JS = r"""
(function (internal) {
"use strict";
%PRISTINE%
const { global, BUILTIN_NAMES, BUILTIN_VALUES, readGlobal, parse, stringify } = internal;
const SYSTEM_NAMES = new Set(%SYSTEM_NAMES%);
const BUILTINS = new Set(BUILTIN_NAMES);
const { getPrototypeOf, getOwnPropertyNames, getOwnPropertySymbols, getOwnPropertyDescriptor, isExtensible, is } = Object;
const OBJECT_PROTOTYPE = Object.prototype, ARRAY_PROTOTYPE = Array.prototype, FUNCTION_PROTOTYPE = Function.prototype;
const functionSource = Function.prototype.toString;

function userGlobalNames() {
  // a builtin name counts as a user global once a document has replaced its value
  const now = BUILTIN_NAMES.map(readGlobal);
  const replaced = BUILTIN_NAMES.filter((n, i) => !is(now[i], BUILTIN_VALUES[i]));
  return replaced.concat(getOwnPropertyNames(global).filter((n) => !BUILTINS.has(n) && !SYSTEM_NAMES.has(n)));
}
function isGlobalLexical(name) {
  // a top-level let/const/class binding of a script is not a property of globalThis
  if (Object.prototype.hasOwnProperty.call(global, name) || BUILTINS.has(name)) return false;
  try { (0, eval)(name); return true; } catch (e) { return false; }
}
// the user globals (and the script's top-level lexical bindings) as {n, value, lex}
function userGlobals(lexicalNames, lost) {
  const entries = [];
  for (const n of userGlobalNames()) {
    const d = getOwnPropertyDescriptor(global, n);
    if ("value" in d) entries.push({ n, value: d.value });
    else lost.push("global accessor " + n);
  }
  for (const n of lexicalNames) if (isGlobalLexical(n)) entries.push({ n, value: (0, eval)(n), lex: true });
  return entries;
}
const isJsonNumber = (v) => Number.isFinite(v) && !is(v, -0);
function encodeScalar(v) {
  switch (typeof v) {
    case "undefined": return { $: "u" };
    case "number": return isJsonNumber(v) ? v : { $: "n", v: is(v, -0) ? "-0" : String(v) };
    case "bigint": return { $: "b", v: v.toString() };
  }
  return v;  // string, boolean, null
}
// a data property as JSON writes it back: enumerable, writable, configurable, plain value
const isDefault = (d) => d !== undefined && d.writable && d.enumerable && d.configurable;
// Printing a fractional number is QuickJS's slowest step (~7 us, ten times an integer or a
// short string), and a session's numbers mostly stay the same from one snapshot to the
// next: their text is kept, and objects holding such numbers are printed here, with it.
const NUMBER_TEXT = new Map();
const NUMBER_TEXT_SIZE = 10000;
const isFraction = (v) => typeof v === "number" && !Number.isInteger(v);
function numberText(v) {
  let text = NUMBER_TEXT.get(v);
  if (text === undefined) {
    if (NUMBER_TEXT.size >= NUMBER_TEXT_SIZE) NUMBER_TEXT.clear();
    text = stringify(v);
    NUMBER_TEXT.set(v, text);
  }
  return text;
}

// Which globals JSON carries exactly; owner maps each object reached to its global's index,
// and withFractions holds the plain objects that hold fractional numbers (at any depth).
function classify(entries) {
  const owner = new Map();
  const withFractions = new Set();
  const codec = entries.map(() => false);
  const fast = [];
  let i = 0;
  function claim(o) {
    const first = owner.get(o);
    if (first !== undefined) { codec[first] = true; return false; }  // reached twice
    owner.set(o, i);
    return isExtensible(o) && !getOwnPropertySymbols(o).length;
  }
  let fractions = false;  // whether the value just checked holds a fractional number
  function plainValue(v) {
    switch (typeof v) {
      case "string": case "boolean": return true;
      case "number": if (isFraction(v)) fractions = true; return isJsonNumber(v);
      case "object": return v === null || plainObject(v);
    }
    return false;
  }
  function plainObject(o) {
    if (!claim(o)) return false;
    const outer = fractions;
    fractions = false;
    const plain = plainMembers(o);
    if (fractions) withFractions.add(o);
    fractions = fractions || outer;
    return plain;
  }
  function plainMembers(o) {
    const proto = getPrototypeOf(o), names = getOwnPropertyNames(o);
    if (proto === ARRAY_PROTOTYPE && Array.isArray(o)) {
      // every index present, nothing else but length
      if (names.length !== o.length + 1) return false;
      for (let k = 0; k < o.length; k++) { const d = getOwnPropertyDescriptor(o, k); if (!isDefault(d) || !plainValue(d.value)) return false; }
      return true;
    }
    if (proto !== OBJECT_PROTOTYPE || Array.isArray(o)) return false;
    for (let k = 0; k < names.length; k++) { const d = getOwnPropertyDescriptor(o, names[k]); if (!isDefault(d) || !plainValue(d.value)) return false; }
    return true;
  }
  // JSON text of a plain value: natively, unless it holds fractional numbers
  function plainText(v) {
    if (isFraction(v)) return numberText(v);
    if (!withFractions.has(v)) return stringify(v);
    if (Array.isArray(v)) return "[" + v.map(plainText).join(",") + "]";
    return "{" + getOwnPropertyNames(v).map((k) => stringify(k) + ":" + plainText(v[k])).join(",") + "}";
  }
  // a function that its source and name give back: no own properties but length, name and
  // an untouched prototype
  function plainFunctionSource(f) {
    if (!claim(f) || getPrototypeOf(f) !== FUNCTION_PROTOTYPE) return null;
    const src = functionSource.call(f);
    if (/\{\s*\[native code\]\s*\}\s*$/.test(src)) return null;
    const ok = getOwnPropertyNames(f).every((k) => {
      const d = getOwnPropertyDescriptor(f, k);
      if (k === "length" || k === "name") return "value" in d && !d.writable && !d.enumerable && d.configurable;
      if (k !== "prototype" || d.enumerable || d.configurable || d.writable === /^class\b/.test(src)) return false;
      const p = d.value;
      if (p === null || typeof p !== "object" || !claim(p) || getPrototypeOf(p) !== OBJECT_PROTOTYPE) return false;
      const c = getOwnPropertyDescriptor(p, "constructor");
      return getOwnPropertyNames(p).length === 1 && c !== undefined && c.value === f && c.writable && !c.enumerable && c.configurable;
    });
    return ok && typeof f.name === "string" ? src : null;
  }
  for (; i < entries.length; i++) {
    const { n, value } = entries[i];
    let entry = null;
    if (typeof value === "function") {
      const src = plainFunctionSource(value);
      if (src !== null) entry = { n, fn: src, name: value.name };
    } else if (value !== null && typeof value === "object") {
      if (plainObject(value)) entry = { n, j: value, text: withFractions.has(value) ? plainText(value) : null };
    } else if (typeof value !== "symbol") entry = { n, v: encodeScalar(value) };
    if (entry === null) codec[i] = true;
    else if (entries[i].lex) entry.lex = true;
    fast.push(entry);
  }
  return { owner, codec, fast };
}

// a fast entry; the value of "j" is printed by classify when it holds fractional numbers
function entryText(entry) {
  if (!("j" in entry)) return stringify(entry);
  const { n, j, text, lex } = entry;
  if (text === null) return stringify(lex ? { n, j, lex } : { n, j });
  return '{"n":' + stringify(n) + ',"j":' + text + (lex ? ',"lex":true}' : "}");
}

function snapshot(lexicalJson) {
  const lost = [];
  const entries = userGlobals(parse(lexicalJson), lost);
  const { owner, codec, fast } = classify(entries);
  let encoded = { globals: [], objects: [], lost: [] };
  if (codec.includes(true)) {
    if (!internal.encodeGlobals) return null;  // the caller installs the codec and asks again
    // a fast global that shares an object with a codec global joins the codec; encode again
    for (let again = true; again;) {
      again = false;
      encoded = internal.encodeGlobals(entries.filter((e, i) => codec[i]), (o) => {
        const i = owner.get(o);
        if (i !== undefined && !codec[i]) { codec[i] = true; again = true; }
      });
    }
  }
  let next = 0;
  const globals = entries.map((e, i) => (codec[i] ? stringify(encoded.globals[next++]) : entryText(fast[i])));
  return '{"globals":[' + globals.join(",") + '],"objects":' + stringify(encoded.objects) +
    ',"lost":' + stringify(lost.concat(encoded.lost)) + "}";
}
Object.assign(internal, { userGlobalNames, isGlobalLexical });
return { snapshot };
})
"""  # noqa: E501 - JavaScript, kept readable rather than wrapped

RESTORE_JS = r"""
(function (internal) {
"use strict";
%PRISTINE%
const { global, parse, stringify } = internal;
function evalFunctionSource(src) {
  const indirect = eval;
  try { return indirect("(" + src + "\n)"); } catch (e) { if (!(e instanceof SyntaxError)) throw e; }
  // method shorthand, getters, setters: "name() {...}" is only valid inside an object literal
  const holder = indirect("({" + src + "\n})");
  const d = Object.getOwnPropertyDescriptor(holder, Reflect.ownKeys(holder)[0]);
  return d.value || d.get || d.set;
}
function decodeScalar(e) {
  if (e === null || typeof e !== "object") return e;
  return e.$ === "u" ? undefined : e.$ === "n" ? (e.v === "-0" ? -0 : Number(e.v)) : BigInt(e.v);
}
const isScalar = (v) => v === null || typeof v !== "object" || v.$ === "u" || v.$ === "n" || v.$ === "b";
function restore(json) {
  const { globals, objects } = parse(json);
  const problems = [];
  const rest = [];
  let functions = [];
  for (const g of globals) {
    if ("j" in g) global[g.n] = g.j;
    else if ("fn" in g) functions.push(g);
    else if (isScalar(g.v)) global[g.n] = decodeScalar(g.v);
    else rest.push(g);
  }
  // functions before the codec's globals (a class body may use them), and again after them
  // for a source that needs one of the codec's globals
  const defineFunctions = () => {
    functions = functions.filter((g) => {
      try {
        const f = evalFunctionSource(g.fn);
        if (f.name !== g.name) Object.defineProperty(f, "name", { value: g.name, configurable: true });
        global[g.n] = f;
        return false;
      } catch (e) { g.error = e; return true; }
    });
  };
  defineFunctions();
  if (rest.length || objects.length) problems.push(...internal.decodeGlobals({ globals: rest, objects }));
  if (functions.length) defineFunctions();
  for (const g of functions) { problems.push(String(g.error)); global[g.n] = undefined; }
  return problems.length ? stringify(problems) : "";
}
internal.evalFunctionSource = evalFunctionSource;
return { restore };
})
"""  # noqa: E501 - JavaScript, kept readable rather than wrapped
