"""The one JSON error shape: {"error": {"code", "message"}}; never a stack trace to a client."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.errors import BrokerKGError, DependencyError

logger = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def _describe(errors: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for err in errors[:5]:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        where = ".".join(loc) if loc else "body"
        msg = str(err.get("msg", "invalid"))
        if err.get("type") == "json_invalid":
            where, msg = "body", "request body is not valid JSON"
        elif err.get("type") == "extra_forbidden":
            msg = "unknown field"
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, "invalid_request", _describe(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 403: "forbidden", 401: "unauthorized"}.get(
            exc.status_code, "http_error"
        )
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(BrokerKGError)
    async def _ours(_: Request, exc: BrokerKGError) -> JSONResponse:
        headers = {"Retry-After": "2"} if isinstance(exc, DependencyError) else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            headers = {"Retry-After": str(retry_after)}
        if exc.status >= 500:
            logger.error("%s: %s", exc.code, exc)
        return error_response(exc.status, exc.code, str(exc), headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        ref = uuid.uuid4().hex[:12]
        logger.exception("unhandled error (ref %s)", ref)
        return error_response(500, "internal_error", f"internal error; the server log has details (ref {ref})")
