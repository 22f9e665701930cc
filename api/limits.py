"""Request body size limit (``[api] max-body-bytes``): larger bodies get 413.

The limit is checked on ``Content-Length`` before anything is read, and again while a body
of unknown length (chunked) is read, so a client cannot make the server buffer more than
the limit. The body read here is handed on to the application unchanged.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` with 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await self.refuse(scope, receive, send, "Content-Length is not an integer", 400)
                return
            if length > self.max_bytes:
                await self.refuse(scope, receive, send, f"{length} bytes declared")
                return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self.refuse(scope, receive, send, "more bytes sent")
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, replay(bytes(body), receive), send)

    async def refuse(
        self, scope: Scope, receive: Receive, send: Send, detail: str, status: int = 413
    ) -> None:
        if status == 413:
            message = f"request body too large: {detail}; the limit is {self.max_bytes} bytes"
            code = "payload_too_large"
        else:
            message, code = detail, "bad_request"
        response = error_response(status, code, message, {"field": "body"})
        await response(scope, receive, send)


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields the already read ``body`` once, then waits on the client."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
