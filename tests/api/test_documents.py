"""``/v1/documents``: validate and store, read back by content hash, reject with where."""

from __future__ import annotations

import hashlib

from apistack import MACHINE, Stack


def test_a_valid_document_is_stored_under_its_hash(stack: Stack) -> None:
    answer = stack.client.post("/v1/documents", json={"source": MACHINE})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    digest = hashlib.sha256(MACHINE.encode()).hexdigest()
    assert body == {"hash": digest, "name": "machine"}
    assert answer.headers["location"] == f"/v1/documents/{digest}"
    fetched = stack.client.get(f"/v1/documents/{digest}")
    assert fetched.status_code == 200
    assert fetched.json() == {"hash": digest, "source": MACHINE}


def test_the_document_may_be_the_xml_body_itself(stack: Stack) -> None:
    answer = stack.client.post(
        "/v1/documents", content=MACHINE.encode(), headers={"Content-Type": "application/xml"}
    )
    assert answer.status_code == 201
    assert answer.json()["hash"] == hashlib.sha256(MACHINE.encode()).hexdigest()


def test_a_document_from_an_allowed_src(stack: Stack) -> None:
    answer = stack.client.post(
        "/v1/documents", json={"src": (stack.docs / "machine.scxml").as_uri()}
    )
    assert answer.status_code == 201
    assert stack.store.get_document(answer.json()["hash"]) == MACHINE


def test_a_rejected_document_answers_its_hash_and_where(stack: Stack) -> None:
    bad = MACHINE.replace('<data id="x" expr="1"/>', '<data expr="1"/>')
    answer = stack.client.post("/v1/documents", json={"source": bad})
    assert answer.status_code == 422
    body = answer.json()
    assert body["hash"] == hashlib.sha256(bad.encode()).hexdigest()
    assert body["error"]["code"] == "invalid_document"
    assert body["error"]["where"]["element"] == "data"
    assert body["error"]["where"]["line"] == 4
    assert stack.store.get_document(body["hash"]) is None


def test_malformed_xml_says_the_line(stack: Stack) -> None:
    answer = stack.client.post("/v1/documents", json={"source": "<scxml>\n<state>\n</scxml>"})
    assert answer.status_code == 422
    assert answer.json()["error"]["where"]["line"] in (2, 3)


def test_an_unknown_hash_is_404(stack: Stack) -> None:
    answer = stack.client.get("/v1/documents/" + "0" * 64)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "document_not_found"


def test_document_bodies_are_checked(stack: Stack) -> None:
    assert (
        stack.client.post("/v1/documents", json={"text": MACHINE}).json()["error"]["code"]
        == "unknown_field"
    )
    assert stack.client.post("/v1/documents", json={}).status_code == 400
