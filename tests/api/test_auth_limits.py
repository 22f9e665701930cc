"""Bearer tokens on every path but health, metrics and the spec; 413 over the body limit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from apistack import MACHINE, TOKEN, Stack, build_stack, make_config

from persistence.memory import MemoryStore


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/sessions"),
        ("GET", "/v1/sessions/abc"),
        ("POST", "/v1/documents"),
        ("GET", "/v1/schedules"),
        ("POST", "/scxml/session/start"),
        ("POST", "/scxml/session/abc/event/go"),
        ("GET", "/scxml/session/abc/query"),
        ("POST", "/scxml/session/abc/basichttp"),
    ],
)
def test_protected_paths_refuse_requests_without_a_token(
    stack: Stack, method: str, path: str
) -> None:
    answer = stack.anonymous.request(method, path)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    error = answer.json()["error"]
    assert error["code"] == "unauthorized"
    assert error["where"] == {"field": "Authorization"}


@pytest.mark.parametrize(
    "header", ["Bearer wrong", f"Basic {TOKEN}", "Bearer", TOKEN, f"Bearer {TOKEN}x"]
)
def test_wrong_tokens_and_schemes_are_refused(stack: Stack, header: str) -> None:
    answer = stack.anonymous.get("/v1/schedules", headers={"Authorization": header})
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"


def test_a_configured_token_is_accepted(stack: Stack) -> None:
    answer = stack.anonymous.get("/v1/schedules", headers={"Authorization": f"bearer {TOKEN}"})
    assert answer.status_code == 200


@pytest.mark.parametrize("path", ["/health", "/metrics", "/v1/openapi.json"])
def test_open_paths_need_no_token(stack: Stack, path: str) -> None:
    assert stack.anonymous.get(path).status_code == 200


def test_no_configured_tokens_means_no_authentication(tmp_path: Path, docs: Path) -> None:
    built = build_stack(make_config(tmp_path, docs, auth_tokens=()), MemoryStore(), docs)
    try:
        assert built.anonymous.get("/v1/schedules").status_code == 200
    finally:
        built.node.close()


def test_a_body_over_the_limit_is_refused_by_its_declared_length(stack: Stack) -> None:
    limit = stack.config.api.max_body_bytes
    answer = stack.client.post(
        "/v1/sessions",
        content=b"x" * (limit + 1),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 413
    error = answer.json()["error"]
    assert error["code"] == "payload_too_large"
    assert str(limit) in error["message"]


def test_a_chunked_body_over_the_limit_is_refused_while_read(stack: Stack) -> None:
    limit = stack.config.api.max_body_bytes

    def chunks() -> Iterator[bytes]:
        for _ in range(limit // 1000 + 2):
            yield b"y" * 1000

    answer = stack.client.post(
        "/scxml/session/start",
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert "content-length" not in answer.request.headers
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "payload_too_large"


def test_a_body_at_the_limit_is_read(stack: Stack) -> None:
    body = '{"source": ' + json.dumps(MACHINE) + "}"
    body += " " * (stack.config.api.max_body_bytes - len(body.encode()))
    assert len(body.encode()) == stack.config.api.max_body_bytes
    answer = stack.client.post(
        "/v1/sessions", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 201, answer.text


def test_unknown_paths_and_methods_answer_in_the_error_shape(stack: Stack) -> None:
    missing = stack.client.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong = stack.client.put("/v1/sessions")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"
