"""``POST /v1/search``: passages for a query, optionally limited to the clauses of the products
that match compliance filters (insurer, product, sale status, date on sale)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import AuditDep, SearchCaller, StackDep
from api.schemas import SearchRequest, SearchResponse
from domain.errors import InputError
from graph.store import GraphStore
from ingest.catalog import parse_iso_date

router = APIRouter()


@router.post("/v1/search", response_model=SearchResponse)
def search(body: SearchRequest, who: SearchCaller, stack: StackDep, audit: AuditDep) -> dict[str, Any]:
    product_ids = _filtered_products(stack.graph, body)
    if product_ids is not None and not product_ids:
        audit.answered(body.query)
        return {"hits": [], "flags": [], "total": 0, "terms": []}
    data = stack.retriever.search_query(
        body.query, top_k=body.top_k, doc_types=tuple(body.doc_types or ()), product_ids=tuple(product_ids or ()),
        audiences=who.audiences,
    ).to_dict()
    audit.answered(body.query, data)
    return data


def _filtered_products(graph: GraphStore, body: SearchRequest) -> list[str] | None:
    """Ids of the products matching the search's product filters; None when no product filter is given."""
    if not (body.insurers or body.product_ids or body.statuses or body.effective_from or body.effective_to):
        return None
    return graph.filter_product_ids(
        body.insurers or [], body.product_ids or [], list(body.statuses or []),
        _iso_date("effective_from", body.effective_from), _iso_date("effective_to", body.effective_to),
    )


def _iso_date(name: str, value: str | None) -> str | None:
    if not value:
        return None
    try:
        return parse_iso_date(value)
    except ValueError as exc:
        raise InputError(f"{name}: {exc}") from None
