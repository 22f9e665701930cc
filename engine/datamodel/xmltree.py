"""XML text to the plain tree the JavaScript DOM shim builds its nodes from.

XML is parsed here, with lxml, rather than by a parser written in JavaScript: lxml is
well tested and hardened (no network, no external entities). The tree is nested lists so
that it crosses into the JavaScript context as JSON:

- element: ``["e", qualified_name, namespace_uri_or_None, [[name, ns_or_None, value], ...],
  [children...]]`` (namespace declarations are attributes named ``xmlns``/``xmlns:p``, as
  in the DOM);
- text (CDATA included): ``["t", text]``; comment: ``["c", text]``;
  processing instruction: ``["p", target, data]``.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

XMLNS_URI = "http://www.w3.org/2000/xmlns/"

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    remove_blank_text=False,
    huge_tree=False,
)

XmlTree = list[Any]


def parse_xml(text: str) -> XmlTree:
    """Parse XML text into the tree the DOM shim reads; ValueError if it is not XML."""
    try:
        root = etree.fromstring(text.encode("utf-8"), _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from exc
    return _element(root, {})


def _qualified(tag: str, prefix: str | None) -> tuple[str, str | None]:
    qname = etree.QName(tag)
    local = qname.localname
    return (f"{prefix}:{local}" if prefix else local), qname.namespace


def _element(element: Any, parent_nsmap: dict[str | None, str]) -> XmlTree:
    name, namespace = _qualified(element.tag, element.prefix)
    attributes: list[list[str | None]] = []
    nsmap: dict[str | None, str] = dict(element.nsmap)
    for prefix, uri in nsmap.items():
        if parent_nsmap.get(prefix) != uri:
            attributes.append([f"xmlns:{prefix}" if prefix else "xmlns", XMLNS_URI, uri])
    if None in parent_nsmap and None not in nsmap:
        attributes.append(["xmlns", XMLNS_URI, ""])  # an undeclared default namespace
    prefixes = {uri: prefix for prefix, uri in nsmap.items() if prefix}
    for key, value in element.attrib.items():
        qname = etree.QName(key)
        prefix = prefixes.get(qname.namespace) if qname.namespace else None
        attr_name = f"{prefix}:{qname.localname}" if prefix else qname.localname
        attributes.append([attr_name, qname.namespace, value])
    children: list[XmlTree] = []
    if element.text:
        children.append(["t", element.text])
    for child in element:
        children.append(_node(child, nsmap))
        if child.tail:
            children.append(["t", child.tail])
    return ["e", name, namespace, attributes, children]


def _node(node: Any, parent_nsmap: dict[str | None, str]) -> XmlTree:
    if isinstance(node, etree._Comment):
        return ["c", node.text or ""]
    if isinstance(node, etree._ProcessingInstruction):
        return ["p", node.target, node.text or ""]
    if isinstance(node, etree._Entity):
        return ["t", node.text or ""]
    return _element(node, parent_nsmap)
