"""The snapshot codec of the ECMAScript data model, in JavaScript.

``encodeGlobals`` turns the user globals it is given (the ones the fast path of
:mod:`engine.datamodel.globals_snapshot` cannot carry) into a flat table of objects that
reference each other by index, so that shared references and cycles survive; each entry
says what kind of object it was (plain object, array, function, Date, RegExp, Map, Set, typed array,
Error, boxed primitive, XML document) together with its own properties, their attribute
flags, its prototype and whether it was frozen or sealed. Values that JSON cannot carry
(``undefined``, ``NaN``, the infinities, ``-0``, BigInt) are tagged objects. Functions are
saved as source text and re-created by a global-scope ``eval`` (see docs/js-engine.md for
what that cannot bring back). ``decodeGlobals`` rebuilds all of it in a fresh context.
"""

from __future__ import annotations

SNAPSHOT_CODEC_JS = r"""
(function (internal) {
"use strict";
%PRISTINE%
const { global, BUILTIN_NAMES } = internal;

// Builtin objects no global name reaches, named as the ECMAScript specification does.
const INTRINSICS = {
  "%GeneratorFunctionPrototype%": Object.getPrototypeOf(function* () {}),
  "%AsyncFunctionPrototype%": Object.getPrototypeOf(async function () {}),
  "%AsyncGeneratorFunctionPrototype%": Object.getPrototypeOf(async function* () {}),
  "%IteratorPrototype%": Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]())),
  "%ArrayIteratorPrototype%": Object.getPrototypeOf([][Symbol.iterator]()),
  "%MapIteratorPrototype%": Object.getPrototypeOf(new Map()[Symbol.iterator]()),
  "%SetIteratorPrototype%": Object.getPrototypeOf(new Set()[Symbol.iterator]()),
  "%StringIteratorPrototype%": Object.getPrototypeOf(""[Symbol.iterator]()),
  "%TypedArray%": Object.getPrototypeOf(Int8Array),
};
let nativePaths = null;
function nativePathTable() {
  if (nativePaths) return nativePaths;
  nativePaths = new Map();
  const visit = (obj, path, depth) => {
    if (obj === null || (typeof obj !== "object" && typeof obj !== "function")) return;
    if (nativePaths.has(obj)) return;
    nativePaths.set(obj, path);
    if (depth === 0) return;
    for (const key of Object.getOwnPropertyNames(obj)) {
      const d = Object.getOwnPropertyDescriptor(obj, key);
      if (d && "value" in d) visit(d.value, path + "." + key, depth - 1);
    }
  };
  for (const name of BUILTIN_NAMES) {
    if (name === "globalThis") continue;
    const d = Object.getOwnPropertyDescriptor(global, name);
    if (d && "value" in d) visit(d.value, name, 2);
  }
  for (const name of Object.keys(INTRINSICS)) visit(INTRINSICS[name], name, 2);
  return nativePaths;
}
function resolveNative(path) {
  const keys = path.split(".");
  let value = keys[0].startsWith("%") ? INTRINSICS[keys.shift()] : global;
  for (const key of keys) value = value[key];
  return value;
}
const TYPED = { Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array,
  Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array };
function errorClass(type) {
  const candidate = global[type];
  return typeof candidate === "function" && candidate.prototype instanceof Error ? candidate : Error;
}
// the prototype of the object restore() creates for an entry before fixing its prototype
function standardPrototype(d, o) {
  switch (d.k) {
    case "arr": return Array.prototype;
    case "date": return Date.prototype;
    case "re": return RegExp.prototype;
    case "map": return Map.prototype;
    case "set": return Set.prototype;
    case "typed": return (TYPED[d.type] || Float64Array).prototype;
    case "err": return errorClass(d.type).prototype;
    case "boxed": return Object.getPrototypeOf(Object(o.valueOf()));
  }
  return Object.prototype;
}
// Symbol.iterator and the like, the only symbol keys that can be named again after restore
const WELL_KNOWN_SYMBOLS = new Map(Object.getOwnPropertyNames(Symbol)
  .filter((name) => typeof Symbol[name] === "symbol").map((name) => [Symbol[name], name]));
// "name" is kept: an anonymous function stored in a variable is named after it, and its
// source alone would not give that name back
const FUNCTION_SKIP = new Set(["length", "prototype", "arguments", "caller"]);
const HOLE = { $: "hole" };
function isNativeSource(src) { return /\{\s*\[native code\]\s*\}\s*$/.test(src); }

// entries: [{n, value, lex}]; onRef(o) is called for each object the first time it is reached
function encodeGlobals(entries, onRef) {
  const ids = new Map();
  const objects = [];
  const queue = [];
  const lost = [];
  const natives = nativePathTable();
  function ref(o) {
    let id = ids.get(o);
    if (id === undefined) { id = objects.length; ids.set(o, id); objects.push(null); queue.push(o); onRef(o); }
    return id;
  }
  function enc(v) {
    switch (typeof v) {
      case "undefined": return { $: "u" };
      case "number":
        if (Number.isFinite(v) && !Object.is(v, -0)) return v;
        return { $: "n", v: Object.is(v, -0) ? "-0" : String(v) };
      case "string": case "boolean": return v;
      case "bigint": return { $: "b", v: v.toString() };
      case "symbol": lost.push("symbol"); return { $: "s", v: v.description === undefined ? null : v.description };
    }
    if (v === null) return null;
    if (natives.has(v)) return { $: "native", path: natives.get(v) };
    return { $: "r", id: ref(v) };
  }
  function props(o, skip) {
    const out = [];
    for (const key of Reflect.ownKeys(o)) {
      if (skip && skip.has(key)) continue;
      const entry = {};
      if (typeof key === "string") entry.n = key;
      else if (WELL_KNOWN_SYMBOLS.has(key)) entry.y = WELL_KNOWN_SYMBOLS.get(key);
      else { lost.push("symbol-keyed properties"); continue; }
      const d = Object.getOwnPropertyDescriptor(o, key);
      const flags = (d.enumerable ? 1 : 0) | (d.configurable ? 4 : 0) | ("value" in d && d.writable ? 2 : 0);
      if ("value" in d) { entry.v = enc(d.value); if (flags !== 7) entry.f = flags; }
      else { entry.g = enc(d.get); entry.s = enc(d.set); entry.f = flags; }
      out.push(entry);
    }
    return out;
  }
  function protoOf(o, standard) {
    const p = Object.getPrototypeOf(o);
    if (p === standard) return undefined;
    return p === null ? null : enc(p);
  }
  function extensibility(o) {
    if (Object.isFrozen(o)) return 3;
    if (Object.isSealed(o)) return 2;
    return Object.isExtensible(o) ? 0 : 1;
  }
  function describeObject(o) {
    if (Array.isArray(o)) {
      const items = [];
      for (let i = 0; i < o.length; i++) items.push(i in o ? enc(o[i]) : HOLE);
      const extra = props(o, null).filter((e) => e.n !== "length" && !(String(e.n >>> 0) === e.n && (e.n >>> 0) < o.length));
      return extra.length ? { k: "arr", items, props: extra } : { k: "arr", items };
    }
    if (o instanceof Date) return { k: "date", t: enc(o.getTime()), props: props(o, null) };
    if (o instanceof RegExp) return { k: "re", src: o.source, flags: o.flags, props: props(o, null) };
    if (o instanceof Map) return { k: "map", entries: Array.from(o, ([a, b]) => [enc(a), enc(b)]), props: props(o, null) };
    if (o instanceof Set) return { k: "set", items: Array.from(o, enc), props: props(o, null) };
    if (ArrayBuffer.isView(o) && !(o instanceof DataView)) {
      const type = Object.keys(TYPED).find((name) => o instanceof TYPED[name]);
      return { k: "typed", type, items: Array.from(o, enc) };
    }
    if (o instanceof Error) return { k: "err", type: o.name, props: props(o, null) };
    if (o instanceof Number || o instanceof String || o instanceof Boolean) return { k: "boxed", v: enc(o.valueOf()) };
    const tag = Object.prototype.toString.call(o);
    if (o instanceof WeakMap || o instanceof WeakSet || o instanceof Promise
        || o instanceof ArrayBuffer || o instanceof DataView || (typeof WeakRef === "function" && o instanceof WeakRef)) {
      lost.push(tag);
      return { k: "obj", props: props(o, null), lost: tag };
    }
    return { k: "obj", props: props(o, null) };
  }
  function describe(o) {
    let d;
    if (internal.isXml(o)) return { k: "xml", xml: internal.serializeXml(o) };
    if (typeof o === "function") {
      const src = Function.prototype.toString.call(o);
      if (isNativeSource(src)) { lost.push("native function " + (o.name || "(anonymous)")); return { k: "lost", what: "native function" }; }
      d = { k: "fn", src, props: props(o, FUNCTION_SKIP) };
      const pd = Object.getOwnPropertyDescriptor(o, "prototype");
      if (pd && "value" in pd && pd.value !== null && typeof pd.value === "object") d.prototype = ref(pd.value);
      const p = protoOf(o, Function.prototype);
      if (p !== undefined && !(p && p.$ === "native")) d.proto = p;
    } else {
      d = describeObject(o);
      // the shell restore() creates has the standard prototype of its kind; record others
      // (class instances, subclasses of Array, Map, Error..., Object.create(null))
      const p = Object.getPrototypeOf(o);
      if (!d.lost && p !== standardPrototype(d, o)) d.proto = p === null ? null : enc(p);
    }
    if (d.k !== "obj" && d.k !== "fn" && d.k !== "arr" && d.props && !d.props.length) delete d.props;
    const x = extensibility(o);
    if (x) d.x = x;
    return d;
  }
  const globals = entries.map((e) => (e.lex ? { n: e.n, v: enc(e.value), lex: true } : { n: e.n, v: enc(e.value) }));
  for (let i = 0; i < queue.length; i++) objects[ids.get(queue[i])] = describe(queue[i]);
  return { globals, objects, lost };
}

function decodeGlobals(snap) {
  const { objects, globals } = snap;
  const made = new Array(objects.length);
  const failed = [];
  const prototypeOf = new Map();
  objects.forEach((d, i) => { if (d.k === "fn" && d.prototype !== undefined) prototypeOf.set(d.prototype, i); });
  function dec(e) {
    if (e === null || typeof e !== "object") return e;
    switch (e.$) {
      case "u": case "hole": return undefined;
      case "n": return e.v === "-0" ? -0 : Number(e.v);
      case "b": return BigInt(e.v);
      case "s": return Symbol(e.v === null ? undefined : e.v);
      case "native": return resolveNative(e.path);
      case "r": return made[e.id];
    }
    throw new TypeError("bad snapshot value");
  }
  function ready(e) { return !(e && typeof e === "object" && e.$ === "r" && made[e.id] === undefined); }
  objects.forEach((d, i) => {
    if (prototypeOf.has(i)) return;
    switch (d.k) {
      case "obj": made[i] = {}; break;
      case "arr": made[i] = new Array(d.items.length); break;
      case "date": made[i] = new Date(dec(d.t)); break;
      case "re": made[i] = new RegExp(d.src, d.flags); break;
      case "map": made[i] = new Map(); break;
      case "set": made[i] = new Set(); break;
      case "typed": made[i] = new (TYPED[d.type] || Float64Array)(d.items.length); break;
      case "err": made[i] = new (errorClass(d.type))(); break;
      case "boxed": made[i] = Object(dec(d.v)); break;
      case "xml": made[i] = internal.buildDocument(d.tree); break;
      case "lost": made[i] = undefined; break;
    }
  });
  // Functions are evaluated in global scope; a class that extends a global needs that
  // global first, so define globals as their values become available and retry.
  // Constructors first: evaluating a class brings its methods with it, and those must be
  // adopted rather than evaluated alone, where super and #private fields do not work.
  const functions = objects.map((d, i) => i).filter((i) => objects[i].k === "fn");
  const stages = [functions.filter((i) => objects[i].prototype !== undefined),
                  functions.filter((i) => objects[i].prototype === undefined)];
  function adopt(entry, fresh) {
    for (const e of entry.props || []) {
      const current = Object.getOwnPropertyDescriptor(fresh, e.y === undefined ? e.n : Symbol[e.y]);
      if (!current) continue;
      for (const [saved, have] of [[e.v, current.value], [e.g, current.get], [e.s, current.set]]) {
        if (saved && saved.$ === "r" && made[saved.id] === undefined && typeof have === "function"
            && objects[saved.id].k === "fn" && Function.prototype.toString.call(have) === objects[saved.id].src) {
          made[saved.id] = have;
        }
      }
    }
  }
  const defined = new Set();
  function defineReadyGlobals() {
    for (const g of globals) {
      if (defined.has(g.n) || !ready(g.v)) continue;
      global[g.n] = dec(g.v); defined.add(g.n);
    }
  }
  let lastError = null;
  for (const pending of stages) {
    let progress = true;
    while (pending.length && progress) {
      progress = false;
      defineReadyGlobals();
      for (let j = 0; j < pending.length; j++) {
        const i = pending[j];
        if (made[i] === undefined) {
          try { made[i] = internal.evalFunctionSource(objects[i].src); } catch (e) { lastError = e; continue; }
          const pid = objects[i].prototype;
          if (pid !== undefined) made[pid] = made[i].prototype !== undefined ? made[i].prototype : {};
          adopt(objects[i], made[i]);
          if (pid !== undefined) adopt(objects[pid], made[pid]);
        }
        pending.splice(j--, 1); progress = true;
      }
    }
    for (const i of pending) {
      failed.push(String(lastError));
      const pid = objects[i].prototype;
      if (pid !== undefined) made[pid] = {};
    }
  }
  function fill(target, entries) {
    for (const e of entries || []) {
      const f = e.f === undefined ? 7 : e.f;
      const desc = { enumerable: !!(f & 1), configurable: !!(f & 4) };
      if ("v" in e) { desc.value = dec(e.v); desc.writable = !!(f & 2); }
      else { desc.get = dec(e.g); desc.set = dec(e.s); }
      try { Object.defineProperty(target, e.y === undefined ? e.n : Symbol[e.y], desc); } catch (err) { failed.push(String(err)); }
    }
  }
  objects.forEach((d, i) => {
    const o = made[i];
    if (o === undefined || o === null) return;
    switch (d.k) {
      case "arr": d.items.forEach((e, at) => { if (!(e && e.$ === "hole")) o[at] = dec(e); }); break;
      case "map": for (const [a, b] of d.entries) o.set(dec(a), dec(b)); break;
      case "set": for (const a of d.items) o.add(dec(a)); break;
      case "typed": d.items.forEach((e, at) => { o[at] = dec(e); }); break;
    }
    fill(o, d.props);
    if (d.proto !== undefined) {
      try { Object.setPrototypeOf(o, dec(d.proto)); } catch (err) { failed.push(String(err)); }
    }
  });
  objects.forEach((d, i) => {
    const o = made[i];
    if (o === undefined || o === null || !d.x) return;
    if (d.x === 3) Object.freeze(o); else if (d.x === 2) Object.seal(o); else Object.preventExtensions(o);
  });
  defineReadyGlobals();
  for (const g of globals) if (!defined.has(g.n)) { global[g.n] = dec(g.v); }
  return failed;
}
internal.encodeGlobals = encodeGlobals;
internal.decodeGlobals = decodeGlobals;
return {};
})
"""  # noqa: E501 - JavaScript, kept readable rather than wrapped
