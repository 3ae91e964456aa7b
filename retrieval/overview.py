"""The product page: a product with its history, clauses, the articles they cite, its cases and
neighbours, and the same as a small graph (nodes and edges) for the page's picture."""

from __future__ import annotations

from typing import Any

from graph.store import GraphStore
from index.vectors.base import VectorIndex
from retrieval.documents import document_sections
from retrieval.flags import product_flags


def product_overview(
    graph: GraphStore, index: VectorIndex, product_id: str, audiences: tuple[str, ...] = ()
) -> dict[str, Any] | None:
    """Everything the product page shows, None for an unknown product. With ``audiences`` (a
    cs_bot) only the product's documents and cases of those audiences, and what they cite."""
    overview = graph.product_overview(product_id)
    if overview is None:
        return None
    if audiences:
        product = overview["product"]
        visible = _visible_docs(graph, [d["doc_id"] for d in product["documents"]]
                                + [c["doc_id"] for c in overview["cases"]], audiences)
        product["documents"] = [d for d in product["documents"] if d["doc_id"] in visible]
        for key in ("cases", "case_citations", "clause_citations"):
            overview[key] = [row for row in overview[key] if row["doc_id"] in visible]
    overview["clauses"] = document_sections(index, [d["doc_id"] for d in overview["product"]["documents"]], audiences)
    overview["flags"] = [f.to_dict() for f in product_flags(graph, [product_id])]
    overview["graph"] = neighbourhood(overview)
    return overview


def _visible_docs(graph: GraphStore, doc_ids: list[str], audiences: tuple[str, ...]) -> set[str]:
    out = set()
    for doc_id in doc_ids:
        info = graph.document_info(doc_id)
        if info and info.get("audience") in audiences:
            out.add(doc_id)
    return out


def neighbourhood(overview: dict[str, Any]) -> dict[str, Any]:
    """product → clauses → cited articles → cases, and its successor and predecessors, as nodes and edges."""
    p = overview["product"]
    nodes: dict[str, dict[str, Any]] = {p["product_id"]: _product_node(p)}
    edges: list[dict[str, str]] = []
    for row in overview["clause_citations"]:
        cid = f"clause:{row['doc_id']}#{row['clause']}"
        nodes.setdefault(cid, {"id": cid, "kind": "clause", "label": f"条款 {row['clause']}", "doc_id": row["doc_id"],
                               "locator": row["clause"]})
        aid = f"article:{row['article_key']}"
        nodes.setdefault(aid, _article_node(aid, row))
        edges += [{"from": p["product_id"], "to": cid, "kind": "HAS_CLAUSE"}, {"from": cid, "to": aid, "kind": "CITES"}]
    for case in overview["cases"]:
        kid = f"case:{case['doc_id']}"
        nodes[kid] = {"id": kid, "kind": "case", "label": case["title"], "doc_id": case["doc_id"]}
        edges.append({"from": kid, "to": p["product_id"], "kind": "CONCERNS"})
    for row in overview["case_citations"]:
        aid = f"article:{row['article_key']}"
        nodes.setdefault(aid, _article_node(aid, row))
        edges.append({"from": f"case:{row['doc_id']}", "to": aid, "kind": "CITES"})
    successor = overview.get("successor")
    if successor and successor.get("product_id"):
        nodes.setdefault(successor["product_id"], _product_node(successor))
        edges.append({"from": p["product_id"], "to": successor["product_id"], "kind": "REPLACED_BY"})
    for other in overview["predecessors"]:
        if other and other.get("product_id"):
            nodes.setdefault(other["product_id"], _product_node(other))
            edges.append({"from": other["product_id"], "to": p["product_id"], "kind": "REPLACED_BY"})
    unique = {(e["from"], e["to"], e["kind"]): e for e in edges}
    return {"nodes": list(nodes.values()), "edges": list(unique.values())}


def _product_node(product: dict[str, Any]) -> dict[str, Any]:
    return {"id": product["product_id"], "kind": "product", "label": product["name"], "status": product.get("status")}


def _article_node(aid: str, row: dict[str, Any]) -> dict[str, Any]:
    return {"id": aid, "kind": "article", "label": row["article_key"].replace("#", " "),
            "doc_id": row.get("regulation_doc_id"), "locator": row["article"]}
