"""The null data model (SCXML B.1) and the data model factory."""

from __future__ import annotations

import pytest

from engine.datamodel import create
from engine.datamodel.base import ScriptError
from engine.datamodel.ecmascript import EcmaScriptDataModel
from engine.datamodel.null import NullDataModel
from engine.events import Event
from orchestrion.errors import DocumentError


@pytest.fixture
def model() -> NullDataModel:
    dm = NullDataModel()
    dm.setup("sid", None, {}, {"ps1", "p"}.__contains__)
    return dm


def test_in_conditions(model: NullDataModel) -> None:
    assert model.condition("In('ps1')")
    assert model.condition(' In( "p" ) ')
    assert not model.condition("In('s1')")


@pytest.mark.parametrize("expr", ["true", "In('a') && In('b')", "x == 1", "In(s1)", ""])
def test_other_conditions_are_errors(model: NullDataModel, expr: str) -> None:
    with pytest.raises(ScriptError, match="null data model"):
        model.condition(expr)


def test_no_data_scripts_or_expressions(model: NullDataModel) -> None:
    with pytest.raises(ScriptError):
        model.declare("x", "1")
    with pytest.raises(ScriptError):
        model.assign("x", "1")
    with pytest.raises(ScriptError):
        model.assign_value("x", 1)
    with pytest.raises(ScriptError):
        model.evaluate("'pass'")
    with pytest.raises(ScriptError):
        model.execute("x = 1")
    with pytest.raises(ScriptError):
        list(model.foreach("a", "b", None))
    assert not model.is_location("x")
    model.set_event(Event("e"))
    assert model.values() == {}


def test_snapshot_round_trip(model: NullDataModel) -> None:
    fresh = NullDataModel()
    fresh.restore(model.snapshot())
    with pytest.raises(ScriptError):
        fresh.restore({"format": "something else"})


def test_factory() -> None:
    assert isinstance(create("null"), NullDataModel)
    ecma = create("ecmascript", time_limit_s=0.5, memory_limit_bytes=8 * 1024 * 1024)
    assert isinstance(ecma, EcmaScriptDataModel)
    assert ecma.time_limit_s == 0.5
    with pytest.raises(DocumentError, match="xpath") as info:
        create("xpath")
    assert info.value.location.attribute == "datamodel"
