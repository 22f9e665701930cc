"""``GET /metrics`` (Prometheus text format) and the per-request HTTP metrics."""

from __future__ import annotations

import time
from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrion.metrics import HTTP_REQUEST_SECONDS, HTTP_REQUESTS, render

UNMATCHED = "unmatched"


async def metrics(request: Request) -> Response:
    body, content_type = render()
    return Response(body, media_type=content_type)


routes = [Route("/metrics", metrics, methods=["GET"])]


class RequestMetrics:
    """ASGI middleware: count and time each request by route template (not raw path,
    which would make one time series per session id)."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    def template(self, scope: Scope) -> str:
        partial = UNMATCHED
        for route in self.routes:
            match, _ = route.matches(scope)
            if isinstance(route, Route):
                if match == Match.FULL:
                    return route.path
                if match == Match.PARTIAL:
                    partial = route.path
        return partial

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = self.template(scope)
        status = 500
        started = time.perf_counter()

        async def send_recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        finally:
            HTTP_REQUESTS.labels(scope["method"], route, str(status)).inc()
            HTTP_REQUEST_SECONDS.labels(route).observe(time.perf_counter() - started)
