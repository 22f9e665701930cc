"""A session snapshot from the engine, stored on one store and continued from another."""

from __future__ import annotations

import json

from store_fixtures import StoreFactory

from engine import Event, Session, load_document
from persistence.contract import SessionRecord

COUNTER = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
       datamodel="ecmascript" initial="counting">
  <datamodel>
    <data id="count" expr="0"/>
    <data id="label" expr="'{version}'"/>
    <data id="blob" expr="'x'.repeat(2000)"/>
  </datamodel>
  <state id="counting">
    <onentry><send event="tick" delay="60s" id="reminder"/></onentry>
    <transition event="inc" cond="count &lt; 2">
      <assign location="count" expr="count + 1"/>
    </transition>
    <transition event="inc" target="done">
      <assign location="count" expr="count + 1"/>
    </transition>
  </state>
  <final id="done"/>
</scxml>"""


def test_snapshot_written_on_one_store_is_restored_into_a_running_session(
    open_more: StoreFactory, ns: str
) -> None:
    node_a, node_b = open_more(), open_more()
    source = COUNTER.replace("{version}", "v1")
    doc = load_document(source, location=f"file:///{ns}/counter.scxml")
    node_a.put_document(doc.content_hash, source)
    session = Session.create(doc, sessionid=f"{ns}-s")
    session.start(1000.0)
    session.enqueue(Event("inc"))
    result = session.run(1001.0)
    assert result.status == "running"
    snapshot = session.snapshot()
    session.close()
    node_a.write_session(
        SessionRecord(f"{ns}-s", doc.content_hash, json.dumps(snapshot), 1, updated_at=1001.0)
    )
    # The document at the same URL changes; the session stays on the version it started with.
    newer = COUNTER.replace("{version}", "v2")
    node_a.put_document(load_document(newer).content_hash, newer)

    stored = node_b.read_session(f"{ns}-s")
    assert stored is not None
    stored_source = node_b.get_document(stored.document_hash)
    assert stored_source == source
    restored = Session.restore(load_document(stored_source), json.loads(stored.snapshot))
    assert restored.configuration == ["counting"]
    assert restored.query()["datamodel"]["count"] == 1
    assert restored.query()["datamodel"]["label"] == "v1"
    assert restored.next_wakeup == 1060.0  # the pending delayed send came along
    restored.enqueue(Event("inc"))
    restored.enqueue(Event("inc"))
    result = restored.run(1002.0)
    assert (result.status, result.final_state) == ("final", "done")
    assert restored.query()["datamodel"]["count"] == 3
    restored.close()
