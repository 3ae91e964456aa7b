"""What every request goes through, outermost first: a request id and metrics (``observe``), one
audit record (``audit_every_request``), and the body guard (``guard_body``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI, Request, Response
from starlette.middleware.base import BaseHTTPMiddleware

from api.errors import error_response
from api.observability import new_request_id, request_id
from domain.errors import BrokerKGError
from domain.mask import mask_pii

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 32

CallNext = Callable[[Request], Awaitable[Response]]


def install_middleware(app: FastAPI) -> None:
    app.add_middleware(BaseHTTPMiddleware, dispatch=every_request)


async def every_request(request: Request, call_next: CallNext) -> Response:
    """The three steps composed in one middleware layer: each ``BaseHTTPMiddleware`` layer costs a
    task group and memory streams per request, and three of them were a tenth of the serialised
    (GIL) time under load (bench/load.py)."""

    async def guarded(req: Request) -> Response:
        return await guard_body(req, call_next)

    async def audited(req: Request) -> Response:
        return await audit_every_request(req, guarded)

    return await observe(request, audited)


async def guard_body(request: Request, call_next: CallNext) -> Response:
    """Refuse oversized or absurdly nested JSON before any parser sees it."""
    if request.method in ("POST", "PATCH", "PUT"):
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return error_response(413, "payload_too_large", f"request body is {len(body)} bytes, over {MAX_BODY_BYTES}")
        if nesting(body) > MAX_JSON_DEPTH:
            return error_response(400, "invalid_request", f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return await call_next(request)


async def audit_every_request(request: Request, call_next: CallNext) -> Response:
    """One audit record per request, written before the response goes out; the route adds its
    detail to ``request.state.audit`` (api/deps.py's AuditDetail)."""
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
    if detail.get("products"):  # what a stop-sale alert looks for (api/alerts/)
        record["products"] = detail["products"]
    for key in ("findings", "rules_version", "rule"):  # a compliance check: what it found, by which rules
        if key in detail:
            record[key] = detail[key]
    broker = broker_of(request.headers)
    if broker:
        record["broker"] = broker
    try:
        request.app.state.audit.append(record)
    except BrokerKGError as exc:  # an unaudited answer must not go out
        logger.error("%s", exc)
        return error_response(503, "audit_unavailable", "the audit log cannot be written; request refused")
    return response


def broker_of(headers: Any) -> str | None:
    """The broker a shared key or a chat client names (``X-Broker-ID``, URL-encoded UTF-8 as headers
    are ASCII: %E5%BC%A0%E4%B8%89 for 张三), masked and cut to 64 characters."""
    value = unquote(str(headers.get("x-broker-id") or "")).strip()
    return mask_pii(value)[:64] if value else None


async def observe(request: Request, call_next: CallNext) -> Response:
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
    metrics = request.app.state.metrics
    metrics.requests.labels(request.method, path, str(response.status_code)).inc()
    metrics.latency.labels(request.method, path).observe(time.perf_counter() - started)
    response.headers["X-Request-ID"] = rid
    return response


def nesting(body: bytes) -> int:
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
