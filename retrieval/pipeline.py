"""The retrieval pipeline: link → hybrid search → rerank → graph expansion → answer + flags."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

from graph.store import GraphStore, clause_key
from ingest.mask import mask_pii
from retrieval.answer import compose
from retrieval.embedders.base import Embedder
from retrieval.flags import product_flags
from retrieval.linking import LinkedQuestion, Linker
from retrieval.text import Analyzer
from retrieval.types import Answer, Evidence, Flag
from retrieval.vectors.base import ScoredId, SearchFilter, VectorIndex

logger = logging.getLogger(__name__)

RRF_K = 60
_RRF_MAX = 2.0 / (RRF_K + 1)  # a chunk ranked first by both dense and BM25
_INTENTS = (
    (re.compile(r"案例|案件|判例|判决|法院|纠纷|拒赔案"), "case"),
    (re.compile(r"条款|合同约定|保险责任|责任免除|产品"), "clause"),
    (re.compile(r"法规|法律|规定|条例|司法解释|保险法|监管"), "regulation"),
)


@dataclass(frozen=True)
class RetrievalConfig:
    prefetch: int = 60
    candidates: int = 40


class Retriever:
    def __init__(
        self,
        graph: GraphStore,
        index: VectorIndex,
        embedder: Embedder,
        analyzer: Analyzer,
        linker: Linker,
        config: RetrievalConfig | None = None,
    ) -> None:
        self.graph = graph
        self.index = index
        self.embedder = embedder
        self.analyzer = analyzer
        self.linker = linker
        self.config = config or RetrievalConfig()

    # --- public -----------------------------------------------------------------------------

    def search(self, query: str, top_k: int = 10, doc_types: tuple[str, ...] = ()) -> list[Evidence]:
        linked = self.linker.link(query)
        return self._retrieve(query, linked, top_k, SearchFilter(doc_types=doc_types))

    def ask(self, question: str, top_k: int = 5) -> Answer:
        started = time.perf_counter()
        linked = self.linker.link(question)
        evidence = self._retrieve(question, linked, top_k, SearchFilter())
        flags = self.flags_for(linked, evidence)
        text, citations = compose(question, evidence, flags, self.analyzer)
        took = (time.perf_counter() - started) * 1000
        logger.info(
            "ask: %d citations, %d flags, %.0f ms (question %d chars)", len(citations), len(flags), took, len(question)
        )
        return Answer(answer=text, citations=citations, flags=flags, took_ms=took)

    def flags_for(self, linked: LinkedQuestion, evidence: list[Evidence]) -> list[Flag]:
        product_ids = list(linked.product_ids)
        product_ids += [ev.product_id for ev in evidence if ev.product_id]
        case_ids = [ev.doc_id for ev in evidence if ev.doc_type == "case"]
        for ids in self.graph.case_products(case_ids).values():
            product_ids += ids
        return product_flags(self.graph, product_ids)

    # --- stages -----------------------------------------------------------------------------

    def _retrieve(self, query: str, linked: LinkedQuestion, top_k: int, flt: SearchFilter) -> list[Evidence]:
        query = mask_pii(query)
        dense = self.embedder.embed_query(query)
        sparse = self.analyzer.query_vector(query)
        pool: dict[str, Evidence] = {}

        def add(results: list[ScoredId], reason: str, boost: float = 0.0, weight: float = 1.0) -> None:
            # A narrowed search ranks within a small set, so its fused scores count for less.
            for r in results:
                fused = weight * min(1.0, r.score / _RRF_MAX) if r.score else 0.0
                ev = pool.get(r.id)
                if ev is None:
                    pool[r.id] = ev = Evidence(chunk_id=r.id, payload=r.payload, fused=fused)
                ev.fused = max(ev.fused, fused)
                ev.score += boost
                if reason not in ev.reasons:
                    ev.reasons.append(reason)

        add(self.index.hybrid(dense, sparse, flt, self.config.candidates, self.config.prefetch), "hybrid")
        if linked.product_ids:
            narrowed = SearchFilter(flt.doc_types, tuple(linked.product_ids), flt.doc_ids, flt.audiences)
            add(self.index.hybrid(dense, sparse, narrowed, 15, self.config.prefetch), "product", 0.25, 0.8)
        if linked.law_doc_ids:
            narrowed = SearchFilter(flt.doc_types, (), tuple(linked.law_doc_ids), flt.audiences)
            add(self.index.hybrid(dense, sparse, narrowed, 10, self.config.prefetch), "law", 0.1, 0.8)
        if linked.article_keys:
            chunk_ids = [cid for ids in self.graph.article_chunks(linked.article_keys).values() for cid in ids]
            records = [r for r in self.index.retrieve(chunk_ids) if _allowed(r.payload, flt)]
            add([ScoredId(r.id, _RRF_MAX, r.payload) for r in records], "article", 1.0)

        ranked = self._rerank(query, linked, list(pool.values()))
        ranked = self._expand(ranked, flt)
        return ranked[:top_k]

    def _rerank(self, query: str, linked: LinkedQuestion, pool: list[Evidence]) -> list[Evidence]:
        terms = set(self.analyzer.terms(query))
        weights = {t: min(len(t), 4) for t in terms}
        total = sum(weights.values()) or 1
        intents = [doc_type for pattern, doc_type in _INTENTS if pattern.search(query)]
        products = set(linked.product_ids)
        for ev in pool:
            haystack = f"{ev.payload.get('title', '')} {ev.payload.get('heading', '')} {ev.text}"
            coverage = sum(w for t, w in weights.items() if t in haystack) / total
            score = 0.55 * ev.fused + 0.45 * coverage
            if products:
                if ev.product_id in products:
                    score += 0.2
                elif ev.product_id:
                    score -= 0.1  # a sibling product's look-alike clause
            if intents and ev.doc_type == intents[0]:
                score += 0.1
            elif not intents and not products and ev.doc_type == "regulation":
                score += 0.05  # a generic question: the law outranks one insurer's wording of it
            ev.score += score
        pool.sort(key=lambda e: -e.score)
        return pool

    def _expand(self, ranked: list[Evidence], flt: SearchFilter) -> list[Evidence]:
        """Graph proximity: an article that a top clause or case cites ranks just below its citer."""
        top = ranked[:3]
        clause_keys = [clause_key(ev.doc_id, ev.locator) for ev in top if ev.doc_type == "clause"]
        case_ids = [ev.doc_id for ev in top if ev.doc_type == "case"]
        if not (clause_keys or case_ids) or (flt.doc_types and "regulation" not in flt.doc_types):
            return ranked
        source_score = {clause_key(ev.doc_id, ev.locator): ev.score for ev in top if ev.doc_type == "clause"}
        source_score.update({ev.doc_id: ev.score for ev in top if ev.doc_type == "case"})
        wanted: dict[str, float] = {}
        for row in self.graph.cited_articles(clause_keys, case_ids):
            for cid in row["chunk_ids"][:1]:
                wanted[cid] = max(wanted.get(cid, 0.0), source_score.get(row["source"], 0.0) - 0.01)
        if not wanted:
            return ranked
        by_id = {ev.chunk_id: ev for ev in ranked}
        missing = [cid for cid in wanted if cid not in by_id]
        for record in self.index.retrieve(missing):
            if _allowed(record.payload, flt):
                by_id[record.id] = Evidence(record.id, record.payload, 0.0, 0.0)
                ranked.append(by_id[record.id])
        for cid, score in wanted.items():
            ev = by_id.get(cid)
            if ev is not None and score > ev.score:
                ev.score = score
                ev.reasons.append("cited")
        ranked.sort(key=lambda e: -e.score)
        return ranked


def _allowed(payload: dict[str, object], flt: SearchFilter) -> bool:
    if flt.doc_types and payload.get("doc_type") not in flt.doc_types:
        return False
    if flt.audiences and payload.get("audience") not in flt.audiences:
        return False
    return True
