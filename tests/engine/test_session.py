"""Session stepping, effects, and snapshot/restore in the middle of a session."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable

import pytest

from engine import Event, MacrostepLimitError, Session, SnapshotError, load_document
from engine.effects import CancelChild, Log, SendToSession, StartChild
from engine.interpreter import Interpreter

HEAD = '<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript"'

TIMER = f"""{HEAD} initial="waiting">
  <datamodel><data id="count" expr="0"/></datamodel>
  <script>function bump(n) {{ return n + 10; }}</script>
  <state id="waiting">
    <onentry><send id="alarm" event="ring" delay="30s"/></onentry>
    <transition event="poke"><assign location="count" expr="bump(count)"/></transition>
    <transition event="ring" target="rang"/>
  </state>
  <state id="rang">
    <onentry><log label="count" expr="bump(count)"/></onentry>
    <transition event="stop" target="done"/>
  </state>
  <final id="done"/>
</scxml>"""


def ids() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"id{next(counter)}"


def roundtrip(session: Session) -> Session:
    """Snapshot to JSON text, close everything, restore in a fresh interpreter."""
    text = json.dumps(session.snapshot())
    session.close()
    return Session.restore(session.doc, json.loads(text))


def test_restore_keeps_pending_delayed_send_script_function_and_data() -> None:
    doc = load_document(TIMER)
    session = Session.create(doc, "s1")
    started = session.start(1000.0)
    assert started.status == "running"
    assert started.next_wakeup == 1030.0
    session.enqueue(Event("poke"))
    session.run(1001.0)

    session = roundtrip(session)
    assert session.configuration == ["waiting"]
    assert session.query()["datamodel"]["count"] == 10
    assert session.next_wakeup == 1030.0

    early = session.run(1029.0)
    assert early.effects == [] and session.configuration == ["waiting"]
    session.enqueue(Event("poke"))
    session = roundtrip(session)  # with an event still queued
    due = session.run(1030.0)
    assert session.configuration == ["rang"]
    assert due.effects == [Log("count", 30)]  # the function from <script> ran after restore
    assert due.next_wakeup is None

    session.enqueue(Event("stop"))
    session = roundtrip(session)
    ended = session.run(1031.0)
    assert (ended.status, ended.final_state) == ("final", "done")


def test_cancel_removes_a_pending_delayed_send() -> None:
    doc = load_document(
        f"""{HEAD}>
  <state id="a">
    <onentry><send id="t" event="late" delay="5s"/><cancel sendid="t"/></onentry>
    <transition event="late" target="b"/>
  </state>
  <state id="b"/>
</scxml>"""
    )
    session = Session.create(doc, "s")
    assert session.start(0.0).next_wakeup is None
    session.run(10.0)
    assert session.configuration == ["a"]


def test_restore_refuses_a_different_document() -> None:
    session = Session.create(load_document(TIMER), "s")
    session.start(0.0)
    other = load_document(TIMER.replace("30s", "31s"))
    with pytest.raises(SnapshotError, match="different document"):
        Session.restore(other, session.snapshot())


def test_invoke_starts_and_cancels_a_child_and_routes_events() -> None:
    doc = load_document(
        f"""{HEAD}>
  <state id="parent">
    <invoke id="kid" type="scxml"><param name="x" expr="41 + 1"/>
      <content>
        <scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"><state id="c"/></scxml>
      </content>
    </invoke>
    <transition event="tell"><send target="#_kid" event="hello"/></transition>
    <transition event="leave" target="elsewhere"/>
  </state>
  <state id="elsewhere"/>
</scxml>"""
    )
    session = Session.create(doc, "p", id_factory=ids())
    effects = session.start(0.0).effects
    assert len(effects) == 1
    start = effects[0]
    assert isinstance(start, StartChild)
    assert (start.invokeid, start.parent_sessionid, start.data) == ("kid", "p", {"x": 42})
    assert '<state id="c"/>' in start.source
    session = roundtrip(session)
    session.enqueue(Event("tell"))
    sent = session.run(1.0).effects
    assert len(sent) == 1 and isinstance(sent[0], SendToSession)
    assert sent[0].sessionid == start.sessionid and sent[0].event.name == "hello"
    session.enqueue(Event("leave"))
    assert session.run(2.0).effects == [CancelChild(start.sessionid, "kid")]
    # a late event from the cancelled child is ignored
    session.enqueue(Event("tell", origin=f"#_scxml_{start.sessionid}", invokeid="kid"))
    assert not session.has_queued_events


def test_child_reports_done_invoke_with_donedata_to_its_parent() -> None:
    doc = load_document(
        f"""{HEAD}>
  <final id="end"><donedata><param name="answer" expr="6 * 7"/></donedata></final>
</scxml>"""
    )
    child = Session.create(doc, "c", parent="p", invokeid="inv")
    result = child.start(0.0)
    assert (result.status, result.final_state) == ("final", "end")
    [done] = result.effects
    assert isinstance(done, SendToSession) and done.sessionid == "p"
    assert done.event.name == "done.invoke.inv"
    assert done.event.invokeid == "inv" and done.event.data == {"answer": 42}


def test_unknown_target_and_missing_parent_raise_errors_into_the_session() -> None:
    doc = load_document(
        f"""{HEAD}>
  <datamodel><data id="seen" expr="[]"/></datamodel>
  <state id="a">
    <onentry>
      <send event="x" target="#_parent"/>
      <send event="y" target="#_scxml_nobody"/>
      <send event="z" type="carrier-pigeon"/>
    </onentry>
    <transition event="error"><script>seen.push(_event.name)</script></transition>
  </state>
</scxml>"""
    )
    session = Session.create(doc, "s", session_exists=lambda sid: False)
    session.start(0.0)
    # each failing send ends its own <onentry> block, so only the first runs
    assert session.query()["datamodel"]["seen"] == ["error.communication"]


def test_terminate_runs_onexit_and_ends_the_session() -> None:
    doc = load_document(
        f"""{HEAD}>
  <state id="a"><onexit><log label="bye"/></onexit></state>
</scxml>"""
    )
    session = Session.create(doc, "s")
    session.start(0.0)
    result = session.terminate(1.0)
    assert result.status == "final" and result.final_state is None
    assert result.effects == [Log("bye", None)]


def test_a_child_stopped_by_anyone_but_its_parent_tells_its_parent_why() -> None:
    doc = load_document(f"""{HEAD}><state id="a"/></scxml>""")
    told = Session.create(doc, "kid", parent="mum", invokeid="inv")
    told.start(0.0)
    result = told.terminate(1.0, "max-lifetime")
    assert result.effects == [
        SendToSession(
            "mum",
            Event(
                "error.platform.invoke.inv",
                type="external",
                origin="#_scxml_kid",
                origintype="http://www.w3.org/TR/scxml/#SCXMLEventProcessor",
                invokeid="inv",
                data={"sessionid": "kid", "reason": "max-lifetime"},
            ),
        )
    ]
    cancelled = Session.create(doc, "kid", parent="mum", invokeid="inv")
    cancelled.start(0.0)
    assert cancelled.terminate(1.0).effects == []  # its parent asked: nothing to tell
    orphan = Session.create(doc, "top")
    orphan.start(0.0)
    assert orphan.terminate(1.0, "terminated").effects == []


def test_an_endless_macrostep_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Interpreter, "max_microsteps", 1000)
    doc = load_document(
        f"""{HEAD}>
  <datamodel><data id="i" expr="0"/></datamodel>
  <state id="a"><transition target="b"><assign location="i" expr="i + 1"/></transition></state>
  <state id="b"><transition target="a"/></state>
</scxml>"""
    )
    session = Session.create(doc, "s")
    with pytest.raises(MacrostepLimitError, match="more than 1000 microsteps"):
        session.start(0.0)


def test_history_values_survive_restore() -> None:
    doc = load_document(
        f"""{HEAD} initial="work">
  <state id="work" initial="step1">
    <history id="h" type="deep"><transition target="step1"/></history>
    <state id="step1"><transition event="next" target="step2"/></state>
    <state id="step2" initial="inner1">
      <state id="inner1"><transition event="next" target="inner2"/></state>
      <state id="inner2"/>
    </state>
    <transition event="pause" target="paused"/>
  </state>
  <state id="paused"><transition event="resume" target="h"/></state>
</scxml>"""
    )
    session = Session.create(doc, "s")
    session.start(0.0)
    for name in ("next", "next", "pause"):
        session.enqueue(Event(name))
    session.run(1.0)
    assert session.configuration == ["paused"]
    session = roundtrip(session)
    session.enqueue(Event("resume"))
    session.run(2.0)
    assert session.configuration == ["work", "step2", "inner2"]
