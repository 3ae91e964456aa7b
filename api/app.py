"""The FastAPI application: thin routes over the stack's services."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

from api.audit import AuditLog
from api.errors import error_response, install_error_handlers
from api.observability import Metrics, install_masking, new_request_id, request_id
from api.schemas import (
    AskRequest,
    AskResponse,
    CatalogImportRequest,
    ChatCompletionRequest,
    CompareRequest,
    DocumentPatch,
    Health,
    IngestRequest,
    ProductMatch,
    ProductOut,
    ProductPatch,
    SearchRequest,
    SearchResponse,
)
from api.security import KeyStore, Principal, RateLimiter, check, is_loopback, principal_for
from brokerkg import __version__
from brokerkg.stack import Stack
from domain.errors import BrokerKGError, InputError, NotFoundError
from domain.mask import mask_pii
from ingest.catalog import parse_iso_date
from retrieval.flags import product_flags
from retrieval.product_facts import Criteria, compare_products, fact_citation, match_products, parse_statuses

logger = logging.getLogger(__name__)


def _require_loopback(request: Request) -> None:
    host = request.client.host if request.client else ""
    if not is_loopback(host):
        raise InputError("this endpoint reads files on the server and only accepts loopback clients")


_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
MAX_BODY_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 32


def _nesting(body: bytes) -> int:
    """Deepest [ / { nesting in a JSON text, strings skipped; cheap, never recursive."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_JSON_DEPTH:
                return deepest
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


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


def _filter_products(stack: Stack, body: Any) -> list[str] | None:
    """Product ids matching the search's product filters; None when no product filter is given."""
    if not (body.insurers or body.product_ids or body.statuses or body.effective_from or body.effective_to):
        return None
    dates = {}
    for name in ("effective_from", "effective_to"):
        value = getattr(body, name)
        if value:
            try:
                dates[name] = parse_iso_date(value)
            except ValueError as exc:
                raise InputError(f"{name}: {exc}") from None
    out = []
    for row in stack.graph.list_products():
        if body.insurers and row.get("insurer") not in body.insurers:
            continue
        if body.product_ids and row["product_id"] not in body.product_ids:
            continue
        if body.statuses and row.get("status") not in body.statuses:
            continue
        eff = str(row.get("effective_date") or "")
        if "effective_from" in dates and (not eff or eff < dates["effective_from"]):
            continue
        if "effective_to" in dates and (not eff or eff > dates["effective_to"]):
            continue
        out.append(row["product_id"])
    return out


def _visible_docs(stack: Stack, doc_ids: list[str], audiences: tuple[str, ...]) -> set[str]:
    out = set()
    for doc_id in doc_ids:
        info = stack.graph.document_info(doc_id)
        if info and (not audiences or info.get("audience") in audiences):
            out.add(doc_id)
    return out


def _sections(stack: Stack, doc_ids: list[str], audiences: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Documents as sections in reading order: locator, heading, text (chunks of a section joined)."""
    from index.vectors.base import SearchFilter

    if not doc_ids:
        return []
    flt = SearchFilter(doc_ids=tuple(doc_ids), audiences=audiences)
    chunks = sorted(stack.index.payloads(flt), key=lambda p: (p["doc_id"], int(p.get("position") or 0)))
    sections: list[dict[str, Any]] = []
    for c in chunks:
        last = sections[-1] if sections else None
        if last and last["doc_id"] == c["doc_id"] and last["locator"] == c.get("locator"):
            last["text"] += "\n" + c["text"]
            last["chunk_ids"].append(c["chunk_id"])
            continue
        sections.append({
            "doc_id": c["doc_id"], "title": c.get("title"), "locator": c.get("locator") or "",
            "heading": c.get("heading") or "", "text": c["text"], "chunk_ids": [c["chunk_id"]],
        })
    return sections


def _neighbourhood(overview: dict[str, Any]) -> dict[str, Any]:
    """product → clauses → cited articles → cases, as nodes and edges for the page's picture."""
    p = overview["product"]
    nodes: dict[str, dict[str, Any]] = {p["product_id"]: {"id": p["product_id"], "kind": "product", "label": p["name"], "status": p.get("status")}}
    edges: list[dict[str, str]] = []
    for row in overview["clause_citations"]:
        cid = f"clause:{row['doc_id']}#{row['clause']}"
        nodes.setdefault(cid, {"id": cid, "kind": "clause", "label": f"条款 {row['clause']}", "doc_id": row["doc_id"], "locator": row["clause"]})
        aid = f"article:{row['article_key']}"
        nodes.setdefault(aid, {"id": aid, "kind": "article", "label": row["article_key"].replace("#", " "),
                               "doc_id": row.get("regulation_doc_id"), "locator": row["article"]})
        edges += [{"from": p["product_id"], "to": cid, "kind": "HAS_CLAUSE"}, {"from": cid, "to": aid, "kind": "CITES"}]
    for case in overview["cases"]:
        kid = f"case:{case['doc_id']}"
        nodes[kid] = {"id": kid, "kind": "case", "label": case["title"], "doc_id": case["doc_id"]}
        edges.append({"from": kid, "to": p["product_id"], "kind": "CONCERNS"})
    for row in overview["case_citations"]:
        aid = f"article:{row['article_key']}"
        nodes.setdefault(aid, {"id": aid, "kind": "article", "label": row["article_key"].replace("#", " "),
                               "doc_id": row.get("regulation_doc_id"), "locator": row["article"]})
        edges.append({"from": f"case:{row['doc_id']}", "to": aid, "kind": "CITES"})
    for other, kind in [(overview.get("successor"), "REPLACED_BY"), *((x, "PREDECESSOR") for x in overview["predecessors"])]:
        if other and other.get("product_id"):
            nodes.setdefault(other["product_id"], {"id": other["product_id"], "kind": "product", "label": other["name"], "status": other.get("status")})
            edges.append({"from": p["product_id"], "to": other["product_id"], "kind": "REPLACED_BY"} if kind == "REPLACED_BY"
                         else {"from": other["product_id"], "to": p["product_id"], "kind": "REPLACED_BY"})
    unique = {(e["from"], e["to"], e["kind"]): e for e in edges}
    return {"nodes": list(nodes.values()), "edges": list(unique.values())}


def create_app(stack: Stack, *, owns_stack: bool = False, rate_limit: tuple[float, int] | None = None) -> FastAPI:
    """``owns_stack``: open the stores on start-up and close them on shutdown (``brokerkg serve``);
    ``rate_limit``: (per minute, burst) instead of the settings'."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if owns_stack:
            stack.open()
        try:
            yield
        finally:
            if owns_stack:
                stack.close()

    install_masking()
    app = FastAPI(title="BrokerKG", version=__version__, lifespan=lifespan)
    install_error_handlers(app)
    write_lock = threading.Lock()  # ingest and catalog imports run one at a time
    keys = KeyStore(stack.data_dir)
    audit = AuditLog(stack.data_dir)
    per_minute, burst = rate_limit or (stack.settings.rate_limit_per_minute, stack.settings.rate_limit_burst)
    limiter = RateLimiter(per_minute, burst)
    metrics = Metrics(stack)
    app.state.keys, app.state.audit, app.state.metrics = keys, audit, metrics
    if not keys.active():
        logger.warning("no API keys configured: only loopback clients are accepted (create one: brokerkg keys create --role broker)")

    def allow(permission: str) -> Any:
        def dependency(request: Request) -> Principal:
            host = request.client.host if request.client else ""
            principal = principal_for(keys, request.headers, host)
            request.state.principal = principal
            check(principal, permission)
            limiter.take(principal.key_id if principal.key_id != "local" else f"local:{host}")
            return principal

        return Depends(dependency)

    @app.middleware("http")
    async def guard_body(request: Request, call_next: Any) -> Any:
        """Refuse oversized or absurdly nested JSON before any parser sees it."""
        if request.method in ("POST", "PATCH", "PUT"):
            body = await request.body()
            if len(body) > MAX_BODY_BYTES:
                return error_response(413, "payload_too_large", f"request body is {len(body)} bytes, over {MAX_BODY_BYTES}")
            if _nesting(body) > MAX_JSON_DEPTH:
                return error_response(400, "invalid_request", f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels")
        return await call_next(request)

    @app.middleware("http")
    async def audit_every_request(request: Request, call_next: Any) -> Any:
        """One audit record per request, written before the response goes out."""
        request.state.audit = {}
        try:
            response = await call_next(request)
        except Exception:  # the error handlers answer everything; this is the last resort
            logger.exception("request failed outside the error handlers")
            response = error_response(500, "internal_error", "internal error")
        principal = getattr(request.state, "principal", None)
        route = request.scope.get("route")
        detail = request.state.audit
        record = {
            "key_id": principal.key_id if principal else None,
            "role": principal.role if principal else None,
            "method": request.method,
            "endpoint": f"{request.method} {getattr(route, 'path', request.url.path)}",
            "path": request.url.path,
            "status": response.status_code,
            "client": request.client.host if request.client else None,
            "question": detail.get("question"),
            "sources": detail.get("sources", []),
            "flags": detail.get("flags", []),
            "request_id": request_id.get(),
        }
        try:
            audit.append(record)
        except BrokerKGError as exc:  # an unaudited answer must not go out
            logger.error("%s", exc)
            return error_response(503, "audit_unavailable", "the audit log cannot be written; request refused")
        return response

    @app.middleware("http")
    async def observe(request: Request, call_next: Any) -> Any:
        """Outermost: a request id for the logs, the audit record and the response; metrics."""
        rid = new_request_id(request.headers.get("x-request-id"))
        token = request_id.set(rid)
        started = time.perf_counter()
        try:
            response = await call_next(request)
        finally:
            request_id.reset(token)
        route = request.scope.get("route")
        path = getattr(route, "path", None) or "unmatched"
        metrics.requests.labels(request.method, path, str(response.status_code)).inc()
        metrics.latency.labels(request.method, path).observe(time.perf_counter() - started)
        response.headers["X-Request-ID"] = rid
        return response

    def audited(request: Request, question: str | None, data: dict[str, Any] | None = None) -> None:
        detail = request.state.audit
        if question is not None:
            detail["question"] = mask_pii(question)
        if data:
            cites = data.get("citations") or data.get("hits") or []
            detail["sources"] = [{"doc_id": c["doc_id"], "locator": c.get("locator")} for c in cites]
            detail["flags"] = [f["product_id"] for f in data.get("flags", [])]

    @app.get("/healthz", response_model=Health)
    def healthz() -> dict[str, str]:
        """Liveness: the process answers HTTP (restart it if not). Stores are /readyz's business."""
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> Any:
        """Readiness: the graph, the vector index and the embedder answer (send traffic here or not)."""
        checks: dict[str, str] = {}
        for name, probe in (
            ("graph", lambda: stack.graph.ping()),
            ("vectors", lambda: stack.index.count()),
            ("embedder", lambda: stack.embedder.embed_query("ping")),
        ):
            try:
                probe()
                checks[name] = "ok"
            except Exception as exc:  # any failure means not ready; the reason is for the operator
                checks[name] = f"unavailable: {type(exc).__name__}"
        ready = all(v == "ok" for v in checks.values())
        body = {"status": "ready" if ready else "not_ready", "checks": checks}
        return JSONResponse(body, status_code=200 if ready else 503, headers={} if ready else {"Retry-After": "5"})

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics(_: Principal = allow("metrics")) -> Response:
        payload, content_type = metrics.render()
        return Response(payload, media_type=content_type)

    @app.post("/v1/ask", response_model=AskResponse)
    def ask(body: AskRequest, request: Request, who: Principal = allow("ask")) -> Any:
        retriever = stack.retriever
        conversation = retriever.conversations.get(body.conversation_id) if retriever.conversations else None
        prepared = retriever.prepare(body.question, body.top_k, conversation, audiences=who.audiences)
        if body.stream:
            audited(request, body.question, prepared.sources())
            events = retriever.ask_stream(
                body.question, top_k=body.top_k, audience=body.audience, conversation=conversation, prepared=prepared
            )
            return StreamingResponse(_sse(events, conversation), media_type="text/event-stream", headers=_SSE_HEADERS)
        data = retriever.ask(
            body.question, top_k=body.top_k, audience=body.audience, conversation=conversation, prepared=prepared
        ).to_dict()
        audited(request, body.question, data)
        metrics.observe_answer(data)
        return data

    @app.post("/v1/chat/completions")
    def chat_completions(body: ChatCompletionRequest, request: Request, who: Principal = allow("ask")) -> Any:
        from api import chat_completions as cc

        question, conversation = cc.history(stack, body)
        prepared = stack.retriever.prepare(question, body.top_k, conversation, audiences=who.audiences)
        if body.stream:
            audited(request, question, prepared.sources())
            chunks = cc.stream(stack, body, question, conversation, prepared)
            return StreamingResponse(chunks, media_type="text/event-stream", headers=_SSE_HEADERS)
        data = cc.complete(stack, body, question, conversation, prepared)
        audited(request, question, data["brokerkg"])
        return data

    @app.post("/v1/search", response_model=SearchResponse)
    def search(body: SearchRequest, request: Request, who: Principal = allow("search")) -> dict[str, Any]:
        retriever = stack.retriever
        product_ids = _filter_products(stack, body)
        if product_ids is not None and not product_ids:
            audited(request, body.query)
            return {"hits": [], "flags": [], "total": 0, "terms": []}
        data = retriever.search_query(
            body.query, top_k=body.top_k, doc_types=tuple(body.doc_types or ()), product_ids=tuple(product_ids or ()),
            audiences=who.audiences,
        ).to_dict()
        audited(request, body.query, data)
        return data

    @app.get("/v1/audit")
    def get_audit(
        request: Request,
        key_id: str | None = None,
        role: str | None = None,
        endpoint: str | None = None,
        status: int | None = None,
        since: str | None = None,
        until: str | None = None,
        doc_id: str | None = None,
        limit: int = 100,
        who: Principal = allow("audit.read"),
    ) -> dict[str, Any]:
        if not 1 <= limit <= 10000:
            raise InputError("limit: must be between 1 and 10000")
        records = audit.query(key_id=key_id, role=role, endpoint=endpoint, status=status, since=since, until=until,
                              doc_id=doc_id, limit=limit)
        return {"records": records, "count": len(records)}

    @app.get("/v1/products", response_model=list[ProductMatch])
    def list_products(
        category: str | None = None,
        status: str | None = None,
        insurer: str | None = None,
        age: int | None = Query(None, ge=0, le=120),
        max_waiting_days: int | None = Query(None, ge=0),
        max_deductible: float | None = Query(None, ge=0),
        min_mild_payout: float | None = Query(None, ge=0, le=100),
        min_ci_kinds: int | None = Query(None, ge=0),
        guaranteed_renewal: bool | None = None,
        who: Principal = allow("products.read"),
    ) -> list[dict[str, Any]]:
        """Without parameters: the whole catalog. With any: products matching them on the facts
        read from their clauses (on-sale only unless ``status`` says otherwise, ``status=any`` for
        all), each with the facts that qualified it and their clauses."""
        filters = (category, status, insurer, age, max_waiting_days, max_deductible, min_mild_payout, min_ci_kinds,
                   guaranteed_renewal)
        if all(v is None for v in filters):
            return stack.graph.list_products()
        criteria = Criteria(category=category, insurer=insurer, statuses=parse_statuses(status), limits={
            "age": age, "max_waiting_days": max_waiting_days, "max_deductible": max_deductible,
            "min_mild_payout": min_mild_payout, "min_ci_kinds": min_ci_kinds, "guaranteed_renewal": guaranteed_renewal,
        })
        matches, _ = match_products(stack.graph, criteria)
        flags = {f.product_id: f.to_dict() for f in product_flags(stack.graph, [m.product["product_id"] for m in matches])}
        return [
            {**m.product, "matched_facts": [fact_citation(f) for f in m.facts],
             "flags": [flags[m.product["product_id"]]] if m.product["product_id"] in flags else []}
            for m in matches
        ]

    @app.post("/v1/compare")
    def compare(body: CompareRequest, who: Principal = allow("products.read")) -> dict[str, Any]:
        """Facts of 2–6 products side by side; each cell cites the clause that states it."""
        return compare_products(stack.graph, body.product_ids)

    @app.get("/v1/products/{product_id}/overview")
    def product_overview(product_id: str, who: Principal = allow("products.read")) -> dict[str, Any]:
        overview = stack.graph.product_overview(product_id)
        if overview is None:
            raise NotFoundError(f"unknown product_id '{product_id}'")
        if who.audiences:  # a cs_bot sees the product's public documents and cases only
            visible = _visible_docs(stack, [d["doc_id"] for d in overview["product"]["documents"]]
                                    + [c["doc_id"] for c in overview["cases"]], who.audiences)
            overview["product"]["documents"] = [d for d in overview["product"]["documents"] if d["doc_id"] in visible]
            overview["cases"] = [c for c in overview["cases"] if c["doc_id"] in visible]
            overview["case_citations"] = [c for c in overview["case_citations"] if c["doc_id"] in visible]
            overview["clause_citations"] = [c for c in overview["clause_citations"] if c["doc_id"] in visible]
        sections = _sections(stack, [d["doc_id"] for d in overview["product"]["documents"]], who.audiences)
        overview["clauses"] = sections
        overview["flags"] = [f.to_dict() for f in product_flags(stack.graph, [product_id])]
        overview["graph"] = _neighbourhood(overview)
        return overview

    @app.get("/v1/documents/{doc_id}")
    def get_document(doc_id: str, request: Request, who: Principal = allow("documents.read")) -> dict[str, Any]:
        info = stack.graph.document_info(doc_id)
        if info is None or (who.audiences and info.get("audience") not in who.audiences):
            raise NotFoundError(f"unknown doc_id '{doc_id}'")  # internal documents do not exist for a cs_bot
        request.state.audit["sources"] = [{"doc_id": doc_id, "locator": None}]
        return {**info, "sections": _sections(stack, [doc_id], who.audiences)}

    @app.get("/v1/documents/{doc_id}/versions")
    def document_versions(doc_id: str, who: Principal = allow("documents.read")) -> dict[str, Any]:
        info = stack.graph.document_info(doc_id)
        if info is None or (who.audiences and info.get("audience") not in who.audiences):
            raise NotFoundError(f"unknown doc_id '{doc_id}'")
        versions = stack.graph.versions(doc_id)
        current = info.get("version")
        return {"doc_id": doc_id, "versions": [
            {"version": v["version"], "ingested_at": v["ingested_at"], "sections": len(v["sections"]), "current": v["version"] == current}
            for v in versions]}

    @app.get("/v1/documents/{doc_id}/diff")
    def document_diff(doc_id: str, request: Request, who: Principal = allow("documents.read")) -> dict[str, Any]:
        from ingest.versions import diff_versions

        info = stack.graph.document_info(doc_id)
        if info is None or (who.audiences and info.get("audience") not in who.audiences):
            raise NotFoundError(f"unknown doc_id '{doc_id}'")
        params = request.query_params
        return {"doc_id": doc_id, **diff_versions(stack.graph.versions(doc_id), params.get("from"), params.get("to"))}

    @app.delete("/v1/documents/{doc_id}")
    def delete_document(doc_id: str, who: Principal = allow("documents.write")) -> dict[str, Any]:
        with write_lock:
            deleted = stack.ingestor.delete(doc_id)
        return {"deleted": deleted}

    @app.patch("/v1/documents/{doc_id}")
    def patch_document(doc_id: str, body: DocumentPatch, who: Principal = allow("documents.write")) -> dict[str, Any]:
        if stack.graph.document_info(doc_id) is None:
            raise NotFoundError(f"unknown doc_id '{doc_id}'")
        stack.ingestor.set_audience(doc_id, body.audience)
        return stack.graph.document_info(doc_id)  # type: ignore[return-value]

    @app.get("/v1/products/{product_id}", response_model=ProductOut)
    def get_product(product_id: str, who: Principal = allow("products.read")) -> dict[str, Any]:
        product = stack.graph.get_product(product_id)
        if product is None:
            raise NotFoundError(f"unknown product_id '{product_id}'")
        return product

    @app.patch("/v1/products/{product_id}", response_model=ProductOut)
    def patch_product(product_id: str, body: ProductPatch, who: Principal = allow("products.write")) -> dict[str, Any]:
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
        stack.graph.log_status(product_id, {**changes, "source": "api", "key_id": who.key_id})
        logger.info("product %s updated: %s", product_id, ", ".join(sorted(changes)))
        return stack.graph.get_product(product_id)  # type: ignore[return-value]

    @app.post("/v1/ingest")
    def ingest(body: IngestRequest, request: Request, who: Principal = allow("ingest")) -> dict[str, Any]:
        _require_loopback(request)
        with write_lock:
            report = stack.ingestor.ingest([Path(p) for p in body.paths], body.type, body.audience)
        return report.to_dict()

    @app.post("/v1/catalog/import")
    def catalog_import(body: CatalogImportRequest, request: Request, who: Principal = allow("ingest")) -> dict[str, Any]:
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
