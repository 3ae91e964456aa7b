"""The retrieval pipeline: understand → hybrid search → rerank → graph expansion → abstain or answer + flags.

1. Understand: products (names, aliases, versions, fuzzy), laws and article numbers, synonyms
   (酒驾 → 酒后驾驶), doc-type / status / case-section / quantity intents, IDF-weighted concepts.
2. Search: hybrid dense + BM25 over everything, plus narrowed searches inside the named
   products and laws, plus the cited article fetched straight from the graph.
3. Rerank: deterministic features (see rerank.py), optional cross-encoder.
4. Graph proximity: an article a top clause or case cites ranks just below its citer.
5. Abstain when the evidence does not cover the question (未找到依据, no citation), when the
   cited article does not exist, or when the question names a product the catalog lacks.
6. Flags for every product named or cited that is not on sale, read from the graph now.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from domain.mask import mask_pii
from domain.refs import ARTICLE_NO, clause_key
from graph.store import GraphStore
from index.analyzer import Analyzer, term_id
from index.embedders.base import Embedder
from index.vectors.base import ScoredId, SearchFilter, SparseVec, VectorIndex
from retrieval.answer import NO_ANSWER, compose, numbered, status_lines, warning_lines
from retrieval.conversation import Conversation, ConversationStore, Turn, resolve
from retrieval.flags import product_flags
from retrieval.generate import Generator
from retrieval.intents import understand, versioned_names
from retrieval.linking import LinkedQuestion, Linker, _norm
from retrieval.rerank import (
    QUESTION_WORDS,
    Concept,
    CrossEncoderReranker,
    Query,
    Reranker,
    haystack,
    idf,
    numeral_forms,
    rank_key,
)
from retrieval.types import Answer, Citation, Evidence, Flag

logger = logging.getLogger(__name__)

RRF_K = 60
_RRF_MAX = 2.0 / (RRF_K + 1)  # a chunk ranked first by both dense and BM25
_ARTICLE_REF = re.compile(ARTICLE_NO)
EXPANSION_WEIGHT = 0.6
_VERSION_WORDS = re.compile(r"(?<!\d)\d{2}(?:\d{2})?\s*年?\s*[版款]")
_NEGATION = re.compile(r"^[没不未无别]+")
_FUNCTION_CHARS = re.compile(r"[能后要内没有天最多就还都先再才得可会让给把被从向吗呢吧了着过的地]")


@dataclass
class Prepared:
    retriever: Retriever
    query: Query
    evidence: list[Evidence]
    flags: list[Flag]
    reason: str | None
    status: bool
    resolved: str | None
    facts: Answer | None = None  # a comparison or matching question, answered from the product facts

    def sources(self) -> dict[str, Any]:
        """What the answer will draw on, for the audit record: citations (doc, locator) and flagged product ids."""
        return {
            "citations": [{"doc_id": ev.doc_id, "locator": ev.locator} for ev in self.evidence],
            "flags": [f.to_dict() for f in self.flags],
        }

    @property
    def generatable(self) -> bool:
        """A model may write this answer: there is evidence and it is not a catalog (status or facts) answer."""
        return bool(self.evidence) and not self.reason and not self.status and self.facts is None

    def extractive(self) -> tuple[str, list[Citation]]:
        r, q = self.retriever, self.query
        if self.status:
            rows = r.graph.product_status(q.linked.product_ids)
            first = sorted(self.evidence, key=lambda ev: int(ev.payload.get("position") or 0))[:1]
            return compose(q.text, first, self.flags, r.analyzer, lead=status_lines(rows))
        if self.reason:
            return compose(q.text, [], self.flags, r.analyzer, reason=self.reason)
        return compose(q.text, self.evidence, self.flags, r.analyzer, unit=q.intent.unit, words=q.words())


@dataclass
class SearchResult:
    query: Query
    hits: list[Evidence]
    flags: list[Flag]
    terms: list[str]  # words to highlight, longest first

    def to_dict(self) -> dict[str, Any]:
        return {"hits": [h.hit() for h in self.hits], "flags": [f.to_dict() for f in self.flags],
                "total": len(self.hits), "terms": self.terms}


@dataclass(frozen=True)
class RetrievalConfig:
    prefetch: int = 60
    candidates: int = 40
    # Abstention (see Retriever.abstain_reason).
    min_known_coverage: float = 0.34
    min_similarity: float = 0.85
    max_unknown_share: float = 0.45
    unknown_similarity: float = 0.895
    all_unknown_share: float = 0.85
    all_unknown_similarity: float = 0.92
    # Between min_similarity and this, the passages must cover most of the question, not one of its words.
    weak_similarity: float = 0.88
    weak_min_coverage: float = 0.70


class Retriever:
    def __init__(
        self,
        graph: GraphStore,
        index: VectorIndex,
        embedder: Embedder,
        analyzer: Analyzer,
        linker: Linker,
        config: RetrievalConfig | None = None,
        reranker: CrossEncoderReranker | None = None,
        generator: Generator | None = None,
    ) -> None:
        self.graph = graph
        self.index = index
        self.embedder = embedder
        self.analyzer = analyzer
        self.linker = linker
        self.lexicon = linker.lexicon
        self.config = config or RetrievalConfig()
        self.reranker = Reranker(reranker)
        self.generator = generator
        self.conversations: ConversationStore | None = ConversationStore()

    # --- public -----------------------------------------------------------------------------

    def search(
        self,
        query: str,
        top_k: int = 10,
        doc_types: tuple[str, ...] = (),
        product_ids: tuple[str, ...] = (),
        audiences: tuple[str, ...] = (),
    ) -> list[Evidence]:
        """``audiences``: what the caller may see (a cs_bot: public only), enforced inside the search."""
        flt = SearchFilter(doc_types=doc_types, product_ids=product_ids, audiences=audiences)
        q = self.understand(query, flt)
        return self._retrieve(q, top_k, flt)

    def search_query(
        self,
        query: str,
        top_k: int = 10,
        doc_types: tuple[str, ...] = (),
        product_ids: tuple[str, ...] = (),
        audiences: tuple[str, ...] = (),
    ) -> SearchResult:
        """Clause search (``/v1/search``): hits, flags for the products involved and the words to highlight,
        from one analysis of the query."""
        flt = SearchFilter(doc_types=doc_types, product_ids=product_ids, audiences=audiences)
        q = self.understand(query, flt)
        hits = self._retrieve(q, top_k, flt)
        flags = self.flags_for(q.linked, hits)
        terms = sorted({w for w in q.words() | set(self.analyzer.words(q.text)) if len(w) >= 2}, key=len, reverse=True)
        return SearchResult(q, hits, flags, terms)

    def ask(
        self,
        question: str,
        top_k: int = 5,
        *,
        audience: str = "broker",
        conversation: Conversation | None = None,
        generate: bool = True,
        generator: Generator | None = None,
        audiences: tuple[str, ...] = (),
        prepared: Prepared | None = None,
    ) -> Answer:
        """``generate=False`` forces the extractive answer; ``generator`` overrides the configured model;
        ``audiences`` limits what the question may draw on (a cs_bot: public only)."""
        started = time.perf_counter()
        p = prepared or self.prepare(question, top_k, conversation, audiences=audiences)
        if p.facts is not None:
            p.facts.took_ms = (time.perf_counter() - started) * 1000
            return p.facts
        answer = None
        model = generator or self.generator
        if p.generatable and generate and model is not None:
            verified = model.generate(p.query.text, p.evidence, audience)
            if not verified.fallback:
                text = "\n".join([*warning_lines(p.flags), verified.text])
                answer = Answer(mask_pii(text), numbered(p.evidence), p.flags, 0.0, mode="generated")
        if answer is None:
            text, citations = p.extractive()
            answer = Answer(text, citations, p.flags, 0.0)
        answer.took_ms = (time.perf_counter() - started) * 1000
        self._finish(p, answer, conversation)
        return answer

    def ask_stream(
        self,
        question: str,
        top_k: int = 5,
        *,
        audience: str = "broker",
        conversation: Conversation | None = None,
        audiences: tuple[str, ...] = (),
        prepared: Prepared | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Events for streaming: token… (or replace), citations, flags, done."""
        started = time.perf_counter()
        p = prepared or self.prepare(question, top_k, conversation, audiences=audiences)
        if p.facts is not None:
            p.facts.took_ms = (time.perf_counter() - started) * 1000
            for line in p.facts.answer.splitlines(keepends=True):
                yield {"event": "token", "text": line}
            data = p.facts.to_dict()
            yield {"event": "citations", "citations": data["citations"]}
            yield {"event": "flags", "flags": data["flags"]}
            yield {"event": "done", **{k: v for k, v in data.items() if k not in ("citations", "flags")}}
            return
        answer: Answer | None = None
        warnings = [line + "\n" for line in warning_lines(p.flags)]
        if p.generatable and self.generator is not None:
            for w in warnings:
                yield {"event": "token", "text": w}
            streamed: list[str] = []
            final = None
            for sentence, running in self.generator.stream(p.query.text, p.evidence, audience):
                final = running
                if sentence:
                    streamed.append(mask_pii(sentence))
                    yield {"event": "token", "text": streamed[-1]}
            if final is not None and not final.fallback:
                text = "".join([*warnings, *streamed]).strip()
                answer = Answer(text, numbered(p.evidence), p.flags, 0.0, mode="generated")
            else:
                text, citations = p.extractive()
                answer = Answer(text, citations, p.flags, 0.0)
                yield {"event": "replace", "text": text}
        else:
            text, citations = p.extractive()
            answer = Answer(text, citations, p.flags, 0.0)
            for line in text.splitlines(keepends=True):
                yield {"event": "token", "text": line}
        answer.took_ms = (time.perf_counter() - started) * 1000
        self._finish(p, answer, conversation)
        data = answer.to_dict()
        yield {"event": "citations", "citations": data["citations"]}
        yield {"event": "flags", "flags": data["flags"]}
        yield {"event": "done", **{k: v for k, v in data.items() if k not in ("citations", "flags")}}

    def prepare(
        self, question: str, top_k: int, conversation: Conversation | None = None, *, audiences: tuple[str, ...] = ()
    ) -> Prepared:
        """Everything before composing: resolved question, evidence (or why there is none), flags.

        ``audiences`` is applied inside every search (Qdrant filter) and graph expansion, before
        ranking, so that nothing a caller may not see reaches evidence, answer or flags."""
        previous = conversation.turns[-1] if conversation and conversation.turns else None
        resolved = question
        if previous is not None:
            first = self.linker.link(mask_pii(question))
            resolved = resolve(question, bool(first.products or first.law_doc_ids), previous)
        base = SearchFilter(audiences=audiences)
        q = self.understand(resolved, base)
        facts = self.answer_from_facts(question, audiences, conversation, linked=q.linked if resolved == question else None)
        if facts is not None:  # no retrieval: the values come from the graph, each with its clause
            return Prepared(self, q, [c.evidence for c in facts.citations], facts.flags, None, False, None, facts=facts)
        flt = base
        status = q.intent.status and bool(q.linked.products)
        if status:
            flt = SearchFilter(product_ids=tuple(q.linked.product_ids), audiences=audiences)
        evidence, dense = self._retrieve_with_vector(q, top_k, flt)
        reason = self.abstain_reason(q, evidence, dense)
        if reason:
            evidence = []
        flags = self.flags_for(q.linked, evidence)
        return Prepared(self, q, evidence, flags, reason, status, resolved if resolved != question else None)

    def answer_from_facts(
        self, question: str, audiences: tuple[str, ...] = (), conversation: Conversation | None = None,
        linked: LinkedQuestion | None = None,
    ) -> Answer | None:
        """Comparison ("对比康宁2023和安享重疾") and matching ("哪些在售重疾险接受58岁投保") questions are
        answered from the facts read from the clauses, each value cited; None for other questions."""
        from retrieval.product_facts import facts_answer

        text = mask_pii(question).strip()
        linked = linked or self.linker.link(text)
        result = facts_answer(self.graph, text, linked.product_ids)
        if result is None or not result["citations"]:
            return None
        evidence: list[Evidence] = []
        stored = {r.id: r for r in self.index.retrieve([c["chunk_id"] for c in result["citations"] if c.get("chunk_id")])}
        for c in result["citations"]:
            record = stored.get(c.get("chunk_id") or "")
            if record is None or (audiences and record.payload.get("audience") not in audiences):
                return None  # a value the caller may not see: the ordinary pipeline answers instead
            evidence.append(Evidence(record.id, record.payload, 0.0, 0.0, reasons=["fact"]))
        flags = product_flags(self.graph, [*linked.product_ids, *result["product_ids"]])
        body = "\n".join([*warning_lines(flags), *result["lines"]])
        answer = Answer(mask_pii(body), numbered(evidence), flags, 0.0, table=result["table"])
        if conversation is not None and self.conversations is not None:
            answer.conversation_id = conversation.id
            names = [ref.name for ref in linked.products]
            self.conversations.add(conversation, Turn(text, linked.product_ids, names, []))
        logger.info("ask: facts (%s), %d citations, %d flags", result["table"]["kind"], len(evidence), len(flags))
        return answer

    def _finish(self, p: Prepared, answer: Answer, conversation: Conversation | None) -> None:
        answer.resolved_question = p.resolved
        if conversation is not None and self.conversations is not None:
            answer.conversation_id = conversation.id
            names = [ref.name for ref in p.query.linked.products]
            laws = self._law_titles(p.query.linked.law_doc_ids)
            self.conversations.add(conversation, Turn(mask_pii(p.query.text), p.query.linked.product_ids, names, laws))
        logger.info(
            "ask: %s, %d citations, %d flags, %.0f ms (question %d chars)%s",
            answer.mode, len(answer.citations), len(answer.flags), answer.took_ms, len(p.query.text),
            " abstained" if p.reason else "",
        )

    def flags_for(self, linked: LinkedQuestion, evidence: list[Evidence]) -> list[Flag]:
        product_ids = list(linked.product_ids)
        product_ids += [ev.product_id for ev in evidence if ev.product_id]
        case_ids = [ev.doc_id for ev in evidence if ev.doc_type == "case"]
        for ids in self.graph.case_products(case_ids).values():
            product_ids += ids
        return product_flags(self.graph, product_ids)

    # --- understanding ------------------------------------------------------------------------

    def understand(self, question: str, flt: SearchFilter | None = None) -> Query:
        text = mask_pii(question).strip()
        linked = self.linker.link(text)
        q = Query(text=text, linked=linked, intent=understand(text), expansions=self.lexicon.expansions(text))
        q.concepts = self._concepts(q, flt or SearchFilter())
        if q.intent.status and q.concepts:
            # 停售后还能续保吗 asks about renewal, not about the status
            q.intent = replace(q.intent, status=False)
        known = " ".join(linked.product_spans)
        q.unknown_names = [n for n in versioned_names(text) if not linked.products and _norm(n) not in known]
        return q

    def _concepts(self, q: Query, flt: SearchFilter) -> list[Concept]:
        """The question's content as concepts (a word, or a synonym group), IDF-weighted from the index.

        Left out: the names of linked products and laws, article numbers, question forms
        (多少, 赔不赔, 案例) and single characters.
        """
        text = _ARTICLE_REF.sub(" ", q.text)
        text = _VERSION_WORDS.sub(lambda m: _norm(m.group(0)), text.lower())
        for span in sorted(q.linked.product_spans, key=len, reverse=True):
            text = text.replace(span, " ")
        law_titles = " ".join(self._law_titles(q.linked.law_doc_ids))
        groups: list[tuple[str, ...]] = []
        pieces: list[str] = []
        last = 0
        for m in self.lexicon.matches(text):
            pieces.append(text[last : m.start])
            last = m.end
            if not m.keep and not any(alt in law_titles for alt in (m.surface, *m.canonicals)):
                groups.append((m.surface, *m.canonicals))
        pieces.append(text[last:])
        for piece in pieces:
            for term in self.analyzer.words(piece):
                term = _NEGATION.sub("", term)
                if len(term) < 2 or term in QUESTION_WORDS or (law_titles and term in law_titles):
                    continue
                groups.append(numeral_forms(term))
        unique = list(dict.fromkeys(groups))
        if not unique:
            return []
        # df of an alternative ≈ df of its rarest word; a concept is as common as its commonest alternative.
        alt_terms = {alt: self.analyzer.terms(alt) or [alt] for g in unique for alt in g}
        ids = sorted({term_id(t) for terms in alt_terms.values() for t in terms})
        df = self.index.document_frequency(ids, flt)
        n = max(1, self._count())
        concepts = []
        for g in unique:
            alt_df = [min(df.get(term_id(t), 0) for t in alt_terms[alt]) for alt in g]
            concept_df = max(alt_df)
            if concept_df == 0 and len(g) == 1 and len(g[0]) <= 3 and _FUNCTION_CHARS.search(g[0]):
                continue  # a tokenizer artefact (能办, 天内, 后要), not a word the corpus lacks
            concepts.append(Concept(g, idf(concept_df, n), concept_df))
        return concepts

    def _law_titles(self, doc_ids: list[str]) -> list[str]:
        if not doc_ids:
            return []
        return [r["title"] for r in self.graph.regulation_names() if r["doc_id"] in doc_ids]

    _count_cache: tuple[float, int] = (0.0, 0)

    def _count(self) -> int:
        now = time.monotonic()
        if now - self._count_cache[0] > 5.0:
            self._count_cache = (now, self.index.count())
        return self._count_cache[1]

    def abstain_reason(self, q: Query, evidence: list[Evidence], dense: list[float] | None = None) -> str | None:
        """Why the evidence cannot answer the question, or None when it can.

        Signals, all cheap: the cited article does not exist; the question names a versioned
        product the catalog lacks; the best passages leave the question's known words
        uncovered; or the question is mostly words the corpus never uses and the dense model
        finds nothing close.
        """
        cfg = self.config
        if q.linked.missing_articles and not q.linked.article_keys:
            names = "、".join(k.replace("#", "") for k in q.linked.missing_articles[:2])
            return f"所问条文不存在（{names}）"
        if not evidence:
            return "没有相关内容"
        top = evidence[:3]
        if q.unknown_names:
            seen = " ".join(f"{ev.payload.get('title', '')} {ev.text}" for ev in top)
            missing = [n for n in q.unknown_names if n[-2:] not in seen]
            if missing:
                return f"产品目录中没有“{missing[0]}”"
        if (q.linked.article_keys and any("article" in ev.reasons for ev in top)) or (q.intent.status and q.linked.products):
            return None
        if not q.concepts:
            return None
        named = q.linked.product_ids
        if named and not q.linked.law_doc_ids and not set(q.intent.doc_types) & {"regulation", "case"}:
            # A question about a named product is answered from that product's own wording (or a
            # case about it); rules about other products' features (分红保险…) do not answer it.
            concerned = {pid for ids in self.graph.case_products([ev.doc_id for ev in top if ev.doc_type == "case"]).values() for pid in ids}
            if not any(ev.product_id in named or concerned & set(named) for ev in top):
                return "所问产品的条款未涉及这一内容"
        known = max(q.coverage(haystack(ev), known_only=True) for ev in top)
        similarity = max(self.index.dense_similarity(dense, [ev.chunk_id for ev in top]).values(), default=0.0) if dense else 1.0
        if similarity < cfg.min_similarity:
            return "现有内容与问题无关"
        if similarity < cfg.weak_similarity and max(q.coverage(haystack(ev)) for ev in top) < cfg.weak_min_coverage:
            return "现有内容与问题关系不大"
        if known < cfg.min_known_coverage:
            return "现有内容未涉及问题的要点"
        unknown = q.unknown_share
        if unknown >= cfg.max_unknown_share and similarity < cfg.unknown_similarity:
            return "问题涉及的内容不在现有法规、条款和案例中"
        if unknown >= cfg.all_unknown_share and similarity < cfg.all_unknown_similarity:
            return "问题涉及的内容不在现有法规、条款和案例中"
        return None

    # --- stages -----------------------------------------------------------------------------

    def _sparse(self, q: Query) -> SparseVec:
        weights: dict[int, float] = {}
        for t in self.analyzer.terms(q.text):
            weights[term_id(t)] = 1.0
        for phrase in q.expansions:
            for t in self.analyzer.terms(phrase):
                weights.setdefault(term_id(t), EXPANSION_WEIGHT)
        ids = sorted(weights)
        return SparseVec(ids, [weights[i] for i in ids])

    def _retrieve(self, q: Query, top_k: int, flt: SearchFilter) -> list[Evidence]:
        return self._retrieve_with_vector(q, top_k, flt)[0]

    def _retrieve_with_vector(self, q: Query, top_k: int, flt: SearchFilter) -> tuple[list[Evidence], list[float]]:
        dense_text = q.text if not q.expansions else f"{q.text}（{'，'.join(q.expansions)}）"
        dense = self.embedder.embed_query(dense_text)
        sparse = self._sparse(q)
        linked = q.linked
        pool: dict[str, Evidence] = {}

        def add(results: list[ScoredId], reason: str, weight: float = 1.0) -> None:
            # A narrowed search ranks within a small set, so its fused scores count for less.
            for r in results:
                fused = weight * min(1.0, r.score / _RRF_MAX) if r.score else 0.0
                ev = pool.get(r.id)
                if ev is None:
                    pool[r.id] = ev = Evidence(chunk_id=r.id, payload=r.payload, fused=fused)
                ev.fused = max(ev.fused, fused)
                if reason not in ev.reasons:
                    ev.reasons.append(reason)

        add(self.index.hybrid(dense, sparse, flt, self.config.candidates, self.config.prefetch), "hybrid")
        if linked.product_ids and not flt.product_ids:
            narrowed = SearchFilter(flt.doc_types, tuple(linked.product_ids), flt.doc_ids, flt.audiences)
            add(self.index.hybrid(dense, sparse, narrowed, 15, self.config.prefetch), "product", 0.8)
        if linked.law_doc_ids:
            narrowed = SearchFilter(flt.doc_types, flt.product_ids, tuple(linked.law_doc_ids), flt.audiences)
            add(self.index.hybrid(dense, sparse, narrowed, 10, self.config.prefetch), "law", 0.8)
        if linked.article_keys:
            chunk_ids = [cid for ids in self.graph.article_chunks(linked.article_keys).values() for cid in ids]
            records = [r for r in self.index.retrieve(chunk_ids) if _allowed(r.payload, flt)]
            add([ScoredId(r.id, _RRF_MAX, r.payload) for r in records], "article")

        ranked = self.reranker.rerank(q, list(pool.values()))
        ranked = self._expand(q, ranked, flt)
        if linked.product_ids:
            # The question names its products: other products' look-alike clauses are noise, not evidence.
            named = set(linked.product_ids)
            ranked = [ev for ev in ranked if ev.doc_type != "clause" or ev.product_id in named]
        return _merge_sections(ranked)[:top_k], dense

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
                ev.features = {"coverage": q.coverage(f"{record.payload.get('title', '')} {ev.text}")}
                by_id[record.id] = ev
                ranked.append(ev)
        for cid, score in wanted.items():
            ev = by_id.get(cid)
            if ev is not None and score > ev.score:
                ev.score = score
                ev.reasons.append("cited")
        ranked.sort(key=rank_key)
        return ranked


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
    if flt.doc_types and payload.get("doc_type") not in flt.doc_types:
        return False
    if flt.audiences and payload.get("audience") not in flt.audiences:
        return False
    if flt.product_ids and payload.get("product_id") not in flt.product_ids:
        return False
    return True


__all__ = ["NO_ANSWER", "RetrievalConfig", "Retriever"]
