"""The sending half of the Basic HTTP Event I/O Processor, against a real HTTP server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from rig import make_node

from engine.effects import SendToUrl
from engine.events import Event
from orchestrion.config import ApiConfig, Config, ScxmlConfig
from persistence.memory import MemoryStore
from workers.codec import encode_effect
from workers.http_send import HttpSender, HttpSendError, post_event
from workers.outbox import Outbox

SENDER = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
       datamodel="ecmascript" initial="idle">
  <datamodel><data id="errors" expr="0"/><data id="x" expr="41"/></datamodel>
  <state id="idle">
    <transition event="go">
      <send type="http://www.w3.org/TR/scxml/#BasicHTTPEventProcessor"
            event="hello" targetexpr="_event.data.url" namelist="x"/>
    </transition>
    <transition event="error.communication">
      <assign location="errors" expr="errors + 1"/>
    </transition>
  </state>
</scxml>"""


class Recorder(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    bodies: list[str] = []
    authorization: list[str | None] = []
    keys: list[str | None] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
        Recorder.received.append({"path": self.path, "form": parse_qs(body)})
        Recorder.bodies.append(body)
        Recorder.authorization.append(self.headers.get("authorization"))
        Recorder.keys.append(self.headers.get("idempotency-key"))
        self.send_response(404 if self.path.startswith("/missing") else 200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Recorder.received, Recorder.bodies, Recorder.authorization, Recorder.keys = [], [], [], []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_post_carries_the_event_name_and_data_as_form_fields(server: str) -> None:
    post_event(f"{server}/in", Event("order.placed", data={"id": 7, "who": "ann"}))
    assert Recorder.received == [
        {"path": "/in", "form": {"_scxmleventname": ["order.placed"], "id": ["7"], "who": ["ann"]}}
    ]
    with pytest.raises(HttpSendError, match="404"):
        post_event(f"{server}/missing", Event("x"))


def test_a_session_sends_over_http_and_hears_of_failures(server: str) -> None:
    store = MemoryStore()
    config = Config(
        api=ApiConfig(public_url="http://127.0.0.1:18499"),
        scxml=ScxmlConfig(persistence_default=True),
    )
    node = make_node(store, "a", config)
    sid = node.orchestrator.start_session(source=SENDER)
    node.host.drain(sid)
    node.orchestrator.send_event(sid, "go", {"url": f"{server}/in"})
    node.orchestrator.send_event(sid, "go", {"url": f"{server}/missing"})
    node.orchestrator.send_event(sid, "go", {"url": "http://127.0.0.1:1/refused"})
    node.host.drain(sid)
    node.orchestrator.waker.flush()
    assert node.published[-1][1] == [sid], "the errors woke the session again"
    node.host.drain(sid)  # what that wake-up does
    forms = [r["form"] for r in Recorder.received]
    assert forms[0] == {"_scxmleventname": ["hello"], "x": ["41"]}
    assert len(forms) == 2
    assert node.orchestrator.query(sid)["datamodel"]["errors"] == 2


def test_a_send_dispatched_again_carries_the_same_idempotency_key(server: str) -> None:
    node = make_node(MemoryStore(), "a")
    outbox = (encode_effect(SendToUrl(f"{server}/in", Event("hello"))),)
    for _ in range(2):  # the worker died after sending, before clearing the outbox
        Outbox(node.orchestrator).dispatch("s1", 7, outbox)
    assert Recorder.keys == ["s1:7:0", "s1:7:0"]


def test_sessions_know_their_basichttp_access_uri() -> None:
    doc = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
           datamodel="ecmascript" initial="a">
      <datamodel><data id="loc" expr="''"/></datamodel>
      <state id="a"><onentry>
        <assign location="loc" expr="_ioprocessors['basichttp'].location"/>
      </onentry></state>
    </scxml>"""
    config = Config(
        api=ApiConfig(public_url="http://orchestrion.example:8080/"),
        scxml=ScxmlConfig(persistence_default=True),
    )
    node = make_node(MemoryStore(), "a", config)
    sid = node.orchestrator.start_session(source=doc)
    node.host.drain(sid)
    location = node.orchestrator.query(sid)["datamodel"]["loc"]
    assert location == f"http://orchestrion.example:8080/scxml/session/{sid}/basichttp"


def test_content_is_the_url_encoded_body_and_a_nameless_send_has_no_name(server: str) -> None:
    post_event(f"{server}/in", Event("", data="this is some content"))
    assert [r["path"] for r in Recorder.received] == ["/in"]  # no _scxmleventname query
    assert Recorder.bodies == ["this%20is%20some%20content"]


def test_the_token_goes_only_to_this_servers_own_api(server: str) -> None:
    sender = HttpSender(f"{server}/api/", token="secret")
    sender.post(f"{server}/api/scxml/session/s1/basichttp", Event("own"), "k1")
    sender.post(f"{server}/elsewhere", Event("other"), "k2")
    sender.post(f"{server}/apiary", Event("prefix-only"), "k3")
    assert Recorder.authorization == ["Bearer secret", None, None]
    assert Recorder.keys == ["k1", "k2", "k3"]
    assert HttpSender(f"{server}/api").headers_for("http://other.example/api/x") == {}
