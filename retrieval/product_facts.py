"""Matching and comparing products on the facts read from their clauses (read at ingest, ingest/facts.py; the fact-type table is domain/facts.py).

Every value shown comes with the clause that states it; a product whose clauses do not
state a fact a criterion needs is not a match (it is listed as unverified, with the reason).
Off-sale products are left out unless asked for, and then carry their flag and successor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from domain.errors import InputError, NotFoundError
from domain.facts import CRITERIA, FACT_TYPES, TYPES, coverage
from retrieval.flags import product_flags

CATEGORY_WORDS = (
    (re.compile(r"重疾|重大疾病"), "重大疾病保险"),
    (re.compile(r"医疗险|医疗保险|百万医疗|医疗"), "医疗保险"),
    (re.compile(r"定寿|定期寿险|寿险"), "定期寿险"),
    (re.compile(r"年金"), "年金保险"),
    (re.compile(r"意外"), "意外伤害保险"),
)
STATUSES = ("on_sale", "discontinued", "suspended")


@dataclass(frozen=True)
class Criteria:
    """What a broker asks for: category, insurer and sale status, plus limits on facts, keyed by
    the criterion's parameter in the fact-type table (``{"age": 58, "max_waiting_days": 90}``)."""

    category: str | None = None
    insurer: str | None = None
    statuses: tuple[str, ...] = ("on_sale",)  # () = any status
    limits: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.limits) - {c.param for _, c in CRITERIA}
        if unknown:
            raise InputError(f"unknown matching criterion: {', '.join(sorted(unknown))}")
        object.__setattr__(self, "limits", {k: v for k, v in self.limits.items() if v is not None})

    def constraints(self) -> list[str]:
        return [c.param for _, c in CRITERIA if c.param in self.limits]

    def describe(self) -> str:
        return "、".join(c.describe(self.limits[c.param]) for _, c in CRITERIA if c.param in self.limits)

    def to_dict(self) -> dict[str, Any]:
        """Flat: category, insurer, statuses and one key per criterion (None when not asked)."""
        return {"category": self.category, "insurer": self.insurer, "statuses": self.statuses,
                **{c.param: self.limits.get(c.param) for _, c in CRITERIA}}


@dataclass
class Match:
    product: dict[str, Any]
    facts: list[dict[str, Any]] = field(default_factory=list)  # the facts that qualified it
    reasons: list[str] = field(default_factory=list)  # why not (for non-matches)
    all_facts: dict[str, dict[str, Any]] = field(default_factory=dict)


def _num(fact: dict[str, Any] | None) -> float | None:
    if not fact:
        return None
    value = fact.get("value")
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def _check(c: Criteria, facts: dict[str, dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """(the facts that decided, why the product does not match) for the asked criteria."""
    used: list[dict[str, Any]] = []
    why: list[str] = []

    def need(key: str) -> dict[str, Any] | None:
        fact = facts.get(key)
        if fact is None:
            why.append(f"条款中未找到{TYPES[key].label}")
        return fact

    for fact_type, criterion in CRITERIA:
        limit = c.limits.get(criterion.param)
        if limit is None:
            continue
        if criterion.op == "age":
            low, high = need(fact_type.key), need("age_max")
            if low and high:
                used += [low, high]
                # an age in years is any day of that year of life: 0岁 includes 28 days old
                if limit * 365 + 364 < (_num(low) or 0) or limit > (_num(high) or 0):
                    why.append(f"投保年龄为{low['display']}至{high['display']}")
            continue
        fact = need(fact_type.key)
        if fact is None:
            continue
        used.append(fact)
        if criterion.op == "equals":
            if bool(fact.get("value")) != limit:
                why.append(str(fact["display"]))
            continue
        value = _num(fact) or 0
        if (value > limit) if criterion.op == "at_most" else (value < limit):
            why.append(f"{fact_type.label}{fact['display']}")
    return used, why


def match_products(graph: Any, c: Criteria) -> tuple[list[Match], list[Match]]:
    """(matches, non-matches with reasons) among products of the category/insurer/status asked for."""
    for status in c.statuses:
        if status not in STATUSES:
            raise InputError(f"status must be one of {', '.join(STATUSES)} or 'any', not {status!r}")
    products = graph.list_products()
    facts_by_product = graph.product_facts()
    matches: list[Match] = []
    others: list[Match] = []
    for product in products:
        if c.category and product.get("category") != c.category:
            continue
        if c.insurer and c.insurer not in str(product.get("insurer") or ""):
            continue
        if c.statuses and product.get("status") not in c.statuses:
            continue
        facts = {f["type"]: f for f in facts_by_product.get(product["product_id"], [])}
        used, why = _check(c, facts)
        (others if why else matches).append(Match(product, used, why, facts))
    return matches, others


def parse_statuses(value: str | None) -> tuple[str, ...]:
    if value is None or value == "":
        return ("on_sale",)
    if value == "any":
        return ()
    return tuple(v.strip() for v in value.split(",") if v.strip())


def compare_products(graph: Any, product_ids: list[str]) -> dict[str, Any]:
    """Side-by-side facts: one row per fact type any of the products states; cells cite their clause."""
    ids = list(dict.fromkeys(product_ids))
    if not 2 <= len(ids) <= 6:
        raise InputError("product_ids: give 2 to 6 different products to compare")
    catalog = {p["product_id"]: p for p in graph.list_products()}
    unknown = [pid for pid in ids if pid not in catalog]
    if unknown:
        raise NotFoundError(f"unknown product_id '{unknown[0]}'")
    facts = graph.product_facts(ids)
    by_type = {pid: {f["type"]: f for f in facts.get(pid, [])} for pid in ids}
    rows = []
    for t in FACT_TYPES:
        cells = [by_type[pid].get(t.key) for pid in ids]
        if any(cells):
            rows.append({"fact": t.key, "label": t.label, "unit": t.unit, "cells": [_cell(f) for f in cells]})
    columns = [{k: catalog[pid].get(k) for k in ("product_id", "name", "insurer", "category", "status")} for pid in ids]
    flags = [f.to_dict() for f in product_flags(graph, ids)]
    return {"products": columns, "rows": rows, "flags": flags}


def _cell(fact: dict[str, Any] | None) -> dict[str, Any] | None:
    if fact is None:
        return None
    return {"display": fact.get("display"), "value": fact.get("value"), "citation": _source(fact)}


def _source(fact: dict[str, Any]) -> dict[str, Any]:
    """Where a fact is stated: the clause (document, locator, chunk) and its sentence."""
    return {"doc_id": fact.get("doc_id"), "title": fact.get("title"), "locator": fact.get("locator"),
            "chunk_id": fact.get("chunk_id"), "text": fact.get("raw")}


def fact_citation(fact: dict[str, Any]) -> dict[str, Any]:
    return {**_source(fact), "fact": fact.get("type"), "display": fact.get("display")}


# --- questions in the chat ------------------------------------------------------------------

# Facts a question asks to see ("…，等待期多长"), by the words it uses.
ASKED_FACTS = (
    (re.compile(r"投保年龄|多大|几岁"), ("age_min", "age_max")),
    (re.compile(r"等待期"), ("waiting_period",)),
    (re.compile(r"犹豫期"), ("cooling_off",)),
    (re.compile(r"宽限期"), ("grace_period",)),
    (re.compile(r"免赔"), ("deductible",)),
    (re.compile(r"赔付比例|报销比例"), ("payout_ratio",)),
    (re.compile(r"续保"), ("guaranteed_renewal",)),
    (re.compile(r"轻症"), ("mild_payout", "mild_times")),
    (re.compile(r"中症"), ("moderate_payout", "moderate_times")),
    (re.compile(r"重疾种类|多少种|几种"), ("ci_kinds",)),
    (re.compile(r"保障期|保险期间|保多久"), ("term",)),
    (re.compile(r"保单贷款"), ("policy_loan",)),
)

_COMPARE = re.compile(r"对比|比较|比一比|区别|差异|差别|哪个好|哪个更|有何不同|有什么不同|\bvs\b|PK", re.I)
_MATCH = re.compile(r"哪些|哪款|哪几款|有没有|推荐|适合")
_AGE = re.compile(r"(\d{1,3})\s*(?:周?岁)")
_WAIT = re.compile(r"等待期[^，。？?]{0,8}?(?:不超过|少于|小于|低于|以内|内|≤|<=)?\s*(\d{1,3})\s*(?:天|日)")
_WAIT_AFTER = re.compile(r"(\d{1,3})\s*(?:天|日)(?:以内|之内|内)?的?等待期")


def question_criteria(text: str, product_ids: list[str] | None = None) -> Criteria | None:
    """A matching question ("哪些在售重疾险接受58岁投保，等待期90天以内") as criteria; None otherwise.

    Matching is across products: a question naming a product is about that product. It needs
    a category, a which/recommend word and something to match on (age, waiting period,
    guaranteed renewal, on sale)."""
    if product_ids or not _MATCH.search(text):
        return None
    category = next((name for pattern, name in CATEGORY_WORDS if pattern.search(text)), None)
    age = _AGE.search(text)
    wait = _WAIT.search(text) or _WAIT_AFTER.search(text)
    if category is None or not (age or wait or re.search(r"在售|保证续保|还在卖", text)):
        return None
    statuses: tuple[str, ...] = ("on_sale",)
    if re.search(r"停售|已停|下架", text) and not re.search(r"在售", text):
        statuses = ("discontinued", "suspended")
    return Criteria(category=category, statuses=statuses, limits={
        "age": int(age.group(1)) if age else None,
        "max_waiting_days": int(wait.group(1)) if wait else None,
        "guaranteed_renewal": True if re.search(r"保证续保", text) else None,
    })


def is_comparison(text: str, product_ids: list[str]) -> bool:
    return len(set(product_ids)) >= 2 and bool(_COMPARE.search(text))


def facts_answer(graph: Any, text: str, product_ids: list[str]) -> dict[str, Any] | None:
    """A comparison or matching question answered from facts: text lines with [n] markers, the
    citations they use (fact dicts, numbered in order), a table, and the products to flag."""
    if is_comparison(text, product_ids):
        table = compare_products(graph, product_ids[:6])
        cites: list[dict[str, Any]] = []
        names = [p["name"] for p in table["products"]]
        lines = [f"{'与'.join(names)}的条款对比（每项数值均引自条款原文）："]
        for row in table["rows"]:
            parts = []
            for column, cell in zip(table["products"], row["cells"], strict=True):
                short = column["name"]
                if cell is None:
                    parts.append(f"{short}：条款未载明")
                    continue
                n = _number_citation(cites, cell["citation"])
                cell["n"] = n
                parts.append(f"{short}：{cell['display']}[{n}]")
            lines.append(f"{row['label']}：" + "；".join(parts))
        return {"lines": lines, "citations": cites, "table": {"kind": "compare", **table},
                "product_ids": [p["product_id"] for p in table["products"]]}
    criteria = question_criteria(text, product_ids)
    if criteria is None:
        return None
    matches, others = match_products(graph, criteria)
    cites = []
    scope = ("在售的" if criteria.statuses == ("on_sale",) else "已停售或暂停销售的") + (criteria.category or "产品")
    wanted = criteria.describe()
    lines = [f"{scope}中{wanted + '的' if wanted else ''}有{len(matches)}款" + ("：" if matches else "。")]
    rows = []
    asked = [key for pattern, keys in ASKED_FACTS if pattern.search(text) for key in keys]
    for i, m in enumerate(matches, 1):
        shown = list(m.facts) + [m.all_facts[k] for k in asked if k in m.all_facts and m.all_facts[k] not in m.facts]
        cited = [{**c, "n": _number_citation(cites, c)} for c in map(fact_citation, shown)]
        facts = []
        for fact, c in zip(shown, cited, strict=True):
            label, display = str(fact["label"]), str(fact["display"])
            facts.append(f"{display if display.startswith(label[:2]) else label + display}[{c['n']}]")
        p = m.product
        lines.append(f"{i}. {p['name']}（{p['product_id']}，{p.get('insurer') or ''}）" + ("：" + "，".join(facts) if facts else ""))
        rows.append({"product_id": p["product_id"], "name": p["name"], "status": p.get("status"), "facts": cited})
    excluded = [m for m in others if m.reasons]
    if excluded:
        lines.append("不符合：" + "；".join(f"{m.product['name']}（{'，'.join(m.reasons)}）" for m in excluded[:6]))
    return {"lines": lines, "citations": cites, "table": {"kind": "match", "criteria": criteria.to_dict(), "rows": rows},
            "product_ids": [m.product["product_id"] for m in matches]}


def _number_citation(cites: list[dict[str, Any]], citation: dict[str, Any]) -> int:
    for i, c in enumerate(cites, 1):
        if (c["doc_id"], c["locator"]) == (citation["doc_id"], citation["locator"]):
            return i
    cites.append(citation)
    return len(cites)


def facts_report(graph: Any) -> list[dict[str, Any]]:
    """Per product: the facts found (with their clause) and the ones its category should state but
    its clauses did not yield: extraction gaps made visible."""
    facts = graph.product_facts()
    out = []
    for product in graph.list_products():
        mine = facts.get(product["product_id"], [])
        found, missing = coverage(product.get("category"), mine)
        out.append({
            "product_id": product["product_id"], "name": product["name"], "category": product.get("category"),
            "status": product.get("status"), "found": [{"fact": f["type"], "display": f.get("display"),
                                                        "locator": f.get("locator")} for f in mine],
            "missing": missing,
        })
    return out
