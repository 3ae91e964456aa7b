"""Discontinued / suspended product flags, read from the graph at request time (never cached)."""

from __future__ import annotations

from graph.store import GraphStore
from retrieval.linking import LinkedQuestion
from retrieval.types import Evidence, Flag

_STATUS_WORD = {"discontinued": "停售", "suspended": "暂停销售"}


def product_flags(graph: GraphStore, product_ids: list[str]) -> list[Flag]:
    """One flag per product in ``product_ids`` that is not on sale, in the given order."""
    unique = list(dict.fromkeys(p for p in product_ids if p))
    rows = {r["product_id"]: r for r in graph.product_status(unique)}
    flags: list[Flag] = []
    for pid in unique:
        row = rows.get(pid)
        if not row or row.get("status") not in _STATUS_WORD:
            continue
        successor = (
            {"product_id": row["successor_id"], "name": row["successor_name"]} if row.get("successor_id") else None
        )
        flags.append(
            Flag(
                product_id=pid,
                name=row["name"],
                status=row["status"],
                discontinued_date=row.get("discontinued_date"),
                replaced_by=successor,
                message=flag_message(row),
            )
        )
    return flags


def evidence_flags(graph: GraphStore, linked: LinkedQuestion, evidence: list[Evidence]) -> list[Flag]:
    """Flags for the products a question names, the evidence belongs to, or its cases concern."""
    product_ids = list(linked.product_ids)
    product_ids += [ev.product_id for ev in evidence if ev.product_id]
    case_ids = [ev.doc_id for ev in evidence if ev.doc_type == "case"]
    for ids in graph.case_products(case_ids).values():
        product_ids += ids
    return product_flags(graph, product_ids)


def flag_message(row: dict[str, object]) -> str:
    word = _STATUS_WORD[str(row["status"])]
    date = row.get("discontinued_date")
    when = f"已于{date}{word}" if date else f"已{word}"
    text = f"{row['name']}（{row['product_id']}）{when}，不可再向客户推荐投保"
    if row.get("successor_id"):
        text += f"；替代产品：{row['successor_name']}（{row['successor_id']}）"
    else:
        text += "；暂无替代产品"
    return text + "。已投保客户的保单按原条款继续有效。"
