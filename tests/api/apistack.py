"""The HTTP API test stack: the real facade and worker code on a store.

``stack`` builds the API (``create_app``) on a real ``Orchestrator`` and a real
``WorkerNode`` sharing one store; ``stack.run(sid)`` drains a session in this process
(what a Celery worker does when woken), so end-to-end tests need no broker process. The
broker is the embedded filesystem transport in the test's folder.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from api.server import create_app
from orchestrion.config import ApiConfig, BrokerConfig, Config, PersistenceConfig, ScxmlConfig
from persistence.contract import Store
from workers.main import WorkerNode

TOKEN = "test-token-1"

MACHINE = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
       datamodel="ecmascript" initial="idle" name="machine">
  <datamodel>
    <data id="x" expr="1"/>
    <data id="got" expr="null"/>
  </datamodel>
  <state id="idle">
    <transition event="go" target="busy">
      <assign location="got" expr="_event.data"/>
    </transition>
  </state>
  <state id="busy">
    <transition event="done" target="end"/>
  </state>
  <final id="end"/>
</scxml>
"""


@dataclass
class Stack:
    """The API client, its facade and store, and a worker to run sessions in-process."""

    client: TestClient
    anonymous: TestClient
    config: Config
    store: Store
    node: WorkerNode
    docs: Path

    def run(self, sessionid: str) -> None:
        """Apply what was accepted for ``sessionid`` (start, events, terminate)."""
        self.node.host.drain(sessionid)

    def query(self, sessionid: str) -> dict[str, Any]:
        answer = self.client.get(f"/v1/sessions/{sessionid}")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found


def make_config(tmp_path: Path, docs: Path, **api: Any) -> Config:
    settings: dict[str, Any] = {
        "auth_tokens": (TOKEN,),
        "max_body_bytes": 8192,
        "allowed_locations": (str(docs), "http://127.0.0.1:18599/allowed/"),
        "public_url": "http://127.0.0.1:18501",
    }
    settings.update(api)
    return Config(
        api=ApiConfig(**settings),
        broker=BrokerConfig(data_dir=tmp_path / "broker"),
        persistence=PersistenceConfig(type="memory"),
        # persisted sessions: queries answer with configuration and data from the store
        scxml=ScxmlConfig(persistence_default=True),
    )


def build_stack(config: Config, store: Store, docs: Path) -> Stack:
    node = WorkerNode(config, store)
    app = create_app(config, node.orchestrator)
    return Stack(
        client=TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}),
        anonymous=TestClient(app),
        config=config,
        store=store,
        node=node,
        docs=docs,
    )


def with_api(config: Config, **api: Any) -> Config:
    return replace(config, api=replace(config.api, **api))
