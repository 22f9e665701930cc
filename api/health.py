"""``GET /health``: 200 while no alarm is active, 503 with the details while one is.

The facade's ``health()`` probes each dependency (store, broker) and reports it as
``{"ok": bool, "error": ...}``; the store alarm (``{"active": bool, "since": ...,
"last_error": ...}``) is shown beside them as ``store_alarm``. A check with ``ok`` false or
``active`` true is an alarm. A health check that itself fails is reported as an alarm too.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.facade import Facade, facade
from orchestrion.errors import OrchestrionError


def active_alarms(checks: dict[str, Any]) -> list[dict[str, Any]]:
    """The checks whose alarm is on, each with its name."""
    return [
        {"name": name, **state}
        for name, state in checks.items()
        if isinstance(state, dict) and (state.get("active") is True or state.get("ok") is False)
    ]


def check(orchestrator: Facade) -> dict[str, Any]:
    try:
        checks = dict(orchestrator.health())
    except OrchestrionError as exc:
        checks = {"health": {"ok": False, "error": str(exc)}}
    checks["store_alarm"] = orchestrator.store.alarm.to_json()
    return checks


async def health(request: Request) -> Response:
    checks = await run_in_threadpool(check, facade(request))
    alarms = active_alarms(checks)
    body = {"status": "alarm" if alarms else "ok", "alarms": alarms, "checks": checks}
    return JSONResponse(body, status_code=503 if alarms else 200)


routes = [Route("/health", health, methods=["GET"])]
