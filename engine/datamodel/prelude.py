"""The JavaScript run once in every session context, before any document script.

It defines the SCXML system variables (read-only accessors whose setters throw, so that
even a sloppy-mode ``<script>`` cannot overwrite them), ``In()``, a small XML DOM shim
(W3C tests 557 and 561) and the helpers the Python side calls. The helpers are published
on a temporary global that Python reads once and deletes, so document scripts cannot
reach them by name.

The snapshot codec (``snapshot``/``restore``) turns the user globals into a flat table of
objects that references each other by index, so that shared references and cycles
survive; functions are saved as source text and re-created by a global-scope ``eval``.
"""

from __future__ import annotations

HELPERS_GLOBAL = "__orchestrion_helpers__"
NEED_IN_MARKER = "__orchestrion_need_in__:"

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

// ---- XML DOM shim ---------------------------------------------------------------
function escapeText(s) { return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"); }
function escapeAttr(s) { return escapeText(s).replace(/"/g, "&quot;"); }
function walk(node, visit) {
  for (const child of node.childNodes) { visit(child); walk(child, visit); }
}
class XNode {
  constructor(nodeType, nodeName) {
    this.nodeType = nodeType; this.nodeName = nodeName;
    this.parentNode = null; this.childNodes = [];
  }
  get firstChild() { return this.childNodes.length ? this.childNodes[0] : null; }
  get lastChild() { return this.childNodes.length ? this.childNodes[this.childNodes.length - 1] : null; }
  get children() { return this.childNodes.filter((n) => n.nodeType === 1); }
  get textContent() {
    if (this.nodeType === 3 || this.nodeType === 8 || this.nodeType === 7) return this.data;
    let text = "";
    walk(this, (n) => { if (n.nodeType === 3) text += n.data; });
    return text;
  }
  get nodeValue() { return this.nodeType === 1 || this.nodeType === 9 ? null : this.data; }
  hasChildNodes() { return this.childNodes.length > 0; }
  getElementsByTagName(name) {
    const found = [];
    walk(this, (n) => { if (n.nodeType === 1 && (name === "*" || n.tagName === name)) found.push(n); });
    return found;
  }
  getElementsByTagNameNS(ns, localName) {
    const found = [];
    walk(this, (n) => {
      if (n.nodeType === 1 && (ns === "*" || n.namespaceURI === ns)
          && (localName === "*" || n.localName === localName)) found.push(n);
    });
    return found;
  }
  appendChild(node) {
    if (!(node instanceof XNode)) throw new TypeError("appendChild needs an XML node");
    if (node.parentNode) node.parentNode.removeChild(node);
    node.parentNode = this; this.childNodes.push(node); return node;
  }
  removeChild(node) {
    const at = this.childNodes.indexOf(node);
    if (at < 0) throw new Error("not a child of this node");
    this.childNodes.splice(at, 1); node.parentNode = null; return node;
  }
  toString() { return serializeXml(this); }
  toJSON() { return { $xml: serializeXml(this) }; }
}
class XElement extends XNode {
  constructor(tagName, namespaceURI) {
    super(1, tagName); this.tagName = tagName;
    this.namespaceURI = namespaceURI; this.attributes = [];
  }
  get localName() { const at = this.tagName.indexOf(":"); return at < 0 ? this.tagName : this.tagName.slice(at + 1); }
  get prefix() { const at = this.tagName.indexOf(":"); return at < 0 ? null : this.tagName.slice(0, at); }
  getAttributeNode(name) { return this.attributes.find((a) => a.name === name) || null; }
  getAttribute(name) { const a = this.getAttributeNode(name); return a ? a.value : null; }
  hasAttribute(name) { return this.getAttributeNode(name) !== null; }
  setAttribute(name, value) {
    const a = this.getAttributeNode(name);
    if (a) a.value = String(value); else this.attributes.push({ name, namespaceURI: null, value: String(value) });
  }
  removeAttribute(name) { this.attributes = this.attributes.filter((a) => a.name !== name); }
}
class XCharacterData extends XNode {
  constructor(nodeType, nodeName, data) { super(nodeType, nodeName); this.data = data; }
}
class XDocument extends XNode {
  constructor() { super(9, "#document"); }
  get documentElement() { return this.childNodes.find((n) => n.nodeType === 1) || null; }
}
function buildNode(tree) {
  switch (tree[0]) {
    case "e": {
      const element = new XElement(tree[1], tree[2]);
      for (const [name, ns, value] of tree[3]) element.attributes.push({ name, namespaceURI: ns, value });
      for (const child of tree[4]) element.appendChild(buildNode(child));
      return element;
    }
    case "t": return new XCharacterData(3, "#text", tree[1]);
    case "c": return new XCharacterData(8, "#comment", tree[1]);
    case "p": { const pi = new XCharacterData(7, tree[1], tree[2]); pi.target = tree[1]; return pi; }
  }
  throw new TypeError("bad XML tree");
}
function buildDocument(tree) {
  const document = new XDocument();
  document.appendChild(buildNode(tree));
  return document;
}
function serializeXml(node) {
  switch (node.nodeType) {
    case 9: return node.childNodes.map(serializeXml).join("");
    case 1: {
      let out = "<" + node.tagName;
      for (const a of node.attributes) out += " " + a.name + '="' + escapeAttr(a.value) + '"';
      if (!node.childNodes.length) return out + "/>";
      return out + ">" + node.childNodes.map(serializeXml).join("") + "</" + node.tagName + ">";
    }
    case 3: return escapeText(node.data);
    case 8: return "<!--" + node.data + "-->";
    case 7: return "<?" + node.target + (node.data ? " " + node.data : "") + "?>";
  }
  return "";
}

// ---- values crossing from Python --------------------------------------------------
function reviver(key, value) {
  if (value !== null && typeof value === "object" && !Array.isArray(value)
      && typeof value.$xml === "string" && Array.isArray(value.$tree)) {
    return buildDocument(value.$tree);
  }
  return value;
}
// kind 0: undefined, 1: a primitive passed as is, 2: JSON text (XML trees revived as DOM)
function decode(kind, payload) {
  if (kind === 0) return undefined;
  if (kind === 1) return payload;
  return JSON.parse(payload, reviver);
}

// ---- plain JSON view of a value (queries, values()) --------------------------------
function plain(value, ancestors) {
  switch (typeof value) {
    case "undefined": case "function": case "symbol": return undefined;
    case "number": return Number.isFinite(value) ? value : null;
    case "bigint": return value.toString();
    case "string": case "boolean": return value;
  }
  if (value === null) return null;
  if (value instanceof XNode) return { $xml: serializeXml(value) };
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
function userGlobalNames() {
  // a builtin name counts as a user global once a document has replaced its value
  return Object.getOwnPropertyNames(global).filter((n) => !SYSTEM_NAMES.has(n)
    && (!BUILTIN_NAMES.has(n) || !Object.is(Object.getOwnPropertyDescriptor(global, n).value, BUILTIN_VALUES.get(n))));
}

// ---- snapshot codec ---------------------------------------------------------------
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
  for (const proto of [Object.getPrototypeOf(function* () {}), Object.getPrototypeOf(async function () {})]) {
    nativePaths.set(proto, null);
  }
  return nativePaths;
}
function resolveNative(path) {
  let value = global;
  for (const key of path.split(".")) value = value[key];
  return value;
}
const FUNCTION_SKIP = new Set(["length", "name", "prototype", "arguments", "caller"]);
const HOLE = { $: "hole" };
function isNativeSource(src) { return /\{\s*\[native code\]\s*\}\s*$/.test(src); }

function isGlobalLexical(name) {
  // a top-level let/const/class binding of a script is not a property of globalThis
  if (Object.prototype.hasOwnProperty.call(global, name) || BUILTIN_NAMES.has(name)) return false;
  try { (0, eval)(name); return true; } catch (e) { return false; }
}
function encodeGlobals(lexicalNames) {
  const ids = new Map();
  const objects = [];
  const queue = [];
  const lost = [];
  const natives = nativePathTable();
  function ref(o) {
    let id = ids.get(o);
    if (id === undefined) { id = objects.length; ids.set(o, id); objects.push(null); queue.push(o); }
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
    if (natives.has(v) && natives.get(v) !== null) return { $: "native", path: natives.get(v) };
    return { $: "r", id: ref(v) };
  }
  function props(o, skip) {
    const out = [];
    for (const key of Object.getOwnPropertyNames(o)) {
      if (skip && skip.has(key)) continue;
      const d = Object.getOwnPropertyDescriptor(o, key);
      const entry = { n: key };
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
  function describe(o) {
    let d;
    if (o instanceof XNode) return { k: "xml", xml: serializeXml(o) };
    if (typeof o === "function") {
      const src = Function.prototype.toString.call(o);
      if (isNativeSource(src)) { lost.push("native function " + (o.name || "(anonymous)")); return { k: "lost", what: "native function" }; }
      d = { k: "fn", src, props: props(o, FUNCTION_SKIP) };
      const pd = Object.getOwnPropertyDescriptor(o, "prototype");
      if (pd && "value" in pd && pd.value !== null && typeof pd.value === "object") d.prototype = ref(pd.value);
      const p = protoOf(o, Function.prototype);
      if (p !== undefined && !(p && p.$ === "native")) d.proto = p;
    } else if (Array.isArray(o)) {
      const items = [];
      for (let i = 0; i < o.length; i++) items.push(i in o ? enc(o[i]) : HOLE);
      const extra = props(o, null).filter((e) => e.n !== "length" && !(String(e.n >>> 0) === e.n && (e.n >>> 0) < o.length));
      d = { k: "arr", items };
      if (extra.length) d.props = extra;
    } else if (o instanceof Date) {
      d = { k: "date", t: enc(o.getTime()), props: props(o, null) };
    } else if (o instanceof RegExp) {
      d = { k: "re", src: o.source, flags: o.flags, props: props(o, null) };
    } else if (o instanceof Map) {
      d = { k: "map", entries: Array.from(o, ([a, b]) => [enc(a), enc(b)]), props: props(o, null) };
    } else if (o instanceof Set) {
      d = { k: "set", items: Array.from(o, enc), props: props(o, null) };
    } else if (ArrayBuffer.isView(o) && !(o instanceof DataView)) {
      d = { k: "typed", type: o.constructor.name, items: Array.from(o, enc) };
    } else if (o instanceof Error) {
      d = { k: "err", type: o.name, props: props(o, null) };
    } else if (o instanceof WeakMap || o instanceof WeakSet || o instanceof Promise
               || o instanceof ArrayBuffer || o instanceof DataView) {
      lost.push(Object.prototype.toString.call(o));
      d = { k: "obj", props: props(o, null), lost: Object.prototype.toString.call(o) };
    } else if (o instanceof Number || o instanceof String || o instanceof Boolean) {
      d = { k: "boxed", v: enc(o.valueOf()) };
    } else {
      d = { k: "obj", props: props(o, null) };
      const p = protoOf(o, Object.prototype);
      if (p !== undefined) d.proto = p;
    }
    if (d.k !== "obj" && d.k !== "fn" && d.k !== "arr" && d.props && !d.props.length) delete d.props;
    const x = extensibility(o);
    if (x) d.x = x;
    return d;
  }
  const globals = [];
  for (const name of userGlobalNames()) {
    const desc = Object.getOwnPropertyDescriptor(global, name);
    if (!("value" in desc)) { lost.push("global accessor " + name); continue; }
    globals.push({ n: name, v: enc(desc.value) });
  }
  for (const name of lexicalNames) {
    if (isGlobalLexical(name)) globals.push({ n: name, v: enc((0, eval)(name)), lex: true });
  }
  for (let i = 0; i < queue.length; i++) objects[ids.get(queue[i])] = describe(queue[i]);
  return { globals, objects, lost };
}

function evalFunctionSource(src) {
  const indirect = eval;
  try { return indirect("(" + src + "\n)"); } catch (e) { if (!(e instanceof SyntaxError)) throw e; }
  // method shorthand, getters, setters: "name() {...}" is only valid inside an object literal
  const holder = indirect("({" + src + "\n})");
  const d = Object.getOwnPropertyDescriptor(holder, Object.getOwnPropertyNames(holder)[0]);
  return d.value || d.get || d.set;
}
const TYPED = { Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array,
  Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array };

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
      case "err": made[i] = new (global[d.type] && global[d.type].prototype instanceof Error ? global[d.type] : Error)(); break;
      case "boxed": made[i] = Object(dec(d.v)); break;
      case "xml": made[i] = buildDocument(d.tree); break;
      case "lost": made[i] = undefined; break;
    }
  });
  // Functions are evaluated in global scope; a class that extends a global needs that
  // global first, so define globals as their values become available and retry.
  const pending = objects.map((d, i) => i).filter((i) => objects[i].k === "fn");
  const defined = new Set();
  function defineReadyGlobals() {
    for (const g of globals) {
      if (defined.has(g.n) || !ready(g.v)) continue;
      global[g.n] = dec(g.v); defined.add(g.n);
    }
  }
  let progress = true;
  let lastError = null;
  while (pending.length && progress) {
    progress = false;
    defineReadyGlobals();
    for (let j = 0; j < pending.length; j++) {
      const i = pending[j];
      try { made[i] = evalFunctionSource(objects[i].src); } catch (e) { lastError = e; continue; }
      pending.splice(j--, 1); progress = true;
      const pid = objects[i].prototype;
      if (pid !== undefined) made[pid] = made[i].prototype !== undefined ? made[i].prototype : {};
    }
  }
  for (const i of pending) {
    failed.push(String(lastError));
    const pid = objects[i].prototype;
    if (pid !== undefined) made[pid] = {};
  }
  function fill(target, entries) {
    for (const e of entries || []) {
      const f = e.f === undefined ? 7 : e.f;
      const desc = { enumerable: !!(f & 1), configurable: !!(f & 4) };
      if ("v" in e) { desc.value = dec(e.v); desc.writable = !!(f & 2); }
      else { desc.get = dec(e.g); desc.set = dec(e.s); }
      try { Object.defineProperty(target, e.n, desc); } catch (err) { failed.push(String(err)); }
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
  return JSON.stringify(failed);
}

// ---- helpers called from Python ---------------------------------------------------
function isIdentifier(name) {
  if (typeof name !== "string" || !/^[A-Za-z_$][\w$]*$/.test(name) || SYSTEM_NAMES.has(name)) return false;
  try { Function(name, ""); return true; } catch (e) { return false; }
}
global.__orchestrion_helpers__ = {
  setSystem(sessionid, name, ioprocessorsJson) {
    system = { sessionid, name: name === null ? undefined : name,
               ioprocessors: deepFreeze(JSON.parse(ioprocessorsJson)) };
  },
  setIn(json) { inMap = JSON.parse(json); },
  clearIn() { inMap = Object.create(null); },
  setEvent(name, type, sendid, origin, origintype, invokeid, kind, payload) {
    const u = (v) => (v === null ? undefined : v);
    currentEvent = Object.freeze({
      name, type, sendid: u(sendid), origin: u(origin), origintype: u(origintype),
      invokeid: u(invokeid), data: decode(kind, payload),
    });
  },
  isIdentifier,
  declare(name, kind, payload) { global[name] = decode(kind, payload); },
  declareUndefined(name) { global[name] = undefined; },
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
  snapshot(lexicalJson) { return JSON.stringify(encodeGlobals(JSON.parse(lexicalJson))); },
  restore(json) { return decodeGlobals(JSON.parse(json)); },
  values() {
    const out = {};
    for (const name of userGlobalNames()) {
      const v = plain(global[name], []);
      if (v !== undefined) out[name] = v;
      else if (typeof global[name] === "undefined") out[name] = null;
    }
    return JSON.stringify(out);
  },
  hasGlobal(name) { return Object.prototype.hasOwnProperty.call(global, name); },
  isGlobalLexical,
  NEED_IN,
};
Object.defineProperty(global, "__orchestrion_helpers__", { enumerable: false });
})(globalThis);
"""  # noqa: E501 - JavaScript, kept readable rather than wrapped
