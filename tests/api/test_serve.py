"""The API as deployed: ``orchestrion serve`` with its worker and beat processes, over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from apistack import MACHINE
from realserver import serving

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Path]]:
    folder = tmp_path_factory.mktemp("serve")
    docs = folder / "docs"
    docs.mkdir()
    (docs / "machine.scxml").write_text(MACHINE, encoding="utf-8")
    with serving(folder, [docs]) as client:
        yield client, docs


def wait_for(
    client: httpx.Client, sessionid: str, check: Any, timeout_s: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = client.get(f"/scxml/session/{sessionid}/query").json()
        if check(state):
            return state
        time.sleep(0.1)
    raise AssertionError(f"session {sessionid} never got there; last state {state}")


def test_ors_paths_end_to_end(server: tuple[httpx.Client, Path]) -> None:
    client, docs = server
    started = client.post(
        "/scxml/session/start", data={"src": (docs / "machine.scxml").as_uri(), "x": "9"}
    )
    assert started.status_code == 200, started.text
    sessionid = started.json()["sessionid"]
    state = wait_for(client, sessionid, lambda s: s.get("configuration") == ["idle"])
    assert state["datamodel"]["x"] == "9"

    sent = client.post(f"/scxml/session/{sessionid}/event/go", data={"k": "v"})
    assert sent.status_code == 200
    state = wait_for(client, sessionid, lambda s: s.get("configuration") == ["busy"])
    assert state["datamodel"]["got"] == {"k": "v"}

    assert client.post(f"/scxml/session/{sessionid}/terminate").status_code == 200
    wait_for(client, sessionid, lambda s: s.get("status") == "finished")


def test_basichttp_posts_reach_the_session(server: tuple[httpx.Client, Path]) -> None:
    client, _ = server
    sessionid = client.post("/v1/sessions", json={"source": MACHINE}).json()["sessionid"]
    wait_for(client, sessionid, lambda s: s.get("configuration") == ["idle"])
    posted = client.post(
        f"/scxml/session/{sessionid}/basichttp", data={"_scxmleventname": "go", "a": "1"}
    )
    assert posted.status_code == 200
    state = wait_for(client, sessionid, lambda s: s.get("configuration") == ["busy"])
    assert state["datamodel"]["got"] == {"a": "1"}


def test_auth_health_and_metrics_as_deployed(server: tuple[httpx.Client, Path]) -> None:
    base = str(server[0].base_url).rstrip("/")  # plain requests, without the server's token
    anonymous = httpx.get(f"{base}/v1/schedules")
    assert anonymous.status_code == 401
    assert httpx.get(f"{base}/health").json()["status"] == "ok"
    metrics = httpx.get(f"{base}/metrics").text
    assert "orchestrion_http_requests_total" in metrics


SELF_SEND = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
       datamodel="ecmascript" initial="s0">
  <state id="s0">
    <onentry>
      <send event="ping" type="http://www.w3.org/TR/scxml/#BasicHTTPEventProcessor"
            targetexpr="_ioprocessors['basichttp']['location']"/>
    </onentry>
    <!-- the token got it in, but the session must not see it in _event.raw -->
    <transition event="ping" cond="_event.raw.indexOf('POST ') === 0
                                   &amp;&amp; _event.raw.indexOf('Bearer') === -1" target="pass"/>
    <transition event="*" target="fail"/>
  </state>
  <final id="pass"/>
  <final id="fail"/>
</scxml>
"""


def test_a_basichttp_send_to_its_own_access_uri_with_tokens_on(
    server: tuple[httpx.Client, Path],
) -> None:
    client, _ = server
    sessionid = client.post("/v1/sessions", json={"source": SELF_SEND}).json()["sessionid"]
    state = wait_for(client, sessionid, lambda s: s.get("status") == "finished")
    assert state["final_state"] == "pass"
