"""Administration: ingest files and catalogs from the server's disk (loopback callers only), and
the audit log for compliance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request

from api.deps import AuditLogDep, AuditReader, Ingester, StackDep, WriteLockDep
from api.schemas import (
    AuditPage,
    CatalogImportRequest,
    CatalogReportOut,
    IngestReportOut,
    IngestRequest,
    StatusSyncOut,
    StatusSyncRequest,
)
from api.security import is_loopback
from domain.errors import InputError
from ingest.pipeline import import_catalog
from ingest.status_sync import read_status_list, sync_status

router = APIRouter()


def _require_loopback(request: Request) -> None:
    host = request.client.host if request.client else ""
    if not is_loopback(host):
        raise InputError("this endpoint reads files on the server and only accepts loopback clients")


@router.post("/v1/ingest", response_model=IngestReportOut)
def ingest(body: IngestRequest, request: Request, who: Ingester, stack: StackDep, lock: WriteLockDep) -> dict[str, Any]:
    _require_loopback(request)
    with lock:
        report = stack.ingestor.ingest([Path(p) for p in body.paths], body.type, body.audience)
    return report.to_dict()


@router.post("/v1/catalog/import", response_model=CatalogReportOut)
def catalog_import(
    body: CatalogImportRequest, request: Request, who: Ingester, stack: StackDep, lock: WriteLockDep
) -> dict[str, Any]:
    _require_loopback(request)
    with lock:
        report = import_catalog(stack.ingestor, Path(body.path))
    return report.to_dict()


@router.post("/v1/status/sync", response_model=StatusSyncOut)
def status_sync(body: StatusSyncRequest, request: Request, who: Ingester, stack: StackDep, lock: WriteLockDep) -> dict[str, Any]:
    """Apply an insurer's stop-sale list; ``dry_run`` shows the changes without making them."""
    if (body.path is None) == (body.content is None):
        raise InputError("body: give either path (a file on the server) or content (the list itself)")
    if body.path is not None:
        _require_loopback(request)
        path = Path(body.path)
        try:
            data = path.read_bytes()
        except (OSError, ValueError) as exc:  # ValueError: a NUL inside the path
            raise InputError(f"path: {body.path!r}: {getattr(exc, 'strerror', None) or exc}") from None
        source = body.source or path.name
    else:
        data = (body.content or "").encode("utf-8")
        source = body.source or f"api upload ({body.format or 'auto'})"
    entries = read_status_list(data, source, body.format)
    with lock:
        report = sync_status(stack.graph, entries, source, dry_run=body.dry_run, key_id=who.key_id)
    return report.to_dict()


@router.get("/v1/audit", response_model=AuditPage, response_model_exclude_unset=True)
def get_audit(
    who: AuditReader,
    log: AuditLogDep,
    key_id: str | None = None,
    role: str | None = None,
    endpoint: str | None = None,
    status: int | None = None,
    since: str | None = None,
    until: str | None = None,
    doc_id: str | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    """Audit records matching every given filter, the last ``limit`` of them, oldest first."""
    if not 1 <= limit <= 10000:
        raise InputError("limit: must be between 1 and 10000")
    records = log.query(key_id=key_id, role=role, endpoint=endpoint, status=status, since=since, until=until,
                        doc_id=doc_id, limit=limit)
    return {"records": records, "count": len(records)}
