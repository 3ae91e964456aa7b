"""Abstention: when the evidence cannot answer the question (未找到依据, no citation).

Signals, all cheap: the cited article does not exist; the question names a versioned product
the catalog lacks; a named product's question finds none of that product's own passages; the
best passages leave the question's known words uncovered; the dense model finds nothing close
(and, when only weakly close, the passages cover little of the question); or the question is
mostly words the corpus never uses. The similarity floors are ``RetrievalConfig``'s.
"""

from __future__ import annotations

import re

from graph.store import GraphStore
from index.vectors.base import VectorIndex
from retrieval.analysis import Query
from retrieval.linking import _norm, _strip_year
from retrieval.rerank import haystack
from retrieval.types import Evidence, RetrievalConfig
from retrieval.variants import KINDS

_KIND_ENDING = re.compile(rf"(?:{KINDS})$")
_NOT_IN_CORPUS = "问题涉及的内容不在现有法规、条款和案例中"


def _name_core(name: str) -> str:
    """What must appear in the passages for an unknown-looking name to be known after all: a year's
    last digits (泰康尊享2024 → 24), else the name before its kind of cover, without a brand (利安传家福终身寿险 → 传家福)."""
    m = _KIND_ENDING.search(name)
    if not m:
        return name[-2:]
    core = name[: m.start()]
    return core[2:] if len(core) >= 5 else core


class Abstainer:
    def __init__(self, graph: GraphStore, index: VectorIndex, config: RetrievalConfig) -> None:
        self.graph = graph
        self.index = index
        self.config = config

    def reason(self, q: Query, evidence: list[Evidence], dense: list[float] | None = None) -> str | None:
        """Why the evidence cannot answer the question, or None when it can."""
        if q.linked.missing_articles and not q.linked.article_keys:
            names = "、".join(k.replace("#", "") for k in q.linked.missing_articles[:2])
            return f"所问条文不存在（{names}）"
        if q.missing_versions:  # never answer from another version than the one asked
            return f"产品目录中没有“{q.missing_versions[0]}”（目录中的版本：{'、'.join(self._versions(q)) or '无'}）"
        if q.variant_missing:  # never answer from a sibling as if it were the variant asked
            return f"产品目录中没有“{q.variant_missing}”（目录中的同系列产品：{'、'.join(q.siblings)}）"
        if q.variant_ambiguous and not q.linked.products:
            return f"“{q.variant_ambiguous}”有多款产品：{'、'.join(q.siblings)}，请指明是哪一款"
        if not evidence:
            return "没有相关内容"
        top = evidence[:3]
        if q.unknown_names:
            seen = " ".join(f"{ev.payload.get('title', '')} {ev.plain}" for ev in top)
            missing = [n for n in q.unknown_names if _name_core(n) not in seen]
            if missing:
                return f"产品目录中没有“{missing[0]}”"
        if (q.linked.article_keys and any("article" in ev.reasons for ev in top)) or (q.intent.status and q.linked.products):
            return None
        if not q.concepts:
            return None
        if not self._named_product_covered(q, top):
            return "所问产品的条款未涉及这一内容"
        own = bool(q.linked.product_ids) and top[0].product_id in q.linked.product_ids
        return self._coverage_reason(q, top, dense, own)

    def _named_product_covered(self, q: Query, top: list[Evidence]) -> bool:
        """A question about a named product is answered from that product's own wording (or a case
        about it); rules about other products' features (分红保险…) do not answer it."""
        named = q.linked.product_ids
        if not named or q.linked.law_doc_ids or set(q.intent.doc_types) & {"regulation", "case"}:
            return True
        cases = self.graph.case_products([ev.doc_id for ev in top if ev.doc_type == "case"])
        concerned = {pid for ids in cases.values() for pid in ids}
        return any(ev.product_id in named or concerned & set(named) for ev in top)

    def _coverage_reason(self, q: Query, top: list[Evidence], dense: list[float] | None, own: bool = False) -> str | None:
        """``own``: the question names a product and its best passage is that product's own wording."""
        cfg = self.config
        known = max(q.coverage(haystack(ev), known_only=True) for ev in top)
        if dense:
            similarity = max(self.index.dense_similarity(dense, [ev.chunk_id for ev in top]).values(), default=0.0)
        else:
            similarity = 1.0
        if similarity < cfg.min_similarity:
            return "现有内容与问题无关"
        if similarity < cfg.weak_similarity and max(q.coverage(haystack(ev)) for ev in top) < cfg.weak_min_coverage:
            return "现有内容与问题关系不大"
        # A named product's own clause, close in meaning, answers a question put in a broker's words
        # (最大能给几岁的孩子投保 → 投保年龄范围为出生满28天至17周岁) that share none of the wording's.
        own_close = own and similarity >= cfg.own_product_similarity and q.unknown_share < cfg.max_unknown_share
        if known < cfg.min_known_coverage and not own_close:
            return "现有内容未涉及问题的要点"
        unknown = q.unknown_share
        if unknown >= cfg.max_unknown_share and similarity < cfg.unknown_similarity:
            return _NOT_IN_CORPUS
        if unknown >= cfg.all_unknown_share and similarity < cfg.all_unknown_similarity:
            return _NOT_IN_CORPUS
        return None

    def _versions(self, q: Query) -> list[str]:
        """The catalog's versions of the product family the question links (names equal but for the year)."""
        families = {_strip_year(_norm(ref.name)) for ref in q.linked.products}
        return [p["name"] for p in self.graph.list_products() if _strip_year(_norm(p["name"])) in families]
