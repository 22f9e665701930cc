"""``/v1/schedules``: one-shot and cron schedules through the scheduler's functions."""

from __future__ import annotations

from apistack import MACHINE, Stack

from scheduler import items


def create_cron(stack: Stack, **body: object) -> dict[str, object]:
    answer = stack.client.post(
        "/v1/schedules", json={"name": "nightly", "cron": "0 3 * * *", "source": MACHINE, **body}
    )
    assert answer.status_code == 201, answer.text
    created: dict[str, object] = answer.json()
    return created


def test_a_cron_schedule_is_created_listed_paused_resumed_and_deleted(stack: Stack) -> None:
    created = create_cron(stack, timezone="Europe/Paris", data={"x": 3})
    assert created["id"] == "cron:nightly"
    assert created["paused"] is False
    assert isinstance(created["next_due"], float)
    action = created["action"]
    assert isinstance(action, dict)
    assert stack.store.get_document(action["document_hash"]) == MACHINE
    assert action["data"] == {"x": 3}

    listed = stack.client.get("/v1/schedules").json()["schedules"]
    assert [s["id"] for s in listed] == ["cron:nightly"]

    paused = stack.client.post("/v1/schedules/cron:nightly/pause")
    assert paused.status_code == 200
    assert paused.json()["paused"] is True
    assert paused.json()["next_due"] is None
    stored = stack.store.get_schedule("cron:nightly")
    assert stored is not None and stored.due_at == items.PAUSED_DUE_AT

    resumed = stack.client.post("/v1/schedules/cron:nightly/resume").json()
    assert resumed["paused"] is False
    assert resumed["next_due"] == created["next_due"]

    assert stack.client.delete("/v1/schedules/cron:nightly").status_code == 204
    missing = stack.client.get("/v1/schedules/cron:nightly")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "cron_not_found"


def test_a_cron_schedule_of_a_stored_document_or_src(stack: Stack) -> None:
    digest = stack.client.post("/v1/documents", json={"source": MACHINE}).json()["hash"]
    answer = stack.client.post(
        "/v1/schedules", json={"name": "a", "cron": "@hourly", "document": digest}
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["action"]["document_hash"] == digest
    src = (stack.docs / "machine.scxml").as_uri()
    answer = stack.client.post("/v1/schedules", json={"name": "b", "cron": "@hourly", "src": src})
    assert answer.status_code == 201, answer.text
    assert answer.json()["action"]["src"] == src


def test_a_cron_schedule_with_a_disallowed_src_is_refused_at_once(stack: Stack) -> None:
    answer = stack.client.post(
        "/v1/schedules", json={"name": "x", "cron": "@hourly", "src": "file:///etc/passwd"}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "document_not_fetched"
    assert stack.store.get_schedule("cron:x") is None


def test_a_one_shot_schedule_starts_a_session_later(stack: Stack) -> None:
    answer = stack.client.post(
        "/v1/schedules",
        json={"at": "2099-06-01T00:00:00Z", "source": MACHINE, "sessionid": "s-later"},
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["id"] == "start:s-later"
    assert body["kind"] == "start"
    assert stack.client.get("/v1/schedules/start:s-later").json()["sessionid"] == "s-later"
    ids = [s["id"] for s in stack.client.get("/v1/schedules").json()["schedules"]]
    assert "start:s-later" in ids
    assert stack.client.delete("/v1/schedules/start:s-later").status_code == 204
    assert stack.store.get_schedule("start:s-later") is None
    assert stack.client.delete("/v1/schedules/start:s-later").status_code == 404


def test_bad_schedules_say_what_and_where(stack: Stack) -> None:
    cases = [
        ({"name": "n", "cron": "61 * * * *", "source": MACHINE}, 400, "expression"),
        (
            {"name": "n", "cron": "@daily", "timezone": "Mars/Base", "source": MACHINE},
            400,
            "timezone",
        ),
        ({"name": "n:1", "cron": "@daily", "source": MACHINE}, 400, "name"),
        ({"cron": "@daily", "source": MACHINE}, 400, "name"),
        ({"name": "n", "cron": "@daily"}, 400, "source"),
        ({"name": "n", "cron": "@daily", "at": 5, "source": MACHINE}, 400, "cron"),
        ({"at": 5, "timezone": "UTC", "source": MACHINE}, 400, "timezone"),
        ({"name": "n", "cron": "@daily", "source": MACHINE, "sessionid": "s"}, 400, "sessionid"),
        (
            {"name": "n", "cron": "@daily", "missed_run_policy": "all", "source": MACHINE},
            400,
            "missed_run_policy",
        ),
        ({"name": "n", "cron": "@daily", "document": "f" * 64}, 400, "document"),
    ]
    for body, status, where in cases:
        answer = stack.client.post("/v1/schedules", json=body)
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["error"]["where"] == {"field": where}, (body, answer.text)


def test_a_second_cron_of_the_same_name_is_a_conflict(stack: Stack) -> None:
    create_cron(stack)
    again = stack.client.post(
        "/v1/schedules", json={"name": "nightly", "cron": "@daily", "source": MACHINE}
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "cron_exists"


def test_only_cron_schedules_pause(stack: Stack) -> None:
    stack.client.post(
        "/v1/schedules", json={"at": 4102444800, "source": MACHINE, "sessionid": "one"}
    )
    answer = stack.client.post("/v1/schedules/start:one/pause")
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "not_pausable"


def test_unknown_schedule_ids_are_404(stack: Stack) -> None:
    for path in ("/v1/schedules/cron:none", "/v1/schedules/start:none", "/v1/schedules/what"):
        answer = stack.client.get(path)
        assert answer.status_code == 404, path
