"""A small XML DOM for the ECMAScript data model (W3C tests 557 and 561).

XML content (``{"$xml": text}``) becomes a document object with the DOM members scripts
use: ``getElementsByTagName``, ``getAttribute``, ``childNodes``, ``textContent``,
``documentElement`` and a few more. The tree is parsed in Python
(:mod:`engine.datamodel.xmltree`) and built into these nodes here; ``toJSON`` turns a node
back into ``{"$xml": text}`` so that it crosses back to Python and into snapshots.
"""

from __future__ import annotations

DOM_SHIM_JS = r"""
(function (internal) {
"use strict";
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
internal.isXml = (value) => value instanceof XNode;
internal.serializeXml = serializeXml;
internal.buildDocument = buildDocument;
return {};
})
"""  # noqa: E501 - JavaScript, kept readable rather than wrapped
