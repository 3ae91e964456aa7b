"""Flags read from the graph at request time (never cached): discontinued / suspended products, and
cited regulations that are repealed or not yet in force."""

from __future__ import annotations

from datetime import date

from domain.alerts import OFF_SALE, recency_text
from domain.regulations import NOT_YET_EFFECTIVE, RegulationStatus
from graph.store import GraphStore
from retrieval.linking import LinkedQuestion
from retrieval.types import Evidence, Flag


def product_flags(graph: GraphStore, product_ids: list[str]) -> list[Flag]:
    """One flag per product in ``product_ids`` that is not on sale, in the given order."""
    unique = list(dict.fromkeys(p for p in product_ids if p))
    rows = {r["product_id"]: r for r in graph.product_status(unique)}
    flags: list[Flag] = []
    for pid in unique:
        row = rows.get(pid)
        if not row or row.get("status") not in OFF_SALE:
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
    """Flags for the products a question names and those whose own documents (wording, manual,
    rate table) the evidence cites. A claim case about a product raises none: its citation shows
    the product and its status (``annotate_products``), the warning is for what the answer is about."""
    product_ids = list(linked.product_ids)
    product_ids += [ev.product_id for ev in evidence if ev.product_id and ev.doc_type != "case"]
    return product_flags(graph, product_ids)


def annotate_products(graph: GraphStore, evidence: list[Evidence]) -> None:
    """Each piece of evidence names the product it belongs to (a wording) or concerns (a case, its
    first product) and that product's status now, read from the graph (``product_status``)."""
    concerned = graph.case_products([ev.doc_id for ev in evidence if ev.doc_type == "case"])
    for ev in evidence:
        if ev.doc_type == "case" and concerned.get(ev.doc_id):
            ev.payload = {**ev.payload, "product_id": concerned[ev.doc_id][0]}
    ids = list(dict.fromkeys(ev.product_id for ev in evidence if ev.product_id))
    status = {r["product_id"]: r.get("status") for r in graph.product_status(ids)} if ids else {}
    for ev in evidence:
        if ev.product_id:
            ev.payload = {**ev.payload, "product_status": status.get(ev.product_id)}


def flag_message(row: dict[str, object], today: date | None = None) -> str:
    """``…（RH-CI-2019）已于2023-06-30停售（1249天前），不可再向客户推荐投保；替代产品：…``: how
    recent the change is tells a broker whether what they said last week still held."""
    day = row.get("discontinued_date")
    when = recency_text(str(row["status"]), str(day) if day else None, today or date.today())
    text = f"{row['name']}（{row['product_id']}）{when}，不可再向客户推荐投保"
    if row.get("successor_id"):
        text += f"；替代产品：{row['successor_name']}（{row['successor_id']}）"
    else:
        text += "；暂无替代产品"
    return text + "。已投保客户的保单按原条款继续有效。"


def regulation_flags(graph: GraphStore, evidence: list[Evidence], today: date | None = None) -> list[Flag]:
    """One flag per cited regulation that is not current law (repealed, or its effective date still to
    come), in citation order; each regulation's evidence is marked with its status (``regulation_status``)."""
    doc_ids = list(dict.fromkeys(ev.doc_id for ev in evidence if ev.doc_type == "regulation"))
    statuses = graph.regulation_statuses(doc_ids, today) if doc_ids else {}
    for ev in evidence:
        if ev.doc_id in statuses:
            ev.payload = {**ev.payload, "regulation_status": statuses[ev.doc_id].status}
    return [
        Flag.regulation(s.doc_id, s.title, s.status, s.effective, s.repealed_by, regulation_message(s))
        for s in (statuses[d] for d in doc_ids if d in statuses)
        if not s.in_force
    ]


def regulation_message(status: RegulationStatus) -> str:
    """``《示例办法》尚未施行（自2099-03-01起施行）…`` or ``《保险许可证管理办法》已被《…》废止…``."""
    if status.status == NOT_YET_EFFECTIVE:
        when = f"（自{status.effective}起施行）" if status.effective else ""
        return f"《{status.title}》尚未施行{when}，所引条文目前还不是现行有效的规定。"
    done = f"已被《{status.repealed_by}》废止" if status.repealed_by else "已废止"
    return f"《{status.title}》{done}，所引条文不再是现行有效的规定，请以现行规定为准。"
