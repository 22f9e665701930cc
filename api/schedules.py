"""``/v1/schedules``: one-shot starts and cron schedules, listed, read, paused, deleted.

A schedule's id is its store item id: ``cron:<name>`` for a recurring schedule,
``start:<sessionid>`` / ``terminate:<sessionid>`` for a one-shot one. The work is done by
:mod:`scheduler.schedules`; the beat fires what it stores.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api import schemas
from api.bodies import Params, parse_at, read_json_object
from api.facade import Facade, facade
from orchestrion.errors import InvalidRequest
from persistence.contract import ScheduleItem
from scheduler import items, schedules

ONE_SHOT_KINDS = (items.START, items.TERMINATE)


def one_shot_json(item: ScheduleItem) -> dict[str, Any]:
    return {"id": item.item_id, "kind": item.kind, "due_at": item.due_at, **item.payload}


def cron_json(info: schedules.CronInfo) -> dict[str, Any]:
    return {"id": items.item_id(items.CRON, info.spec.name), "kind": items.CRON, **info.to_json()}


def document_of(body: Params) -> tuple[str, str]:
    """Which of source, src, document the body gives: exactly one."""
    given = [key for key in ("source", "src", "document") if key in body]
    if len(given) != 1:
        raise InvalidRequest(
            "give exactly one of source (SCXML text), src (its URL) and document (a stored "
            f"document's hash); got {', '.join(given) or 'none'}",
            code="missing_field" if not given else "invalid_request",
            where="source",
        )
    return given[0], body[given[0]]


def start_action(orchestrator: Facade, body: Params) -> dict[str, Any]:
    """The cron action: a stored document's hash, or a src checked now and fetched per run."""
    key, value = document_of(body)
    action: dict[str, Any] = {"kind": "start", "data": body.get("data") or {}}
    if key == "document":
        if orchestrator.store.get_document(value) is None:
            raise InvalidRequest(f"no stored document with hash {value}", where="document")
        action["document_hash"] = value
    elif key == "source":
        action["document_hash"] = orchestrator.load_document(source=value).content_hash
    else:
        orchestrator.load_document(src=value)  # refuse a bad or disallowed src now, not per run
        action["src"] = value
    return action


def create_cron(orchestrator: Facade, body: Params) -> dict[str, Any]:
    if "name" not in body:
        raise InvalidRequest("a cron schedule needs a name", code="missing_field", where="name")
    if "sessionid" in body:
        raise InvalidRequest(
            "sessionid applies to one-shot schedules (at) only; each cron run "
            "gets its own session id",
            where="sessionid",
        )
    info = schedules.create_cron(
        orchestrator.store,
        body["name"],
        body["cron"],
        timezone=body.get("timezone", "UTC"),
        start_at=parse_at(body["start_at"], "start_at") if "start_at" in body else None,
        end_at=parse_at(body["end_at"], "end_at") if "end_at" in body else None,
        missed_run_policy=body.get("missed_run_policy"),
        action=start_action(orchestrator, body),
    )
    return cron_json(info)


def create_one_shot(orchestrator: Facade, body: Params) -> dict[str, Any]:
    cron_only = [key for key in schemas.CRON_FIELDS if key in body]
    if cron_only:
        raise InvalidRequest(f"{cron_only[0]} applies to cron schedules only", where=cron_only[0])
    key, value = document_of(body)
    at = parse_at(body["at"])
    data = body.get("data")
    sessionid = body.get("sessionid")
    if key == "document":
        source = orchestrator.store.get_document(value)
        if source is None:
            raise InvalidRequest(f"no stored document with hash {value}", where="document")
        value, key = source, "source"
    started = orchestrator.start_session(
        source=value if key == "source" else None,
        src=value if key == "src" else None,
        data=data,
        at=at,
        sessionid=sessionid,
    )
    item = orchestrator.store.get_schedule(items.item_id(items.START, started))
    if item is not None:
        return one_shot_json(item)
    # ``at`` already passed: the facade started the session at once
    return {
        "id": items.item_id(items.START, started),
        "kind": items.START,
        "due_at": at,
        "sessionid": started,
        "started": True,
    }


async def create(request: Request) -> Response:
    body = await read_json_object(request, schemas.CREATE_SCHEDULE)
    if ("cron" in body) == ("at" in body):
        raise InvalidRequest(
            "give exactly one of cron (recurring) and at (one-shot)",
            code="missing_field" if "cron" not in body else "invalid_request",
            where="cron",
        )
    make = create_cron if "cron" in body else create_one_shot
    created = await run_in_threadpool(make, facade(request), body)
    return JSONResponse(
        created, status_code=201, headers={"Location": f"/v1/schedules/{created['id']}"}
    )


def list_all(orchestrator: Facade) -> list[dict[str, Any]]:
    found = [cron_json(info) for info in schedules.list_crons(orchestrator.store)]
    for kind in ONE_SHOT_KINDS:
        found += [one_shot_json(item) for item in orchestrator.store.list_schedules(kind)]
    return found


async def list_schedules(request: Request) -> Response:
    found = await run_in_threadpool(list_all, facade(request))
    return JSONResponse({"schedules": found})


def split_id(schedule_id: str) -> tuple[str, str]:
    kind, sep, key = schedule_id.partition(":")
    if not sep or not key or kind not in (items.CRON, *ONE_SHOT_KINDS):
        raise InvalidRequest(
            f"no schedule {schedule_id!r}: ids are cron:<name>, start:<sessionid> or "
            "terminate:<sessionid>",
            code="schedule_not_found",
            where="id",
        )
    return kind, key


def read_one(orchestrator: Facade, schedule_id: str) -> dict[str, Any]:
    kind, key = split_id(schedule_id)
    if kind == items.CRON:
        return cron_json(schedules.get_cron(orchestrator.store, key))
    item = orchestrator.store.get_schedule(schedule_id)
    if item is None:
        raise InvalidRequest(f"no schedule {schedule_id!r}", code="schedule_not_found", where="id")
    return one_shot_json(item)


async def get_schedule(request: Request) -> Response:
    found = await run_in_threadpool(read_one, facade(request), request.path_params["id"])
    return JSONResponse(found)


def delete_one(orchestrator: Facade, schedule_id: str) -> None:
    kind, key = split_id(schedule_id)
    if kind == items.CRON:
        schedules.delete_cron(orchestrator.store, key)
        return
    read_one(orchestrator, schedule_id)  # 404 for an unknown one
    if kind == items.START:
        schedules.cancel_start(orchestrator.store, key)
    else:
        schedules.cancel_terminate(orchestrator.store, key)


async def delete_schedule(request: Request) -> Response:
    await run_in_threadpool(delete_one, facade(request), request.path_params["id"])
    return Response(status_code=204)


def set_paused(orchestrator: Facade, schedule_id: str, paused: bool) -> dict[str, Any]:
    kind, key = split_id(schedule_id)
    if kind != items.CRON:
        raise InvalidRequest(
            f"only cron schedules can be paused, not {schedule_id!r}",
            code="not_pausable",
            where="id",
        )
    change = schedules.pause_cron if paused else schedules.resume_cron
    return cron_json(change(orchestrator.store, key))


async def pause(request: Request) -> Response:
    found = await run_in_threadpool(set_paused, facade(request), request.path_params["id"], True)
    return JSONResponse(found)


async def resume(request: Request) -> Response:
    found = await run_in_threadpool(set_paused, facade(request), request.path_params["id"], False)
    return JSONResponse(found)


routes = [
    Route("/v1/schedules", create, methods=["POST"]),
    Route("/v1/schedules", list_schedules, methods=["GET"]),
    Route("/v1/schedules/{id}", get_schedule, methods=["GET"]),
    Route("/v1/schedules/{id}", delete_schedule, methods=["DELETE"]),
    Route("/v1/schedules/{id}/pause", pause, methods=["POST"]),
    Route("/v1/schedules/{id}/resume", resume, methods=["POST"]),
]
