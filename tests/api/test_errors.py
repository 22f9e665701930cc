"""Errors nobody planned for still answer in the one JSON shape, without details."""

from __future__ import annotations

import pytest
from apistack import TOKEN, Stack
from starlette.testclient import TestClient


def test_an_unexpected_exception_is_a_500_in_the_error_shape(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(sessionid: str) -> dict[str, object]:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(stack.node.orchestrator, "query", broken)
    client = TestClient(
        stack.client.app,
        raise_server_exceptions=False,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    answer = client.get("/v1/sessions/anything")
    assert answer.status_code == 500
    error = answer.json()["error"]
    assert error["code"] == "internal_error"
    assert "secret" not in error["message"]
