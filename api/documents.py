"""``/v1/documents``: validate and store SCXML documents, fetch them by content hash."""

from __future__ import annotations

import hashlib

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api import schemas
from api.bodies import decode_text, exactly_one_source, media_type, read_json_object
from api.errors import describe, error_response
from api.facade import facade
from orchestrion.errors import DocumentError

XML_TYPES = frozenset({"application/xml", "text/xml", "application/scxml+xml"})


def content_hash(source: str) -> str:
    """The engine's document hash: sha256 hex of the UTF-8 source."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


async def store_document(request: Request) -> Response:
    """Body: ``{"source": ...}`` or ``{"src": ...}``, or the SCXML itself as XML."""
    if media_type(request) in XML_TYPES:
        source: str | None = decode_text(await request.body())
        src: str | None = None
    else:
        body = await read_json_object(request, schemas.STORE_DOCUMENT)
        source, src = exactly_one_source(body)
    try:
        document = await run_in_threadpool(
            lambda: facade(request).load_document(source=source, src=src)
        )
    except DocumentError as exc:
        status, rejected = describe(exc)
        rejected["hash"] = content_hash(source) if source else None
        return JSONResponse(rejected, status_code=status)
    digest: str = document.content_hash
    return JSONResponse(
        {"hash": digest, "name": document.name},
        status_code=201,
        headers={"Location": f"/v1/documents/{digest}"},
    )


async def get_document(request: Request) -> Response:
    digest = request.path_params["hash"]
    source = await run_in_threadpool(facade(request).store.get_document, digest)
    if source is None:
        return error_response(
            404, "document_not_found", f"no document with hash {digest}", {"field": "hash"}
        )
    return JSONResponse({"hash": digest, "source": source})


routes = [
    Route("/v1/documents", store_document, methods=["POST"]),
    Route("/v1/documents/{hash}", get_document, methods=["GET"]),
]
