"""The HTTP application (``create_app``) and the ``orchestrion api`` process (``run``)."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from api import documents, health, ioprocessor, metrics, openapi, ors, schedules, sessions
from api.auth import BearerAuth
from api.errors import handle_http_exception, handle_orchestrion_error, handle_unexpected
from api.facade import Facade
from api.limits import BodyLimit
from orchestrion.config import Config
from orchestrion.errors import OrchestrionError

log = logging.getLogger(__name__)


def all_routes() -> list[BaseRoute]:
    return [
        *sessions.routes,
        *documents.routes,
        *schedules.routes,
        *ors.routes,
        *ioprocessor.routes,
        *health.routes,
        *metrics.routes,
        *openapi.routes,
    ]


def create_app(config: Config, orchestrator: Facade) -> Starlette:
    """The API answering with ``orchestrator`` under ``config.api``'s limits and tokens."""
    routes = all_routes()
    if not config.api.auth_tokens:
        log.warning("[api] auth-tokens is empty: the HTTP API accepts unauthenticated requests")
    app = Starlette(
        routes=routes,
        middleware=[
            # outermost first: every answer is counted, then authenticated, then size-checked
            Middleware(metrics.RequestMetrics, routes=routes),
            Middleware(BearerAuth, tokens=config.api.auth_tokens),
            Middleware(BodyLimit, max_bytes=config.api.max_body_bytes),
        ],
        exception_handlers={
            OrchestrionError: handle_orchestrion_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
    )
    app.state.orchestrator = orchestrator
    app.state.config = config
    return app


def run(config: Config) -> None:
    """Serve the API on ``[api] host``:``port`` until interrupted (``orchestrion api``)."""
    import uvicorn

    from workers.orchestrator import Orchestrator

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    orchestrator = Orchestrator.from_config(config)
    try:
        app = create_app(config, orchestrator)
        uvicorn.run(app, host=config.api.host, port=config.api.port, log_level="info")
    finally:
        orchestrator.close()
        orchestrator.store.close()
