"""The Genesys ORS paths end to end: start from an allowed file URL, events, query, terminate."""

from __future__ import annotations

import pytest
from apistack import Stack


def ors_start(stack: Stack, **fields: str) -> str:
    src = (stack.docs / "machine.scxml").as_uri()
    answer = stack.client.post("/scxml/session/start", data={"src": src, **fields})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"sessionid"}
    sessionid: str = body["sessionid"]
    return sessionid


def test_ors_start_event_query_terminate(stack: Stack) -> None:
    sessionid = ors_start(stack, x="from-form", extra="1")
    stack.run(sessionid)

    query = stack.client.get(f"/scxml/session/{sessionid}/query")
    assert query.status_code == 200
    state = query.json()
    assert state["configuration"] == ["idle"]
    assert state["datamodel"]["x"] == "from-form"  # every other field goes into the data

    sent = stack.client.post(
        f"/scxml/session/{sessionid}/event/go?a=1", data={"b": "two", "c": ["3", "4"]}
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["sessionid"] == sessionid
    stack.run(sessionid)
    state = stack.client.post(f"/scxml/session/{sessionid}/query").json()
    assert state["configuration"] == ["busy"]
    assert state["datamodel"]["got"] == {"a": "1", "b": "two", "c": ["3", "4"]}

    ended = stack.client.post(f"/scxml/session/{sessionid}/terminate")
    assert ended.status_code == 200
    stack.run(sessionid)
    assert stack.client.get(f"/scxml/session/{sessionid}/query").json()["status"] == "finished"


def test_ors_start_accepts_json_bodies(stack: Stack) -> None:
    src = (stack.docs / "machine.scxml").as_uri()
    answer = stack.client.post("/scxml/session/start", json={"src": src, "x": 7})
    assert answer.status_code == 200, answer.text
    sessionid = answer.json()["sessionid"]
    stack.run(sessionid)
    assert stack.query(sessionid)["datamodel"]["x"] == 7


def test_ors_idealtime_schedules_the_start_in_milliseconds(stack: Stack) -> None:
    src = (stack.docs / "machine.scxml").as_uri()
    answer = stack.client.post(
        "/scxml/session/start", data={"src": src, "idealtime": "4102444800500", "k": "v"}
    )
    assert answer.status_code == 200, answer.text
    sessionid = answer.json()["sessionid"]
    item = stack.store.get_schedule(f"start:{sessionid}")
    assert item is not None
    assert item.due_at == 4102444800.5
    assert item.payload["data"] == {"k": "v"}


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({}, "src"),
        ({"src": ""}, "src"),
        ({"src": "file:///x", "idealtime": "soon"}, "idealtime"),
        ({"src": "file:///x", "idealtime": "-5"}, "idealtime"),
    ],
)
def test_ors_start_refuses_bad_parameters(stack: Stack, fields: dict[str, str], where: str) -> None:
    answer = stack.client.post("/scxml/session/start", data=fields)
    assert answer.status_code == 400
    assert answer.json()["error"]["where"] == {"field": where}


def test_ors_src_twice_is_refused(stack: Stack) -> None:
    answer = stack.client.post(
        "/scxml/session/start",
        content=b"src=a&src=b",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 400
    assert "more than once" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    "src", ["file:///etc/passwd", "http://169.254.169.254/latest/meta-data/iam"]
)
def test_ors_disallowed_src_is_refused(stack: Stack, src: str) -> None:
    answer = stack.client.post("/scxml/session/start", data={"src": src})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "document_not_fetched"
    assert "allowed" in error["message"]


def test_ors_unknown_session_is_404(stack: Stack) -> None:
    for answer in (
        stack.client.post("/scxml/session/ghost/event/go"),
        stack.client.get("/scxml/session/ghost/query"),
        stack.client.post("/scxml/session/ghost/terminate"),
    ):
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "session_not_found"


def test_ors_bad_event_name_is_400(stack: Stack) -> None:
    sessionid = ors_start(stack)
    answer = stack.client.post(f"/scxml/session/{sessionid}/event/bad..name")
    assert answer.status_code == 400
    assert answer.json()["error"]["where"] == {"field": "name"}


def test_ors_unsupported_body_type_is_415(stack: Stack) -> None:
    sessionid = ors_start(stack)
    answer = stack.client.post(
        f"/scxml/session/{sessionid}/event/go",
        content=b"<x/>",
        headers={"Content-Type": "application/xml"},
    )
    assert answer.status_code == 415
