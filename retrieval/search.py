"""The search stage: a query → ranked evidence, one per article or clause section.

Channels: hybrid dense + BM25 over everything; the same narrowed to the products and to the
laws the question names; the article it cites, fetched straight from the graph. Their results
are fused, reranked (rerank.py), and an article that a top clause or case cites joins just
below its citer (graph proximity).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.refs import clause_key
from graph.store import GraphStore
from index.analyzer import Analyzer, term_id
from index.embedders.base import Embedder
from index.vectors.base import SUPERSEDED, ScoredId, SearchFilter, SparseVec, VectorIndex
from retrieval.analysis import Query
from retrieval.rerank import Reranker, rank_key
from retrieval.types import Evidence, Flag, RetrievalConfig

RRF_K = 60
_RRF_MAX = 2.0 / (RRF_K + 1)  # a chunk ranked first by both dense and BM25
EXPANSION_WEIGHT = 0.6


@dataclass
class Found:
    evidence: list[Evidence]
    dense: list[float]  # the query's dense vector (abstention compares the evidence with it)


@dataclass
class SearchResult:
    query: Query
    hits: list[Evidence]
    flags: list[Flag]
    terms: list[str]  # words to highlight, longest first

    def to_dict(self) -> dict[str, Any]:
        return {"hits": [h.hit() for h in self.hits], "flags": [f.to_dict() for f in self.flags],
                "total": len(self.hits), "terms": self.terms}


class Searcher:
    def __init__(
        self, graph: GraphStore, index: VectorIndex, embedder: Embedder, analyzer: Analyzer,
        reranker: Reranker, config: RetrievalConfig,
    ) -> None:
        self.graph = graph
        self.index = index
        self.embedder = embedder
        self.analyzer = analyzer
        self.reranker = reranker
        self.config = config

    def search(self, q: Query, top_k: int, flt: SearchFilter) -> Found:
        """``flt.audiences`` is applied inside every channel and the expansion, before ranking."""
        dense_text = q.text if not q.expansions else f"{q.text}（{'，'.join(q.expansions)}）"
        dense = self.embedder.embed_query(dense_text)
        pool = self._fuse(q, dense, flt)
        ranked = self.reranker.rerank(q, list(pool.values()))
        ranked = self._expand(q, ranked, flt)
        ranked = self._definitions(ranked, flt)
        if q.asked_filings:
            ranked = _asked_filing_only(q, ranked)
        if q.linked.product_ids:
            # The question names its products: other products' look-alike clauses are noise, not evidence.
            named = set(q.linked.product_ids)
            ranked = [ev for ev in ranked if ev.doc_type != "clause" or ev.product_id in named]
        return Found(_merge_sections(ranked)[:top_k], dense)

    def _sparse(self, q: Query) -> SparseVec:
        weights: dict[int, float] = {}
        for t in self.analyzer.terms(q.text):
            weights[term_id(t)] = 1.0
        for phrase in q.expansions:
            for t in self.analyzer.terms(phrase):
                weights.setdefault(term_id(t), EXPANSION_WEIGHT)
        ids = sorted(weights)
        return SparseVec(ids, [weights[i] for i in ids])

    def _fuse(self, q: Query, dense: list[float], flt: SearchFilter) -> dict[str, Evidence]:
        """Every channel's results in one pool; a chunk keeps its best fused score and every reason."""
        sparse = self._sparse(q)
        linked = q.linked
        prefetch = self.config.prefetch
        pool: dict[str, Evidence] = {}
        _add(pool, self.index.hybrid(dense, sparse, flt, self.config.candidates, prefetch), "hybrid")
        if linked.product_ids and not flt.product_ids:
            narrowed = SearchFilter(flt.doc_types, tuple(linked.product_ids), flt.doc_ids, flt.audiences)
            _add(pool, self.index.hybrid(dense, sparse, narrowed, 15, prefetch), "product", 0.8)
        if q.asked_filings:
            # an earlier filing asked for by its year or number: its own documents, although superseded
            docs = self._filing_documents(q.asked_filings)
            narrowed = (SearchFilter(flt.doc_types, (), tuple(docs), flt.audiences, current_only=False) if docs else
                        SearchFilter(flt.doc_types, tuple(q.asked_filings), flt.doc_ids, flt.audiences, current_only=False))
            _add(pool, self.index.hybrid(dense, sparse, narrowed, 15, prefetch), "filing", 0.9)
        if linked.law_doc_ids:
            narrowed = SearchFilter(flt.doc_types, flt.product_ids, tuple(linked.law_doc_ids), flt.audiences)
            _add(pool, self.index.hybrid(dense, sparse, narrowed, 10, prefetch), "law", 0.8)
        if linked.article_keys:
            chunk_ids = [cid for ids in self.graph.article_chunks(linked.article_keys).values() for cid in ids]
            records = [r for r in self.index.retrieve(chunk_ids) if _allowed(r.payload, flt)]
            _add(pool, [ScoredId(r.id, _RRF_MAX, r.payload) for r in records], "article")
        return pool

    def _filing_documents(self, asked: dict[str, str]) -> list[str]:
        """The documents of the filings asked for ({product: 2018 / 054号}), from the catalog's graph."""
        out = []
        for product_id, token in asked.items():
            product = self.graph.get_product(product_id) or {}
            out += [d["doc_id"] for d in product.get("documents") or [] if token in str(d.get("filing_no") or "")]
        return out

    def _definitions(self, ranked: list[Evidence], flt: SearchFilter) -> list[Evidence]:
        """The best clause's （见9.3）: the definition of a term it uses goes just below it, citable too."""
        if not ranked or ranked[0].doc_type != "clause":
            return ranked
        top = ranked[0]
        rows = self.graph.referred_clauses([clause_key(top.doc_id, top.locator)])
        shown = {ev.locator for ev in ranked[:5] if ev.doc_id == top.doc_id}
        referred = {row["locator"] for row in rows}
        for shown_ev in ranked[:5]:
            if shown_ev.doc_id == top.doc_id and shown_ev.locator in referred and "definition" not in shown_ev.reasons:
                shown_ev.reasons.append("definition")  # evidence because the top clause uses its term
        wanted = [cid for row in rows if row["locator"] not in shown for cid in row["chunk_ids"][:1]]
        if not wanted:
            return ranked
        by_id = {ev.chunk_id: ev for ev in ranked}
        for record in self.index.retrieve([cid for cid in wanted if cid not in by_id]):
            if _allowed(record.payload, flt):
                by_id[record.id] = Evidence(record.id, record.payload, 0.0, 0.0)
                ranked.append(by_id[record.id])
        for i, cid in enumerate(wanted):
            ev = by_id.get(cid)
            if ev is not None and ev.score < top.score - 0.02:
                ev.score = top.score - 0.02 - 0.001 * i
                ev.reasons.append("definition")
        ranked.sort(key=rank_key)
        return ranked

    def _expand(self, q: Query, ranked: list[Evidence], flt: SearchFilter) -> list[Evidence]:
        """Graph proximity: an article that a top clause or case cites ranks just below its citer."""
        top = ranked[:3]
        clause_keys = [clause_key(ev.doc_id, ev.locator) for ev in top if ev.doc_type == "clause"]
        case_ids = [ev.doc_id for ev in top if ev.doc_type == "case"]
        if not (clause_keys or case_ids) or (flt.doc_types and "regulation" not in flt.doc_types) or flt.product_ids:
            return ranked
        source_score = {clause_key(ev.doc_id, ev.locator): ev.score for ev in top if ev.doc_type == "clause"}
        source_score.update({ev.doc_id: ev.score for ev in top if ev.doc_type == "case"})
        # Asked for the law (法规依据): the cited article goes above its citer, otherwise just below.
        offset = 0.01 if q.intent.doc_type == "regulation" else -0.01
        wanted: dict[str, float] = {}
        for row in self.graph.cited_articles(clause_keys, case_ids):
            for cid in row["chunk_ids"][:1]:
                wanted[cid] = max(wanted.get(cid, 0.0), source_score.get(row["source"], 0.0) + offset)
        if not wanted:
            return ranked
        by_id = {ev.chunk_id: ev for ev in ranked}
        missing = [cid for cid in wanted if cid not in by_id]
        for record in self.index.retrieve(missing):
            if _allowed(record.payload, flt):
                ev = Evidence(record.id, record.payload, 0.0, 0.0)
                ev.features = {"coverage": q.coverage(f"{record.payload.get('title', '')} {ev.plain}")}
                by_id[record.id] = ev
                ranked.append(ev)
        for cid, score in wanted.items():
            cited = by_id.get(cid)
            if cited is not None and score > cited.score:
                cited.score = score
                cited.reasons.append("cited")
        ranked.sort(key=rank_key)
        return ranked


def _asked_filing_only(q: Query, ranked: list[Evidence]) -> list[Evidence]:
    """A product's passages from the filing of the asked year only (its other filings say it differently)."""
    out = []
    for ev in ranked:
        year = q.asked_filings.get(ev.product_id or "")
        filing = str(ev.payload.get("filing_no") or "")
        if year and filing and year not in filing:
            continue
        out.append(ev)
    return out


def _add(pool: dict[str, Evidence], results: list[ScoredId], reason: str, weight: float = 1.0) -> None:
    # A narrowed search ranks within a small set, so its fused scores count for less.
    for r in results:
        fused = weight * min(1.0, r.score / _RRF_MAX) if r.score else 0.0
        ev = pool.get(r.id)
        if ev is None:
            ev = Evidence(chunk_id=r.id, payload=r.payload, fused=fused)
            pool[r.id] = ev
        ev.fused = max(ev.fused, fused)
        if reason not in ev.reasons:
            ev.reasons.append(reason)


def _merge_sections(ranked: list[Evidence]) -> list[Evidence]:
    """One evidence per article or clause section: a long section's other chunks join its best-ranked one."""
    groups: dict[tuple[str, str], list[Evidence]] = {}
    order: list[Evidence] = []
    for ev in ranked:
        key = (ev.doc_id, ev.locator)
        if key not in groups:
            groups[key] = []
            order.append(ev)
        groups[key].append(ev)
    for ev in order:
        members = groups[(ev.doc_id, ev.locator)]
        if len(members) > 1 and ev.locator:
            members.sort(key=lambda m: int(m.payload.get("position") or 0))
            ev.payload = {**ev.payload, "text": "\n".join(m.text for m in members)}
    return order


def _allowed(payload: dict[str, object], flt: SearchFilter) -> bool:
    if payload.get("state") == "pending":
        return False
    if flt.current_only and payload.get("filing") == SUPERSEDED:
        return False
    if flt.doc_types and payload.get("doc_type") not in flt.doc_types:
        return False
    if flt.audiences and payload.get("audience") not in flt.audiences:
        return False
    if flt.product_ids and payload.get("product_id") not in flt.product_ids:
        return False
    return True
