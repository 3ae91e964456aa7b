"""Liveness, readiness and metrics, for operators and orchestrators."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from api.deps import MetricsDep, MetricsReader, StackDep
from api.schemas import Health, Readiness

router = APIRouter()


@router.get("/healthz", response_model=Health)
def healthz() -> dict[str, str]:
    """Liveness: the process answers HTTP (restart it if not). Stores are /readyz's business."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(stack: StackDep) -> JSONResponse:
    """Readiness: the graph, the vector index and the embedder answer (send traffic here or not)."""
    checks: dict[str, str] = {}
    probes: tuple[tuple[str, Any], ...] = (
        ("graph", lambda: stack.graph.ping()),
        ("vectors", lambda: stack.index.count()),
        ("embedder", lambda: stack.embedder.embed_query("ping")),
    )
    for name, probe in probes:
        try:
            probe()
            checks[name] = "ok"
        except Exception as exc:  # any failure means not ready; the reason is for the operator
            checks[name] = f"unavailable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    body = {"status": "ready" if ready else "not_ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503, headers={} if ready else {"Retry-After": "5"})


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics(_: MetricsReader, metrics: MetricsDep) -> Response:
    payload, content_type = metrics.render()
    return Response(payload, media_type=content_type)
