"""The ECMAScript data model: SCXML B.2 semantics, the sandbox and its limits."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest

from engine.datamodel import create
from engine.datamodel.base import ScriptError
from engine.datamodel.ecmascript import EcmaScriptDataModel
from engine.events import Event


@pytest.fixture
def active() -> set[str]:
    return {"s1", "p"}


@pytest.fixture
def model(active: set[str]) -> Iterator[EcmaScriptDataModel]:
    dm = EcmaScriptDataModel(time_limit_s=0.3, memory_limit_bytes=16 * 1024 * 1024)
    dm.setup(
        "session-1",
        "machineName",
        {"http://www.w3.org/TR/scxml/": {"location": "#_scxml_session-1"}},
        active.__contains__,
    )
    yield dm
    dm.close()


# ---- declare / assign / evaluate / condition -------------------------------------------


def test_declare_from_expression_and_value(model: EcmaScriptDataModel) -> None:
    model.declare("a", "1 + 2")
    model.declare("b", value={"k": [1, "two", None, True]})
    model.declare("c")
    assert model.evaluate("a") == 3
    assert model.evaluate("b") == {"k": [1, "two", None, True]}
    assert model.condition("typeof c === 'undefined'")
    assert model.condition("b.k instanceof Array")


def test_declare_with_failing_expression_still_creates_the_variable(
    model: EcmaScriptDataModel,
) -> None:
    with pytest.raises(ScriptError):
        model.declare("Var1", "return")
    assert model.condition("typeof Var1 === 'undefined'")
    model.assign("Var1", "1")
    assert model.evaluate("Var1") == 1


def test_declare_rejects_illegal_names(model: EcmaScriptDataModel) -> None:
    for name in ("1abc", "a.b", "continue", "_event", "x y"):
        with pytest.raises(ScriptError):
            model.declare(name, "1")


def test_assign_nested_and_undeclared(model: EcmaScriptDataModel) -> None:
    model.declare("o", "({inner: {n: 1}})")
    model.assign("o.inner.n", "o.inner.n + 41")
    assert model.evaluate("o.inner.n") == 42
    with pytest.raises(ScriptError, match="not defined"):
        model.assign("undeclared", "1")
    with pytest.raises(ScriptError):
        model.assign("foo.bar.baz ", "1")
    with pytest.raises(ScriptError):
        model.assign("o + 1", "2")
    assert not model.condition("typeof undeclared !== 'undefined'")


def test_assign_value_idlocation(model: EcmaScriptDataModel) -> None:
    model.declare("sendid")
    model.assign_value("sendid", "send-7")
    assert model.evaluate("sendid") == "send-7"
    model.assign_value("sendid", {"list": [1, 2]})
    assert model.condition("sendid.list.length === 2")


def test_evaluate_returns_json_compatible_values(model: EcmaScriptDataModel) -> None:
    assert model.evaluate("undefined") is None
    assert model.evaluate("null") is None
    assert model.evaluate("2 ** 40") == 2**40
    assert isinstance(model.evaluate("2 ** 40"), int)
    assert model.evaluate("0.5") == 0.5
    assert model.evaluate("'x' + 1") == "x1"
    assert model.evaluate("({a: [1, {b: undefined, c: null}], d: new Date(0)})") == {
        "a": [1, {"c": None}],
        "d": "1970-01-01T00:00:00.000Z",
    }
    assert model.evaluate("(function () {})") is None
    assert model.evaluate("NaN") is None
    assert model.evaluate("-1 / 0") is None
    assert model.evaluate("[NaN, 1n]") == [None, "1"]
    with pytest.raises(ScriptError, match="ReferenceError"):
        model.evaluate("nothing_here")
    with pytest.raises(ScriptError, match="SyntaxError"):
        model.evaluate("1 +")


def test_condition_truthiness_and_errors(model: EcmaScriptDataModel) -> None:
    assert model.condition("1") is True
    assert model.condition("''") is False
    assert model.condition("[]") is True
    assert model.condition("null") is False
    with pytest.raises(ScriptError):
        model.condition("missing.field")


def test_in_predicate_calls_back(model: EcmaScriptDataModel, active: set[str]) -> None:
    assert model.condition("In('s1')")
    assert not model.condition("In('s2')")
    active.add("s2")
    assert model.condition("In('s2') && In(\"p\")")
    model.declare("target", "'s'+'1'")
    assert model.condition("In(target)")  # an id only known at run time
    assert not model.condition("In(target + 'x')")


def test_execute_defines_globals_and_functions(model: EcmaScriptDataModel) -> None:
    model.execute("var counter = 1; function bump(n) { counter += n; return counter; }")
    assert model.evaluate("bump(2)") == 3
    assert model.evaluate("counter") == 3
    with pytest.raises(ScriptError, match="boom"):
        model.execute("throw new Error('boom')")


# ---- system variables and _event -------------------------------------------------------


@pytest.mark.parametrize("name", ["_sessionid", "_event", "_ioprocessors", "_name"])
def test_system_variables_are_read_only(model: EcmaScriptDataModel, name: str) -> None:
    model.set_event(Event("e"))
    with pytest.raises(ScriptError, match="read-only"):
        model.assign(name, "'otherName'")
    with pytest.raises(ScriptError, match="read-only"):
        model.execute(f"{name} = 'otherName'")


def test_system_variable_values(model: EcmaScriptDataModel) -> None:
    assert model.evaluate("_sessionid") == "session-1"
    assert model.evaluate("_name") == "machineName"
    assert model.evaluate("_ioprocessors['http://www.w3.org/TR/scxml/'].location") == (
        "#_scxml_session-1"
    )
    assert model.condition("typeof _x === 'object'")
    assert model.condition("typeof In === 'function'")
    with pytest.raises(ScriptError):
        model.execute("'use strict'; In = null")
    assert model.values() == {}


def test_event_fields(model: EcmaScriptDataModel) -> None:
    fields = ("name", "type", "sendid", "origin", "origintype", "invokeid", "data")
    model.set_event(Event("foo", type="internal"))
    assert model.condition(" && ".join(f"'{f}' in _event" for f in fields))
    for field in ("sendid", "origin", "origintype", "invokeid", "data"):
        assert model.condition(f"typeof _event.{field} === 'undefined'"), field
    assert model.evaluate("_event.type") == "internal"
    model.set_event(
        Event(
            "bar",
            type="external",
            sendid="s-1",
            origin="#_scxml_x",
            origintype="http://www.w3.org/TR/scxml/#SCXMLEventProcessor",
            invokeid="inv",
            data={"a": 1},
        )
    )
    assert model.evaluate("[_event.name, _event.sendid, _event.origin, _event.invokeid]") == [
        "bar",
        "s-1",
        "#_scxml_x",
        "inv",
    ]
    assert model.evaluate("_event.data.a") == 1
    model.set_event(Event("n", data=123))
    assert model.condition("_event.data == 123")


def test_event_fields_cannot_be_changed(model: EcmaScriptDataModel) -> None:
    model.set_event(Event("foo"))
    with pytest.raises(ScriptError):
        model.assign("_event.name", "'x'")
    assert model.evaluate("_event.name") == "foo"


# ---- foreach --------------------------------------------------------------------------


def test_foreach_binds_item_and_index_on_a_shallow_copy(model: EcmaScriptDataModel) -> None:
    model.declare("arr", "[1, 2, 3]")
    model.declare("total", "0")
    seen = []
    for _ in model.foreach("arr", "item", "i"):
        seen.append(model.evaluate("[item, i]"))
        model.assign("total", "total + item")
        model.execute("arr.push(99)")  # the copy being iterated does not grow
    assert seen == [[1, 0], [2, 1], [3, 2]]
    assert model.evaluate("total") == 6
    assert model.evaluate("arr.length") == 6


def test_foreach_errors(model: EcmaScriptDataModel) -> None:
    model.declare("notarray", "7")
    with pytest.raises(ScriptError, match="not an array"):
        list(model.foreach("notarray", "item", None))
    with pytest.raises(ScriptError, match="legal"):
        list(model.foreach("[1]", "'continue'", None))
    with pytest.raises(ScriptError, match="legal"):
        list(model.foreach("[1]", "ok", "1bad"))


def test_is_location(model: EcmaScriptDataModel) -> None:
    model.declare("here")
    assert model.is_location("here")
    assert not model.is_location("nowhere")
    assert not model.is_location('"foo')


# ---- XML content -------------------------------------------------------------------


BOOKS = '<books xmlns=""><book title="title1"/><book title="title2">text &amp; more</book></books>'


def test_xml_data_is_a_dom(model: EcmaScriptDataModel) -> None:
    model.declare("var1", value={"$xml": BOOKS})
    assert model.condition("var1.getElementsByTagName('book')[0].getAttribute('title') == 'title1'")
    assert model.evaluate("var1.getElementsByTagName('book')[1].textContent") == "text & more"
    assert model.evaluate("var1.documentElement.tagName") == "books"
    value = model.evaluate("var1")
    assert set(value) == {"$xml"}
    assert 'title="title2"' in value["$xml"]


def test_xml_event_data_is_a_dom(model: EcmaScriptDataModel) -> None:
    model.set_event(Event("foo", data={"$xml": BOOKS}))
    assert model.condition(
        "_event.data.getElementsByTagName('book')[1].getAttribute('title') == 'title2'"
    )


def test_xml_keeps_namespaces_for_reserialisation(model: EcmaScriptDataModel) -> None:
    scxml = '<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"><final/></scxml>'
    model.declare("Var1", "1")
    model.assign_value("Var1", {"$xml": scxml})
    assert model.evaluate("Var1") == {"$xml": scxml}


# ---- sandbox and limits ------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        "typeof require",
        "typeof std",
        "typeof os",
        "typeof process",
        "typeof print",
        "typeof console",
        "typeof scriptArgs",
        "typeof fetch",
        "typeof XMLHttpRequest",
    ],
)
def test_no_host_access(model: EcmaScriptDataModel, expr: str) -> None:
    assert model.evaluate(expr) == "undefined"


def test_no_module_loading(model: EcmaScriptDataModel) -> None:
    model.execute("var loaded = 'no'; import('os').then(function () { loaded = 'yes'; })")
    with pytest.raises(ScriptError):
        model.execute("import * as os from 'os'")
    assert model.evaluate("loaded") == "no"


def test_infinite_loop_is_stopped_and_the_model_stays_usable(
    model: EcmaScriptDataModel,
) -> None:
    model.declare("n", "1")
    with pytest.raises(ScriptError, match="CPU time limit"):
        model.execute("while (true) {}")
    with pytest.raises(ScriptError, match="CPU time limit"):
        model.execute("while (true) { try { while (true) {} } catch (e) {} }")
    with pytest.raises(ScriptError, match="CPU time limit"):
        model.condition("(function () { for (;;) {} })()")
    model.assign("n", "n + 1")
    assert model.evaluate("n") == 2


def test_runaway_allocation_is_stopped_and_the_model_stays_usable(
    model: EcmaScriptDataModel,
) -> None:
    model.declare("n", "1")
    with pytest.raises(ScriptError, match="memory limit"):
        model.execute("(function () { var a = []; for (;;) a.push(new Array(1e5).fill(1)); })()")
    with pytest.raises(ScriptError, match="memory limit"):
        model.evaluate("'x'.repeat(1 << 28)")
    model.assign("n", "n + 1")
    assert model.evaluate("n") == 2
    assert model.snapshot()["globals"] == [{"n": "n", "v": 2}]


def test_deep_recursion_is_a_script_error(model: EcmaScriptDataModel) -> None:
    with pytest.raises(ScriptError):
        model.execute("function r(n) { return r(n + 1) + 1; } r(0)")
    assert model.evaluate("1 + 1") == 2


def test_a_runaway_session_does_not_affect_another(model: EcmaScriptDataModel) -> None:
    other = EcmaScriptDataModel(time_limit_s=5.0)
    other.declare("x", "0")
    results: list[int] = []

    def busy_other() -> None:
        for _ in range(200):
            other.assign("x", "x + 1")
        results.append(other.evaluate("x"))

    thread = threading.Thread(target=busy_other)
    thread.start()
    with pytest.raises(ScriptError):
        model.execute("while (true) {}")
    thread.join()
    assert results == [200]
    assert other.evaluate("typeof n") == "undefined"  # separate globals


def test_sessions_do_not_share_globals() -> None:
    first, second = create("ecmascript"), create("ecmascript")
    first.execute("var shared = 1; Object.prototype.polluted = true")
    assert second.evaluate("typeof shared") == "undefined"
    assert second.evaluate("({}).polluted") is None


def test_invalid_limits_are_rejected() -> None:
    with pytest.raises(ValueError):
        EcmaScriptDataModel(time_limit_s=0)


# ---- details the W3C suite and real documents rely on -----------------------------------


def test_expressions_may_end_with_semicolons(model: EcmaScriptDataModel) -> None:
    model.execute("function testobject() { this.bar = 0; }")
    model.declare("foo", "0")
    model.assign("foo", "new testobject();")  # W3C 452
    model.assign("foo.bar", "1 ; ")
    assert model.condition("foo.bar == 1;")


def test_any_variable_name_can_be_assigned(model: EcmaScriptDataModel) -> None:
    for name in ("v", "value", "arguments0", "$", "_"):
        model.declare(name, "1")
        model.assign(name, f"{name} + 1")
        assert model.evaluate(name) == 2, name


def test_in_inside_scripts(model: EcmaScriptDataModel) -> None:
    model.execute("var inside = In('s1') && !In('nowhere')")
    assert model.evaluate("inside") is True
    model.declare("where", "'s1'")
    with pytest.raises(ScriptError, match="literal state id"):
        model.execute("var dynamic = In(where)")


def test_in_without_setup_is_a_script_error() -> None:
    with pytest.raises(ScriptError, match="set up"):
        EcmaScriptDataModel().condition("In('a')")


def test_compiled_cache_eviction_keeps_working() -> None:
    dm = EcmaScriptDataModel(cache_size=4)
    dm.declare("n", "0")
    for i in range(20):
        dm.assign("n", f"n + {i}")
        assert dm.condition(f"n >= {i}")
    assert dm.evaluate("n") == sum(range(20))


def test_values_include_top_level_lexical_bindings(model: EcmaScriptDataModel) -> None:
    model.execute("const LIMIT = 3; let seen = ['a']; class Helper {}; var plain = 1;")
    model.execute("function f() { let local = 1; return local; }")
    assert model.values() == {"LIMIT": 3, "seen": ["a"], "plain": 1}


def test_replacing_a_builtin_global_counts_as_user_data(model: EcmaScriptDataModel) -> None:
    model.execute("var Reflect = 7")
    assert model.values() == {"Reflect": 7}


def test_dom_shim_members(model: EcmaScriptDataModel) -> None:
    xml = (
        '<r:root xmlns:r="urn:r" id="1"><item n="a">x</item><!--note--><item n="b">y</item>'
        "<r:other/></r:root>"
    )
    model.declare("doc", value={"$xml": xml})
    root = "doc.documentElement"
    assert model.evaluate(f"{root}.tagName") == "r:root"
    assert model.evaluate(f"{root}.localName") == "root"
    assert model.evaluate(f"{root}.namespaceURI") == "urn:r"
    assert model.evaluate(f"{root}.childNodes.length") == 4
    assert model.evaluate(f"{root}.children.map(function (e) {{ return e.tagName; }})") == [
        "item",
        "item",
        "r:other",
    ]
    assert model.evaluate("doc.getElementsByTagName('*').length") == 4
    assert model.evaluate("doc.getElementsByTagNameNS('urn:r', 'other').length") == 1
    assert model.evaluate(f"{root}.textContent") == "xy"
    assert model.evaluate(f"{root}.getAttribute('missing')") is None
    assert model.evaluate(f"{root}.firstChild.firstChild.nodeValue") == "x"
    model.execute("doc.documentElement.firstChild.setAttribute('n', 'c&d')")
    assert 'n="c&amp;d"' in model.evaluate("doc")["$xml"]
    assert model.evaluate("String(doc.documentElement.lastChild)") == "<r:other/>"


def test_multiple_roots_are_not_a_dom(model: EcmaScriptDataModel) -> None:
    model.declare("frag", value={"$xml": "<a/><b/>"})
    assert model.evaluate("frag") == {"$xml": "<a/><b/>"}
    assert model.condition("typeof frag.getElementsByTagName === 'undefined'")


def test_replacing_builtins_the_helpers_use_breaks_nothing(model: EcmaScriptDataModel) -> None:
    """Helpers compiled after a document replaced builtins still use the original ones."""
    model.execute(
        "var Object = 1, Array = 2, Map = 3, Reflect = 4, Function = 5; var kept = {a: [1]}"
    )
    model.set_event(Event("e", data={"x": [1, 2]}))
    assert model.evaluate("_event.data.x") == [1, 2]
    model.declare("d", "kept.a.length")
    snap = json.loads(json.dumps(model.snapshot()))
    back = EcmaScriptDataModel()
    back.restore(snap)
    assert back.restore_problems == []
    assert back.evaluate("[Object, Array, Map, Reflect, Function, kept, d]") == [
        1, 2, 3, 4, 5, {"a": [1]}, 1,
    ]  # fmt: skip
