"""The document loader: what it accepts, and where it says a rejected document is wrong."""

from __future__ import annotations

import hashlib

import pytest

from engine import load_document
from engine.model import StateKind
from orchestrion.errors import DocumentError, DocumentFetchError

HEAD = '<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"'


def doc(body: str, attributes: str = "") -> str:
    # line 1 is <scxml>, so the body starts on line 2
    return f"{HEAD} {attributes}>\n{body}\n</scxml>"


def test_compiles_states_in_document_order_with_kinds_and_metadata() -> None:
    source = doc(
        """<state id="a" initial="a2">
  <state id="a1"/>
  <state id="a2"><transition event="go.*" target="p"/></state>
</state>
<parallel id="p"><state id="r1"/><state id="r2"/></parallel>
<final id="done"/>""",
        'name="demo" _persist="false" datamodel="null"',
    )
    document = load_document(source)
    assert document.content_hash == hashlib.sha256(source.encode()).hexdigest()
    assert (document.name, document.persist, document.datamodel) == ("demo", False, "null")
    assert [s.id for s in document.states] == ["_scxml", "a", "a1", "a2", "p", "r1", "r2", "done"]
    kinds = [s.kind for s in document.states]
    assert kinds == [
        StateKind.ROOT,
        StateKind.COMPOUND,
        StateKind.ATOMIC,
        StateKind.ATOMIC,
        StateKind.PARALLEL,
        StateKind.ATOMIC,
        StateKind.ATOMIC,
        StateKind.FINAL,
    ]
    a = document.states[document.by_id["a"]]
    assert a.initial is not None and a.initial.targets == (document.by_id["a2"],)
    transition = document.states[document.by_id["a2"]].transitions[0]
    assert transition.events == ("go",)
    assert transition.matches("go.left") and transition.matches("go")
    assert not transition.matches("gone")
    assert load_document(doc('<final id="f"/>')).persist is None


@pytest.mark.parametrize(
    ("body", "attributes", "message", "where"),
    [
        (
            '<state id="a"><transition event="e" target="nowhere"/></state>',
            "",
            "unknown target state 'nowhere'",
            ("transition", "target", 2),
        ),
        ('<state id="a"/>\n<state id="a"/>', "", "duplicate state id 'a'", ("state", "id", 3)),
        (
            '<state id="a"/>\n<state id="b"/>',
            'initial="zz"',
            "unknown target state 'zz'",
            ("scxml", "initial", 1),
        ),
        (
            '<state id="a" initial="b"><state id="a1"/></state>\n<state id="b"/>',
            "",
            "initial state 'b' is not a descendant of 'a'",
            ("state", "initial", 2),
        ),
        (
            '<state id="a"/>',
            'datamodel="xpath"',
            "unknown data model 'xpath'",
            ("scxml", "datamodel", 1),
        ),
        ('<state id="a"/>', 'binding="soon"', "binding must be", ("scxml", "binding", 1)),
        ('<state id="a"/>', '_persist="yes"', "_persist must be", ("scxml", "_persist", 1)),
        (
            '<state id="a"><onentry>\n<send event="e" delay="soon"/></onentry></state>',
            "",
            "bad delay 'soon'",
            ("send", "delay", 3),
        ),
        (
            '<state id="a"><onentry><send event="e" eventexpr="x"/></onentry></state>',
            "",
            "'event' and 'eventexpr' cannot both be given",
            ("send", "eventexpr", 2),
        ),
        (
            '<state id="a"><onentry><bogus/></onentry></state>',
            "",
            "<bogus> is not executable content",
            ("bogus", None, 2),
        ),
        (
            '<state id="a"><wobble/></state>',
            "",
            "<wobble> is not allowed inside <state>",
            ("wobble", None, 2),
        ),
        (
            '<state id="a"><onentry><assign expr="1"/></onentry></state>',
            "",
            "<assign> needs a 'location'",
            ("assign", "location", 2),
        ),
        (
            '<datamodel><data id="x"/>\n<data id="x"/></datamodel><state id="a"/>',
            "",
            "duplicate data id 'x'",
            ("data", "id", 3),
        ),
        (
            '<state id="a"><history id="h"><transition target="b"/></history>'
            '<state id="a1"/></state>\n<state id="b"/>',
            "",
            "history default target 'b' is not a child of 'a'",
            ("transition", "target", 2),
        ),
        (
            '<state id="a"><transition event="e" type="sideways"/></state>',
            "",
            "type must be 'internal' or 'external'",
            ("transition", "type", 2),
        ),
    ],
)
def test_rejects_invalid_documents_naming_element_attribute_and_line(
    body: str, attributes: str, message: str, where: tuple[str, str | None, int]
) -> None:
    element, attribute, line = where
    with pytest.raises(DocumentError) as caught:
        load_document(doc(body, attributes))
    error = caught.value
    assert message in error.reason
    assert (error.location.element, error.location.attribute, error.location.line) == (
        element,
        attribute,
        line,
    )
    assert f"line {line}" in str(error)


def test_rejects_malformed_xml_with_its_line() -> None:
    with pytest.raises(DocumentError) as caught:
        load_document(doc('<state id="a">\n<oops></state>'))
    assert "not well-formed" in caught.value.reason
    assert caught.value.location.line == 3


def test_rejects_a_root_that_is_not_scxml() -> None:
    with pytest.raises(DocumentError, match="root element must be <scxml>"):
        load_document("<html/>")


def test_refuses_dtds_and_entities_instead_of_expanding_them() -> None:
    laughs = (
        '<?xml version="1.0"?>\n<!DOCTYPE scxml [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>\n'
        f'{HEAD}><state id="a"><onentry><log expr="\'&lol2;\'"/></onentry></state></scxml>'
    )
    with pytest.raises(DocumentError, match="DOCTYPE is not allowed"):
        load_document(laughs)
    external = (
        '<?xml version="1.0"?>\n<!DOCTYPE scxml SYSTEM "file:///etc/passwd">\n'
        f'{HEAD}><state id="a"/></scxml>'
    )
    with pytest.raises(DocumentError, match="DOCTYPE"):
        load_document(external)


def test_size_and_depth_limits() -> None:
    with pytest.raises(DocumentError, match="larger than 100 bytes"):
        load_document(doc('<state id="a"/>' * 20), max_bytes=100)
    nested = '<state id="s0">' + "".join(f'<state id="s{i}">' for i in range(1, 40))
    nested += "</state>" * 40
    with pytest.raises(DocumentError, match="nested deeper than 20"):
        load_document(doc(nested), max_depth=20)
    assert load_document(doc(nested)).states[-1].id == "s39"


def test_script_src_is_fetched_at_load_and_a_missing_one_rejects_the_document() -> None:
    fetched: list[str] = []

    def loader(url: str) -> str:
        fetched.append(url)
        if url.endswith("missing.js"):
            raise DocumentFetchError(f"{url} not found")
        return "var loaded = 1;"

    document = load_document(
        doc('<script src="lib.js"/><state id="a"/>'), "file:///srv/docs/main.scxml", loader
    )
    assert fetched == ["file:///srv/docs/lib.js"]
    assert document.scripts[0].source == "var loaded = 1;"
    with pytest.raises(DocumentError) as caught:
        load_document(
            doc('<script src="missing.js"/><state id="a"/>'), "file:///srv/d.scxml", loader
        )
    assert caught.value.location.attribute == "src"


def test_data_content_is_read_as_json_xml_or_normalised_text() -> None:
    document = load_document(
        doc(
            '<datamodel><data id="j">{"a": [1, 2]}</data><data id="t"> two\n  words </data>'
            '<data id="x"><book title="t"/></data></datamodel><state id="a"/>'
        )
    )
    values = {d.id: d.value for d in document.root.data}
    assert values["j"] == {"a": [1, 2]}
    assert values["t"] == "two words"
    assert values["x"]["$xml"].startswith("<book")
