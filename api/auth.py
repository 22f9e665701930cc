"""Bearer-token authentication for every path except the open ones (health, metrics, spec).

Policy: when ``[api] auth-tokens`` lists tokens, every request must carry
``Authorization: Bearer <one of them>``, including the ORS paths and the Basic HTTP Event
I/O Processor path. ``/health``, ``/metrics`` and ``/v1/openapi.json`` stay open so that load
balancers, Prometheus and client generators need no secret. With no tokens configured,
authentication is off (a development setup; the server logs a warning at start).
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_response

OPEN_PATHS = frozenset({"/health", "/metrics", "/v1/openapi.json"})


class BearerAuth:
    """ASGI middleware: 401 unless the request carries one of ``tokens``."""

    def __init__(self, app: ASGIApp, tokens: tuple[str, ...]) -> None:
        self.app = app
        self.tokens = tuple(token.encode() for token in tokens)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.tokens or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        problem = self.check(dict(scope["headers"]).get(b"authorization"))
        if problem is None:
            await self.app(scope, receive, send)
            return
        response = error_response(
            401,
            "unauthorized",
            problem,
            {"field": "Authorization"},
            headers={"WWW-Authenticate": 'Bearer realm="orchestrion"'},
        )
        await response(scope, receive, send)

    def check(self, header: bytes | None) -> str | None:
        """None when ``header`` holds a valid token, else what is wrong."""
        if header is None:
            return "missing Authorization header (expected 'Bearer <token>')"
        scheme, _, token = header.strip().partition(b" ")
        if scheme.lower() != b"bearer" or not token.strip():
            return "Authorization header must be 'Bearer <token>'"
        token = token.strip()
        # compare_digest on every token: timing does not reveal which one nearly matched
        matched = False
        for known in self.tokens:
            matched |= hmac.compare_digest(known, token)
        return None if matched else "invalid bearer token"
