"""``/v1/sessions``: start, query, events, terminate, and clear 4xx errors for bad input."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from apistack import MACHINE, Stack


def start(stack: Stack, **body: object) -> str:
    answer = stack.client.post("/v1/sessions", json={"source": MACHINE, **body})
    assert answer.status_code == 201, answer.text
    sessionid: str = answer.json()["sessionid"]
    assert answer.headers["location"] == f"/v1/sessions/{sessionid}"
    return sessionid


def test_a_session_started_from_source_runs_events_and_terminates(stack: Stack) -> None:
    sessionid = start(stack, data={"x": 42}, sessionid="order-1")
    assert sessionid == "order-1"
    stack.run(sessionid)
    state = stack.query(sessionid)
    assert state["configuration"] == ["idle"]
    assert state["datamodel"]["x"] == 42

    sent = stack.client.post(
        f"/v1/sessions/{sessionid}/events", json={"name": "go", "data": {"n": [1, 2]}}
    )
    assert sent.status_code == 202
    assert sent.json()["eventid"]
    stack.run(sessionid)
    state = stack.query(sessionid)
    assert state["configuration"] == ["busy"]
    assert state["datamodel"]["got"] == {"n": [1, 2]}

    assert stack.client.delete(f"/v1/sessions/{sessionid}").status_code == 202
    stack.run(sessionid)
    assert stack.query(sessionid)["status"] == "finished"


def test_a_session_started_from_an_allowed_file_url(stack: Stack) -> None:
    src = (stack.docs / "machine.scxml").as_uri()
    answer = stack.client.post("/v1/sessions", json={"src": src})
    assert answer.status_code == 201, answer.text
    sessionid = answer.json()["sessionid"]
    stack.run(sessionid)
    assert stack.query(sessionid)["configuration"] == ["idle"]


@pytest.mark.parametrize(
    "src",
    [
        "file:///etc/passwd",
        "/etc/hostname",
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:18599/not-allowed/doc.scxml",
        "gopher://example/doc",
    ],
)
def test_src_outside_the_allowed_locations_is_refused(stack: Stack, src: str) -> None:
    answer = stack.client.post("/v1/sessions", json={"src": src})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "document_not_fetched"
    assert "allowed" in error["message"] or "unsupported" in error["message"]


def test_a_relative_escape_from_an_allowed_folder_is_refused(stack: Stack) -> None:
    src = f"{stack.docs.as_uri()}/../../../etc/passwd"
    answer = stack.client.post("/v1/sessions", json={"src": src})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "document_not_fetched"


def test_a_start_at_a_future_time_is_scheduled(stack: Stack) -> None:
    answer = stack.client.post(
        "/v1/sessions",
        json={"source": MACHINE, "at": "2099-01-02T03:04:05+01:00", "sessionid": "later"},
    )
    assert answer.status_code == 201, answer.text
    expected = datetime(2099, 1, 2, 2, 4, 5, tzinfo=UTC).timestamp()  # 03:04:05+01:00
    assert answer.json()["at"] == expected
    item = stack.store.get_schedule("start:later")
    assert item is not None
    assert item.due_at == expected


def test_a_start_at_epoch_seconds_in_the_past_starts_now(stack: Stack) -> None:
    sessionid = start(stack, at=time.time() - 10)
    stack.run(sessionid)
    assert stack.query(sessionid)["configuration"] == ["idle"]


@pytest.mark.parametrize(
    ("body", "code", "where"),
    [
        ({"source": MACHINE, "colour": "red"}, "unknown_field", "colour"),
        ({"source": 12}, "wrong_type", "source"),
        ({"source": MACHINE, "data": [1]}, "wrong_type", "data"),
        ({"source": MACHINE, "at": True}, "wrong_type", "at"),
        ({"source": MACHINE, "at": "tomorrow"}, "invalid_value", "at"),
        ({"source": MACHINE, "at": "2030-01-01T00:00:00"}, "invalid_value", "at"),
        ({"source": MACHINE, "sessionid": "has space"}, "invalid_value", "sessionid"),
        ({"source": MACHINE, "sessionid": ""}, "invalid_value", "sessionid"),
        ({"source": MACHINE, "src": "file:///x"}, "invalid_request", "source"),
        ({}, "missing_field", "source"),
        ({"source": ""}, "invalid_value", "source"),
    ],
)
def test_bad_start_bodies_say_what_and_where(
    stack: Stack, body: dict[str, object], code: str, where: str
) -> None:
    answer = stack.client.post("/v1/sessions", json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == code
    assert error["where"] == {"field": where}
    assert error["message"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b'{"source": "x",}', "line 1 column 16"),
        (b"[1, 2]", "must be a JSON object"),
        (b"", "empty"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
def test_malformed_json_is_a_400(stack: Stack, content: bytes, fragment: str) -> None:
    answer = stack.client.post(
        "/v1/sessions", content=content, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    assert fragment in answer.json()["error"]["message"]


def test_a_body_that_is_not_json_is_a_415(stack: Stack) -> None:
    answer = stack.client.post(
        "/v1/sessions", content=b"source=x", headers={"Content-Type": "text/plain"}
    )
    assert answer.status_code == 415
    assert answer.json()["error"]["where"] == {"field": "Content-Type"}


def test_an_invalid_document_is_a_422_with_element_attribute_and_line(stack: Stack) -> None:
    bad = MACHINE.replace('target="end"', 'target="nowhere"')
    line = next(n for n, text in enumerate(bad.splitlines(), 1) if "nowhere" in text)
    answer = stack.client.post("/v1/sessions", json={"source": bad})
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_document"
    assert "nowhere" in error["message"]
    assert error["where"]["element"] == "transition"
    assert error["where"]["attribute"] == "target"
    assert error["where"]["line"] == line


def test_unknown_sessions_are_404(stack: Stack) -> None:
    for answer in (
        stack.client.get("/v1/sessions/nobody"),
        stack.client.post("/v1/sessions/nobody/events", json={"name": "go"}),
        stack.client.delete("/v1/sessions/nobody"),
        stack.client.post("/v1/sessions/nobody/terminate"),
    ):
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"]["code"] == "session_not_found"


@pytest.mark.parametrize("name", ["", "a..b", ".a", "a.", "with space", "*", "a/b", "é"])
def test_bad_event_names_are_refused(stack: Stack, name: str) -> None:
    sessionid = start(stack)
    answer = stack.client.post(f"/v1/sessions/{sessionid}/events", json={"name": name})
    assert answer.status_code == 400
    assert answer.json()["error"]["where"] == {"field": "name"}


def test_an_event_id_makes_a_send_idempotent(stack: Stack) -> None:
    sessionid = start(stack)
    stack.run(sessionid)
    for _ in range(2):
        answer = stack.client.post(
            f"/v1/sessions/{sessionid}/events", json={"name": "go", "id": "once"}
        )
        assert answer.status_code == 202
        assert answer.json()["eventid"] == "once"
    record = stack.store.read_session(sessionid)
    assert record is not None
    pending = stack.store.read_mailbox(sessionid, record.applied_seq)
    assert [entry.event_id for entry in pending] == ["client:once"]


def test_an_idempotency_key_header_makes_a_send_idempotent_on_every_event_path(
    stack: Stack,
) -> None:
    sessionid = start(stack)
    stack.run(sessionid)
    sends = [
        lambda: stack.client.post(
            f"/v1/sessions/{sessionid}/events",
            json={"name": "go"},
            headers={"Idempotency-Key": "k1"},
        ),
        lambda: stack.client.post(
            f"/scxml/session/{sessionid}/event/go", headers={"Idempotency-Key": "k2"}
        ),
    ]
    for send in sends:
        for _ in range(2):
            answer = send()
            assert answer.status_code in (200, 202), answer.text
    record = stack.store.read_session(sessionid)
    assert record is not None
    pending = stack.store.read_mailbox(sessionid, record.applied_seq)
    assert [entry.event_id for entry in pending] == ["client:k1", "client:k2"]


def test_a_body_id_and_a_different_idempotency_key_are_refused(stack: Stack) -> None:
    sessionid = start(stack)
    answer = stack.client.post(
        f"/v1/sessions/{sessionid}/events",
        json={"name": "go", "id": "a"},
        headers={"Idempotency-Key": "b"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["where"] == {"field": "id"}
    same = stack.client.post(
        f"/v1/sessions/{sessionid}/events",
        json={"name": "go", "id": "a"},
        headers={"Idempotency-Key": "a"},
    )
    assert same.status_code == 202 and same.json()["eventid"] == "a"


def test_a_client_event_id_cannot_stand_for_a_servers_own(stack: Stack) -> None:
    sessionid = start(stack)
    stack.run(sessionid)
    # The id the server gives a terminate request: taken by a client, it must not make the
    # terminate a duplicate.
    answer = stack.client.post(
        f"/v1/sessions/{sessionid}/events", json={"name": "go", "id": "terminate:terminated"}
    )
    assert answer.status_code == 202
    assert stack.client.post(f"/v1/sessions/{sessionid}/terminate", json={}).status_code == 202
    stack.run(sessionid)
    assert stack.query(sessionid)["status"] == "finished"


def test_terminate_at_a_later_time_is_scheduled(stack: Stack) -> None:
    sessionid = start(stack)
    stack.run(sessionid)
    answer = stack.client.post(f"/v1/sessions/{sessionid}/terminate", json={"at": 4102444800})
    assert answer.status_code == 202
    item = stack.store.get_schedule(f"terminate:{sessionid}")
    assert item is not None
    assert item.due_at == 4102444800.0
    assert stack.query(sessionid)["status"] == "running"


def test_terminate_refuses_unknown_fields(stack: Stack) -> None:
    sessionid = start(stack)
    answer = stack.client.post(f"/v1/sessions/{sessionid}/terminate", json={"when": 1})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "unknown_field"
