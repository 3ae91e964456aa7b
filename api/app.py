"""The FastAPI application: thin routes over the stack's services."""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

from api.errors import install_error_handlers
from api.schemas import (
    AskRequest,
    AskResponse,
    CatalogImportRequest,
    ChatCompletionRequest,
    Health,
    IngestRequest,
    ProductOut,
    ProductPatch,
    SearchRequest,
    SearchResponse,
)
from brokerkg import __version__
from brokerkg.errors import BrokerKGError, InputError, NotFoundError
from brokerkg.stack import Stack
from ingest.catalog import parse_iso_date

logger = logging.getLogger(__name__)


def _require_loopback(request: Request) -> None:
    host = request.client.host if request.client else ""
    try:
        ok = ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = host in ("testclient", "localhost")
    if not ok:
        raise InputError("this endpoint reads files on the server and only accepts loopback clients")


_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _sse(events: Iterator[dict[str, Any]], conversation: Any) -> Iterator[str]:
    """Server-sent events: ``meta``, then ``token``… (or ``replace``), ``citations``, ``flags``, ``done``."""
    if conversation is not None:
        yield f"event: meta\ndata: {json.dumps({'conversation_id': conversation.id})}\n\n"
    try:
        for event in events:
            kind = event.pop("event")
            yield f"event: {kind}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"
    except BrokerKGError as exc:  # the stream has started: the error becomes an event, in the error shape
        error = {"error": {"code": exc.code, "message": str(exc)}}
        yield f"event: error\ndata: {json.dumps(error, ensure_ascii=False)}\n\n"


def create_app(stack: Stack, *, owns_stack: bool = False) -> FastAPI:
    """``owns_stack``: open the stores on start-up and close them on shutdown (``brokerkg serve``)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if owns_stack:
            stack.open()
        try:
            yield
        finally:
            if owns_stack:
                stack.close()

    app = FastAPI(title="BrokerKG", version=__version__, lifespan=lifespan)
    install_error_handlers(app)
    write_lock = threading.Lock()  # ingest and catalog imports run one at a time

    @app.get("/healthz", response_model=Health)
    def healthz() -> dict[str, str]:
        stack.graph.product_status([])
        return {"status": "ok"}

    @app.post("/v1/ask", response_model=AskResponse)
    def ask(body: AskRequest) -> Any:
        retriever = stack.retriever
        conversation = retriever.conversations.get(body.conversation_id) if retriever.conversations else None
        if body.stream:
            events = retriever.ask_stream(body.question, top_k=body.top_k, audience=body.audience, conversation=conversation)
            return StreamingResponse(_sse(events, conversation), media_type="text/event-stream", headers=_SSE_HEADERS)
        return retriever.ask(body.question, top_k=body.top_k, audience=body.audience, conversation=conversation).to_dict()

    @app.post("/v1/chat/completions")
    def chat_completions(body: ChatCompletionRequest) -> Any:
        from api import chat_completions as cc

        if body.stream:
            return StreamingResponse(cc.stream(stack, body), media_type="text/event-stream", headers=_SSE_HEADERS)
        return cc.complete(stack, body)

    @app.post("/v1/search", response_model=SearchResponse)
    def search(body: SearchRequest) -> dict[str, Any]:
        retriever = stack.retriever
        hits = retriever.search(body.query, top_k=body.top_k, doc_types=tuple(body.doc_types or ()))
        flags = retriever.flags_for(retriever.linker.link(body.query), hits)
        return {"hits": [h.hit() for h in hits], "flags": [f.to_dict() for f in flags]}

    @app.get("/v1/products/{product_id}", response_model=ProductOut)
    def get_product(product_id: str) -> dict[str, Any]:
        product = stack.graph.get_product(product_id)
        if product is None:
            raise NotFoundError(f"unknown product_id '{product_id}'")
        return product

    @app.patch("/v1/products/{product_id}", response_model=ProductOut)
    def patch_product(product_id: str, body: ProductPatch) -> dict[str, Any]:
        if stack.graph.get_product(product_id) is None:
            raise NotFoundError(f"unknown product_id '{product_id}'")
        changes = body.model_dump(exclude_unset=True)
        if not changes:
            raise InputError("body: give at least one of status, discontinued_date, replaced_by")
        if "status" in changes and changes["status"] is None:
            raise InputError("status: cannot be null; use on_sale, discontinued or suspended")
        if changes.get("discontinued_date") is not None:
            try:
                changes["discontinued_date"] = parse_iso_date(changes["discontinued_date"])
            except ValueError as exc:
                raise InputError(f"discontinued_date: {exc}") from None
        successor = changes.get("replaced_by")
        if successor is not None:
            if successor == product_id:
                raise InputError("replaced_by: a product cannot replace itself")
            if stack.graph.get_product(successor) is None:
                raise InputError(f"replaced_by: unknown product_id '{successor}'")
        stack.graph.update_product(product_id, changes)
        logger.info("product %s updated: %s", product_id, ", ".join(sorted(changes)))
        return stack.graph.get_product(product_id)  # type: ignore[return-value]

    @app.post("/v1/ingest")
    def ingest(body: IngestRequest, request: Request) -> dict[str, Any]:
        _require_loopback(request)
        with write_lock:
            report = stack.ingestor.ingest([Path(p) for p in body.paths], body.type, body.audience)
        return report.to_dict()

    @app.post("/v1/catalog/import")
    def catalog_import(body: CatalogImportRequest, request: Request) -> dict[str, Any]:
        _require_loopback(request)
        from ingest.pipeline import import_catalog

        with write_lock:
            report = import_catalog(stack.ingestor, Path(body.path))
        return report.to_dict()

    static = resources.files("chat_ui").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(str(static.joinpath("index.html")))

    return app
