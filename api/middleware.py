"""What every request goes through, in one plain ASGI layer: a request id and metrics, one audit
record written before the response goes out, and the body guard.

One layer, without ``BaseHTTPMiddleware``: its task group and memory streams per request (three
layers of them) were a sixth of the serialised (GIL) time under load (bench/load.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI, Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response
from api.observability import new_request_id, request_id
from domain import activity
from domain.errors import BrokerKGError
from domain.mask import mask_pii

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 32


def install_middleware(app: FastAPI) -> None:
    app.add_middleware(EveryRequest)


class EveryRequest:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if request.app.state.serving:
            request.app.state.stack.sync()  # catalog changes made by the other processes of `serve --workers N`
        rid = new_request_id(request.headers.get("x-request-id"))
        token = request_id.set(rid)
        started = time.perf_counter()
        request.state.audit = {}  # the route adds its detail (api/deps.py's AuditDetail)
        sent = False  # the response has started
        refused = False  # the audit could not be written: the app's response is dropped

        async def send_audited(message: Message) -> None:
            nonlocal sent, refused
            if refused:
                return
            if message["type"] == "http.response.start" and not sent:
                sent = True
                if not await self._audit(request, message["status"]):
                    refused = True
                    response = error_response(503, "audit_unavailable", "the audit log cannot be written; request refused")
                    response.headers["X-Request-ID"] = rid
                    await response(scope, receive, send)
                    return
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = rid
                headers["X-BrokerKG-Process"] = request.app.state.process  # 0: the data dir's owner; 1…: workers
                self._observe(request, message["status"], started)
            await send(message)

        try:
            with activity.request():  # how many requests are at work: the query embedder's choice of cores
                refusal, receive = await self._guard(scope, receive)
                if refusal is not None:
                    await refusal(scope, receive, send_audited)
                    return
                try:
                    await self.app(scope, receive, send_audited)
                except Exception:  # the error handlers answer everything; this is the last resort
                    if sent:
                        raise
                    logger.exception("request failed outside the error handlers")
                    await error_response(500, "internal_error", "internal error")(scope, receive, send_audited)
        finally:
            request_id.reset(token)

    @staticmethod
    async def _guard(scope: Scope, receive: Receive) -> tuple[Any, Receive]:
        """Refuse oversized or absurdly nested JSON before any parser sees it; the body read is
        handed on to the app."""
        if scope["method"] not in ("POST", "PATCH", "PUT"):
            return None, receive
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return None, _replay(b"", receive, message)
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if size > MAX_BODY_BYTES:
            return error_response(413, "payload_too_large", f"request body is {size} bytes, over {MAX_BODY_BYTES}"), receive
        if nesting(body) > MAX_JSON_DEPTH:
            return error_response(400, "invalid_request", f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels"), receive
        return None, _replay(body, receive)

    @staticmethod
    async def _audit(request: Request, status: int) -> bool:
        """One audit record per request, written before the response goes out; False if it cannot be
        written (an unaudited answer must not go out). The write (an fsync and the head's rename)
        runs on the app's audit thread: on the event loop it held every other request up (37 % of
        the loop's time under 32 clients, with the cores 12–17 % idle)."""
        principal = getattr(request.state, "principal", None)
        route = request.scope.get("route")
        detail = request.state.audit
        record = {
            "key_id": principal.key_id if principal else None,
            "role": principal.role if principal else None,
            "method": request.method,
            "endpoint": f"{request.method} {getattr(route, 'path', request.url.path)}",
            "path": request.url.path,
            "status": status,
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
            await asyncio.wrap_future(request.app.state.audit_writer.submit(record))
        except BrokerKGError as exc:
            logger.error("%s", exc)
            return False
        except Exception:  # a record that cannot be written for another reason: still no answer without it
            logger.exception("audit record not written")
            return False
        return True

    @staticmethod
    def _observe(request: Request, status: int, started: float) -> None:
        route = request.scope.get("route")
        path = getattr(route, "path", None) or "unmatched"
        metrics = request.app.state.metrics
        metrics.requests.labels(request.method, path, str(status)).inc()
        metrics.latency.labels(request.method, path).observe(time.perf_counter() - started)


def _replay(body: bytes, receive: Receive, last: Message | None = None) -> Receive:
    """A ``receive`` that gives the body already read (or the disconnect seen), then the client's own."""
    pending: list[Message] = [last if last is not None else {"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


def broker_of(headers: Any) -> str | None:
    """The broker a shared key or a chat client names (``X-Broker-ID``, URL-encoded UTF-8 as headers
    are ASCII: %E5%BC%A0%E4%B8%89 for 张三), masked and cut to 64 characters."""
    value = unquote(str(headers.get("x-broker-id") or "")).strip()
    return mask_pii(value)[:64] if value else None


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
