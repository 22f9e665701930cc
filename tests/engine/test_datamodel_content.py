"""Content text (<data>, <content>, src files) read as JSON, XML or a normalised string."""

from __future__ import annotations

import pytest

from engine.datamodel import parse_content
from engine.datamodel.xmltree import parse_xml


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("123", 123),  # W3C 179, 529
        ("\n    [1,2,3]\n    ", [1, 2, 3]),  # W3C 446 (inline and from test446.txt)
        ('{"a": {"b": null}}', {"a": {"b": None}}),
        ("true", True),
        ("this  is \na string \n", "this is a string"),  # W3C 558
        ("'quoted'", "'quoted'"),
        ("<not xml", "<not xml"),
        ("   \n ", None),
        ("", None),
    ],
)
def test_json_then_text(text: str, expected: object) -> None:
    assert parse_content(text) == expected


def test_xml_content_is_kept_as_text() -> None:
    text = '\n<books xmlns="">\n  <book title="title1"/>\n</books> \n'  # W3C 557 file
    assert parse_content(text) == {"$xml": text.strip()}


def test_xml_tree_for_the_dom_shim() -> None:
    tree = parse_xml(
        '<a:root xmlns:a="urn:a" xmlns="urn:d" a:k="v" plain="p"><!--c--><child>t<![CDATA[<x>]]>'
        "</child><?pi data?></a:root>"
    )
    assert tree == [
        "e",
        "a:root",
        "urn:a",
        [
            ["xmlns:a", "http://www.w3.org/2000/xmlns/", "urn:a"],
            ["xmlns", "http://www.w3.org/2000/xmlns/", "urn:d"],
            ["a:k", "urn:a", "v"],
            ["plain", None, "p"],
        ],
        [["c", "c"], ["e", "child", "urn:d", [], [["t", "t<x>"]]], ["p", "pi", "data"]],
    ]


def test_xml_external_entities_are_not_resolved() -> None:
    text = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]><r>&e;</r>'
    tree = parse_xml(text)
    assert "root:" not in repr(tree)


def test_bad_xml_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="XML"):
        parse_xml("<a><b></a>")
