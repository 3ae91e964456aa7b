"""The product catalog: list or match, compare, one product, its page (overview), status changes."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import AuditDep, ProductsReader, ProductsWriter, StackDep
from api.schemas import (
    CompareRequest,
    Comparison,
    FilingDiff,
    ProductMatch,
    ProductOut,
    ProductOverview,
    ProductPatch,
    ProductQuery,
)
from domain.alerts import OFF_SALE
from domain.errors import InputError, NotFoundError
from ingest.catalog import parse_iso_date
from ingest.versions import diff_versions, filing_versions
from retrieval.flags import product_flags
from retrieval.overview import product_overview
from retrieval.product_facts import Criteria, compare_products, fact_citation, match_products, parse_statuses

logger = logging.getLogger(__name__)

router = APIRouter()


@router.get("/v1/products", response_model=list[ProductMatch])
def list_products(query: Annotated[ProductQuery, Query()], who: ProductsReader, stack: StackDep,
                  audit: AuditDep) -> list[dict[str, Any]]:
    """Without parameters: the whole catalog. With any: products matching them on the facts
    read from their clauses (on-sale only unless ``status`` says otherwise, ``status=any`` for
    all), each with the facts that qualified it and their clauses."""
    if not query.model_dump(exclude_none=True):
        return stack.graph.list_products()
    criteria = Criteria(category=query.category, insurer=query.insurer, statuses=parse_statuses(query.status),
                        limits=query.limits())
    matches, _ = match_products(stack.graph, criteria)
    flags = {f.product_id: f.to_dict() for f in product_flags(stack.graph, [m.product["product_id"] for m in matches])}
    audit.involved([m.product["product_id"] for m in matches], list(flags.values()))
    return [
        {**m.product, "matched_facts": [fact_citation(f) for f in m.facts],
         "flags": [flags[m.product["product_id"]]] if m.product["product_id"] in flags else []}
        for m in matches
    ]


@router.post("/v1/compare", response_model=Comparison)
def compare(body: CompareRequest, who: ProductsReader, stack: StackDep, audit: AuditDep) -> dict[str, Any]:
    """Facts of 2–6 products side by side; each cell cites the clause that states it."""
    comparison = compare_products(stack.graph, body.product_ids)
    audit.involved([p["product_id"] for p in comparison["products"]], comparison["flags"])
    return comparison


@router.get("/v1/products/{product_id}/overview", response_model=ProductOverview, response_model_exclude_unset=True)
def overview(product_id: str, who: ProductsReader, stack: StackDep, audit: AuditDep) -> dict[str, Any]:
    """The product page: history, clauses, the articles they cite, cases, neighbours and their picture."""
    page = product_overview(stack.graph, stack.index, product_id, who.audiences)
    if page is None:
        raise NotFoundError(f"unknown product_id '{product_id}'")
    audit.involved([product_id], page.get("flags", []))
    return page


@router.get("/v1/products/{product_id}", response_model=ProductOut)
def get_product(product_id: str, who: ProductsReader, stack: StackDep, audit: AuditDep) -> dict[str, Any]:
    product = stack.graph.get_product(product_id)
    if product is None:
        raise NotFoundError(f"unknown product_id '{product_id}'")
    audit.involved([product_id], [product] if product.get("status") in OFF_SALE else [])
    return product


@router.get("/v1/products/{product_id}/filings/diff", response_model=FilingDiff, response_model_exclude_unset=True)
def filings_diff(
    product_id: str,
    who: ProductsReader,
    stack: StackDep,
    old: Annotated[str | None, Query(alias="from", description="a filing number; default the one before the current")] = None,
    new: Annotated[str | None, Query(alias="to", description="a filing number; default the current")] = None,
) -> dict[str, Any]:
    """Clause-level changes between two filings of the product's wording (利安人寿[2018]… → [2021]…)."""
    product = stack.graph.get_product(product_id)
    if product is None:
        raise NotFoundError(f"unknown product_id '{product_id}'")
    return {"product_id": product_id, **diff_versions(product_filings(stack.graph, product), old, new)}


def product_filings(graph: Any, product: dict[str, Any]) -> list[dict[str, Any]]:
    by_filing = {d.get("filing_no"): d["doc_id"] for d in product.get("documents") or [] if d.get("filing_no")}
    order = [f for f in dict.fromkeys(product.get("filings") or []) if f in by_filing]
    return filing_versions([(f, graph.versions(by_filing[f])) for f in order])


@router.patch("/v1/products/{product_id}", response_model=ProductOut)
def patch_product(product_id: str, body: ProductPatch, who: ProductsWriter, stack: StackDep) -> dict[str, Any] | None:
    """Status, discontinued date or successor; in effect for the very next answer."""
    graph = stack.graph
    before = graph.get_product(product_id)
    if before is None:
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
        if graph.get_product(successor) is None:
            raise InputError(f"replaced_by: unknown product_id '{successor}'")
    graph.update_product(product_id, changes)
    graph.log_status(product_id, {**changes, "source": "api", "key_id": who.key_id, "previous_status": before.get("status")})
    logger.info("product %s updated: %s", product_id, ", ".join(sorted(changes)))
    return graph.get_product(product_id)
