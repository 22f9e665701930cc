"""``/health`` (200, or 503 while the store is down) and ``/metrics`` (Prometheus text)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from apistack import MACHINE, Stack, build_stack, make_config
from prometheus_client.parser import text_string_to_metric_families

from orchestrion.config import Endpoint, PersistenceConfig
from persistence import open_store


def test_health_is_ok_with_every_check_listed(stack: Stack) -> None:
    answer = stack.anonymous.get("/health")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok"
    assert body["alarms"] == []
    assert body["checks"]["store"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True
    assert body["checks"]["store_alarm"]["active"] is False


def test_health_turns_503_while_the_redis_store_is_down(
    tmp_path: Path, docs: Path, redis_private: Any
) -> None:
    base = make_config(tmp_path, docs)
    config = replace(
        base,
        persistence=PersistenceConfig(
            type="redis",
            redis_nodes=(Endpoint(redis_private.host, redis_private.port),),
            reconnect_max_backoff=0.2,
        ),
    )
    store = open_store(config)
    built = build_stack(config, store, docs)
    try:
        assert built.anonymous.get("/health").status_code == 200
        redis_private.stop()
        down = built.anonymous.get("/health")
        assert down.status_code == 503
        body = down.json()
        assert body["status"] == "alarm"
        names = {alarm["name"] for alarm in body["alarms"]}
        assert "store" in names
        assert body["checks"]["store"]["error"]
        # the API refuses work it cannot store, with a 503 in the error shape
        refused = built.client.post("/v1/sessions", json={"source": MACHINE})
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "store_unavailable"

        redis_private.start()
        deadline = time.monotonic() + 20
        status = 503
        while status != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
            status = built.anonymous.get("/health").status_code
        assert status == 200
    finally:
        built.node.close()


def metric_value(text: str, name: str, labels: dict[str, str]) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def test_metrics_count_requests_by_route_and_accepted_events(stack: Stack) -> None:
    before = stack.anonymous.get("/metrics")
    assert before.status_code == 200
    assert before.headers["content-type"].startswith("text/plain")
    route = {"method": "POST", "route": "/v1/sessions/{sessionid}/events", "status": "202"}
    sent_before = metric_value(before.text, "orchestrion_http_requests_total", route)
    events_before = metric_value(before.text, "orchestrion_events_accepted_total", {"via": "rest"})

    sessionid = stack.client.post("/v1/sessions", json={"source": MACHINE}).json()["sessionid"]
    for _ in range(3):
        stack.client.post(f"/v1/sessions/{sessionid}/events", json={"name": "go"})
    stack.anonymous.get("/v1/sessions/x")  # 401, counted under its route

    after = stack.anonymous.get("/metrics").text
    assert metric_value(after, "orchestrion_http_requests_total", route) == sent_before + 3
    assert (
        metric_value(after, "orchestrion_events_accepted_total", {"via": "rest"})
        == events_before + 3
    )
    assert (
        metric_value(
            after,
            "orchestrion_http_requests_total",
            {"method": "GET", "route": "/v1/sessions/{sessionid}", "status": "401"},
        )
        >= 1
    )
    for shared in (
        "orchestrion_sessions_started",
        "orchestrion_events_processed",
        "orchestrion_macrostep_seconds",
        "orchestrion_queue_depth",
        "orchestrion_store_errors",
    ):
        assert f"# TYPE {shared}" in after
