"""LocalRuntime: a parent and its invoked children in one process, plainly and restored."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import Event
from engine.interpreter import Interpreter
from orchestrion.runner import LocalRuntime

HEAD = '<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript"'

PARENT = f"""{HEAD} initial="working">
  <datamodel><data id="replies" expr="0"/></datamodel>
  <state id="working">
    <invoke id="worker" src="child.scxml"><param name="start" expr="40"/></invoke>
    <transition event="ready">
      <send target="#_worker" event="add"><param name="by" expr="2"/></send>
    </transition>
    <transition event="done.invoke.worker" cond="_event.data.total == 42" target="ok">
      <log label="total" expr="_event.data.total"/>
    </transition>
    <transition event="done.invoke.worker" target="wrong"/>
  </state>
  <final id="ok"/>
  <final id="wrong"/>
</scxml>"""

CHILD = f"""{HEAD} initial="idle">
  <datamodel><data id="start" expr="0"/></datamodel>
  <state id="idle">
    <onentry><send target="#_parent" event="ready"/></onentry>
    <transition event="add" target="finished">
      <assign location="start" expr="start + _event.data.by"/>
    </transition>
  </state>
  <final id="finished"><donedata><param name="total" expr="start"/></donedata></final>
</scxml>"""


@pytest.mark.parametrize("restore", [False, True])
def test_parent_and_child_exchange_events_and_donedata(tmp_path: Path, restore: bool) -> None:
    (tmp_path / "parent.scxml").write_text(PARENT, encoding="utf-8")
    (tmp_path / "child.scxml").write_text(CHILD, encoding="utf-8")
    runtime = LocalRuntime(restore_each_step=restore)
    result = runtime.run_path(tmp_path / "parent.scxml", timeout_s=10)
    assert (result.status, result.final, result.error) == ("final", "ok", None)
    assert ("total", 42) in result.logs
    assert runtime.sessions == {}


def test_idle_once_the_child_has_ended_even_while_its_state_is_active(tmp_path: Path) -> None:
    (tmp_path / "child.scxml").write_text(CHILD, encoding="utf-8")
    parent = PARENT.replace('target="ok"', "").replace('target="wrong"', "")
    (tmp_path / "parent.scxml").write_text(parent, encoding="utf-8")
    result = LocalRuntime().run_path(tmp_path / "parent.scxml", timeout_s=10)
    assert (result.status, result.configuration) == ("idle", ["working"])


def test_send_to_an_unknown_session_raises_error_communication(tmp_path: Path) -> None:
    path = tmp_path / "doc.scxml"
    path.write_text(
        f"""{HEAD}>
  <state id="a">
    <onentry><send event="x" target="#_scxml_nobody"/><raise event="later"/></onentry>
    <transition event="error.communication" target="ok"/>
    <transition event="*" target="wrong"/>
  </state>
  <final id="ok"/><final id="wrong"/>
</scxml>""",
        encoding="utf-8",
    )
    assert LocalRuntime().run_path(path, timeout_s=10).final == "ok"


def test_external_events_are_delivered_in_order(tmp_path: Path) -> None:
    path = tmp_path / "doc.scxml"
    path.write_text(
        f"""{HEAD}>
  <datamodel><data id="seen" expr="''"/></datamodel>
  <state id="a">
    <transition event="letter"><assign location="seen" expr="seen + _event.data"/></transition>
    <transition event="end" cond="seen == 'abc'" target="ok"/>
  </state>
  <final id="ok"/>
</scxml>""",
        encoding="utf-8",
    )
    events = [Event("letter", data=c) for c in "abc"] + [Event("end")]
    assert LocalRuntime(restore_each_step=True).run_path(path, events, timeout_s=10).final == "ok"


def test_a_runaway_macrostep_ends_the_run_with_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Interpreter, "max_microsteps", 500)
    path = tmp_path / "doc.scxml"
    path.write_text(
        f"""{HEAD}>
  <state id="a"><transition target="b"/></state>
  <state id="b"><transition target="a"/></state>
</scxml>""",
        encoding="utf-8",
    )
    result = LocalRuntime().run_path(path, timeout_s=10)
    assert result.status == "error"
    assert result.error is not None and "more than 500 microsteps" in result.error
