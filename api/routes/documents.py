"""Documents: read (as sections), versions and their diff, audience change, delete.

An internal document does not exist for a caller limited to public ones (a cs_bot): 404, not 403.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import AuditDep, DocumentsReader, DocumentsWriter, StackDep, WriteLockDep
from api.schemas import Deleted, DocumentDiff, DocumentInfo, DocumentOut, DocumentPatch, DocumentVersions
from api.security import Principal
from brokerkg.stack import Stack
from domain.errors import NotFoundError
from ingest.versions import diff_versions
from retrieval.documents import document_sections

router = APIRouter()


def _visible(stack: Stack, doc_id: str, who: Principal) -> dict[str, Any]:
    info = stack.graph.document_info(doc_id)
    if info is None or (who.audiences and info.get("audience") not in who.audiences):
        raise NotFoundError(f"unknown doc_id '{doc_id}'")
    return info


@router.get("/v1/documents/{doc_id}", response_model=DocumentOut, response_model_exclude_unset=True)
def get_document(doc_id: str, who: DocumentsReader, stack: StackDep, audit: AuditDep) -> dict[str, Any]:
    info = _visible(stack, doc_id, who)
    audit.read(doc_id)
    out = {**info, "sections": document_sections(stack.index, [doc_id], who.audiences)}
    if info.get("doc_type") == "regulation":  # level, number, dates and whether it is current law today
        status = stack.graph.regulation_statuses([doc_id]).get(doc_id)
        out["regulation"] = status.to_dict() if status else None
    return out


@router.get("/v1/documents/{doc_id}/versions", response_model=DocumentVersions)
def document_versions(doc_id: str, who: DocumentsReader, stack: StackDep) -> dict[str, Any]:
    current = _visible(stack, doc_id, who).get("version")
    return {"doc_id": doc_id, "versions": [
        {"version": v["version"], "ingested_at": v["ingested_at"], "sections": len(v["sections"]),
         "current": v["version"] == current}
        for v in stack.graph.versions(doc_id)]}


@router.get("/v1/documents/{doc_id}/diff", response_model=DocumentDiff, response_model_exclude_unset=True)
def document_diff(
    doc_id: str,
    who: DocumentsReader,
    stack: StackDep,
    old: Annotated[str | None, Query(alias="from", description="a version; default the one before the last")] = None,
    new: Annotated[str | None, Query(alias="to", description="a version; default the last")] = None,
) -> dict[str, Any]:
    """Sections added, removed and changed between two versions of the document."""
    _visible(stack, doc_id, who)
    return {"doc_id": doc_id, **diff_versions(stack.graph.versions(doc_id), old, new)}


@router.delete("/v1/documents/{doc_id}", response_model=Deleted)
def delete_document(doc_id: str, who: DocumentsWriter, stack: StackDep, lock: WriteLockDep) -> dict[str, Any]:
    with lock:
        deleted = stack.ingestor.delete(doc_id)
    return {"deleted": deleted}


@router.patch("/v1/documents/{doc_id}", response_model=DocumentInfo, response_model_exclude_unset=True)
def patch_document(doc_id: str, body: DocumentPatch, who: DocumentsWriter, stack: StackDep) -> dict[str, Any] | None:
    if stack.graph.document_info(doc_id) is None:
        raise NotFoundError(f"unknown doc_id '{doc_id}'")
    stack.ingestor.set_audience(doc_id, body.audience)
    return stack.graph.document_info(doc_id)
