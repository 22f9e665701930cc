"""The receiving half of the Basic HTTP Event I/O Processor: POSTs become external events."""

from __future__ import annotations

import pytest
from apistack import TOKEN, Stack

LISTENER = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
       datamodel="ecmascript" initial="wait">
  <datamodel><data id="got" expr="null"/><data id="name" expr="null"/>
    <data id="origintype" expr="null"/><data id="raw" expr="null"/></datamodel>
  <state id="wait">
    <transition event="*" target="heard">
      <assign location="got" expr="_event.data"/>
      <assign location="name" expr="_event.name"/>
      <assign location="origintype" expr="_event.origintype"/>
      <assign location="raw" expr="_event.raw"/>
    </transition>
  </state>
  <state id="heard"/>
</scxml>
"""


def listen(stack: Stack) -> str:
    answer = stack.client.post("/v1/sessions", json={"source": LISTENER})
    sessionid: str = answer.json()["sessionid"]
    stack.run(sessionid)
    return sessionid


def heard(stack: Stack, sessionid: str) -> dict[str, object]:
    stack.run(sessionid)
    state = stack.query(sessionid)
    assert state["configuration"] == ["heard"]
    datamodel: dict[str, object] = state["datamodel"]
    return datamodel


def test_scxmleventname_names_the_event_and_other_fields_are_data(stack: Stack) -> None:
    sessionid = listen(stack)
    answer = stack.client.post(
        f"/scxml/session/{sessionid}/basichttp",
        data={"_scxmleventname": "order.paid", "amount": "12", "currency": "EUR"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["name"] == "order.paid"
    datamodel = heard(stack, sessionid)
    assert datamodel["name"] == "order.paid"
    assert datamodel["got"] == {"amount": "12", "currency": "EUR"}
    assert datamodel["origintype"] == "http://www.w3.org/TR/scxml/#BasicHTTPEventProcessor"


def test_without_scxmleventname_the_event_is_named_after_the_method(stack: Stack) -> None:
    sessionid = listen(stack)
    answer = stack.client.post(f"/scxml/session/{sessionid}/basichttp", data={"a": "1"})
    assert answer.status_code == 200
    datamodel = heard(stack, sessionid)
    assert datamodel["name"] == "HTTP.POST"
    assert datamodel["got"] == {"a": "1"}


def test_a_json_body_is_the_data(stack: Stack) -> None:
    sessionid = listen(stack)
    answer = stack.client.post(
        f"/scxml/session/{sessionid}/basichttp?_scxmleventname=ping",
        json={"nested": {"list": [1, 2]}},
    )
    assert answer.status_code == 200
    datamodel = heard(stack, sessionid)
    assert datamodel["name"] == "ping"
    assert datamodel["got"] == {"nested": {"list": [1, 2]}}


def test_a_text_body_is_the_data(stack: Stack) -> None:
    sessionid = listen(stack)
    answer = stack.client.post(
        f"/scxml/session/{sessionid}/basichttp",
        content=b"some content",
        headers={"Content-Type": "text/plain"},
    )
    assert answer.status_code == 200
    datamodel = heard(stack, sessionid)
    assert datamodel["name"] == "HTTP.POST"
    assert datamodel["got"] == "some content"


def test_a_url_encoded_body_without_fields_is_content_text(stack: Stack) -> None:
    sessionid = listen(stack)  # how workers/http_send.py sends <content> (W3C test 520)
    answer = stack.client.post(
        f"/scxml/session/{sessionid}/basichttp",
        content=b"this%20is%20some%20content",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200
    assert heard(stack, sessionid)["got"] == "this is some content"


def test_raw_is_the_message_as_received_without_the_token(stack: Stack) -> None:
    sessionid = listen(stack)
    answer = stack.client.post(
        f"/scxml/session/{sessionid}/basichttp?_scxmleventname=ping",
        data={"a": "1 2"},
        headers={"X-Trace": "t1"},  # the client sends the bearer token too
    )
    assert answer.status_code == 200
    raw = str(heard(stack, sessionid)["raw"])
    head, body = raw.split("\r\n\r\n", 1)
    lines = head.split("\r\n")
    assert lines[0] == f"POST /scxml/session/{sessionid}/basichttp?_scxmleventname=ping HTTP/1.1"
    assert "x-trace: t1" in lines[1:]
    assert TOKEN not in raw
    assert body == "a=1+2"


@pytest.mark.parametrize("name", ["bad name", "a..b", "*"])
def test_a_bad_scxmleventname_is_refused(stack: Stack, name: str) -> None:
    sessionid = listen(stack)
    answer = stack.client.post(
        f"/scxml/session/{sessionid}/basichttp", data={"_scxmleventname": name}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["where"] == {"field": "_scxmleventname"}


def test_a_repeated_post_with_the_same_idempotency_key_is_one_event(stack: Stack) -> None:
    sessionid = listen(stack)
    for _ in range(2):  # a sender that lost the first answer and sent again
        answer = stack.client.post(
            f"/scxml/session/{sessionid}/basichttp",
            data={"_scxmleventname": "ping"},
            headers={"Idempotency-Key": "s1:7:0"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["eventid"] == "s1:7:0"
    other = stack.client.post(f"/scxml/session/{sessionid}/basichttp", data={"a": "1"})
    record = stack.store.read_session(sessionid)
    assert record is not None
    pending = stack.store.read_mailbox(sessionid, record.applied_seq)
    assert [entry.event_id for entry in pending] == ["client:s1:7:0", other.json()["eventid"]]


def test_an_empty_or_overlong_idempotency_key_is_refused(stack: Stack) -> None:
    sessionid = listen(stack)
    for key in ("", "k" * 201):
        answer = stack.client.post(
            f"/scxml/session/{sessionid}/basichttp",
            data={"a": "1"},
            headers={"Idempotency-Key": key},
        )
        assert answer.status_code == 400
        assert answer.json()["error"]["where"] == {"field": "idempotency-key"}


def test_an_unknown_session_is_404(stack: Stack) -> None:
    answer = stack.client.post("/scxml/session/ghost/basichttp", data={"a": "1"})
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "session_not_found"


def test_only_post_is_accepted(stack: Stack) -> None:
    sessionid = listen(stack)
    assert stack.client.get(f"/scxml/session/{sessionid}/basichttp").status_code == 405
