"""The retrieval pipeline: one analysis pass → search → rerank → abstain or answer + flags.

``Retriever`` is a thin facade over the stages, each in its own module:

1. analysis.py: the question (and conversation) masked and linked once → a ``Query``.
2. search.py: hybrid dense + BM25, narrowed product and law channels, the cited article from
   the graph, fusion, graph expansion → evidence.
3. rerank.py: deterministic features, optional cross-encoder (scoring only).
4. abstain.py: when the evidence does not cover the question (未找到依据, no citation).
5. answering.py: one event stream for every kind of answer; ``ask`` collects it.
6. flags.py: every product named or cited that is not on sale, and every cited regulation that is
   repealed or not yet effective, read from the graph now.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from domain.mask import mask_pii
from graph.store import GraphStore
from index.analyzer import Analyzer
from index.embedders.base import Embedder
from index.vectors.base import SearchFilter, VectorIndex
from retrieval.abstain import Abstainer
from retrieval.analysis import Query, QueryAnalyzer
from retrieval.answer import NO_ANSWER
from retrieval.answering import Answerer, Prepared, collect
from retrieval.conversation import Conversation, ConversationStore
from retrieval.flags import annotate_products, evidence_flags, regulation_flags
from retrieval.generate import Generator
from retrieval.linking import LinkedQuestion, Linker
from retrieval.rerank import CrossEncoderReranker, Reranker, haystack
from retrieval.search import RRF_K, Searcher, SearchResult
from retrieval.types import Answer, Evidence, Flag, RetrievalConfig


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
        self._analysis = QueryAnalyzer(graph, index, analyzer, linker)
        self._searcher = Searcher(graph, index, embedder, analyzer, self.reranker, self.config)
        self._abstainer = Abstainer(graph, index, self.config)
        self._answerer = Answerer(graph, index, analyzer)

    # --- search -----------------------------------------------------------------------------

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
        evidence = self._searcher.search(self.understand(query, flt), top_k, flt).evidence
        annotate_products(self.graph, evidence)
        return evidence

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
        hits = self._searcher.search(q, top_k, flt).evidence
        flags = self.flags_for(q.linked, hits)
        regulation_flags(self.graph, hits)  # hits show each regulation's status; search flags stay product flags
        terms = sorted({w for w in q.words() | set(self.analyzer.words(q.text)) if len(w) >= 2}, key=len, reverse=True)
        return SearchResult(q, hits, flags, terms)

    # --- answers ----------------------------------------------------------------------------

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
        p = prepared or self.prepare(question, top_k, conversation, audiences=audiences)
        model = (generator or self.generator) if generate else None
        return collect(self._answerer.events(
            p, p.started, model=model, audience=audience, incremental=False,
            conversation=conversation, conversations=self.conversations,
        ))

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
        p = prepared or self.prepare(question, top_k, conversation, audiences=audiences)
        yield from self._answerer.events(
            p, p.started, model=self.generator, audience=audience, incremental=True,
            conversation=conversation, conversations=self.conversations,
        )

    def prepare(
        self, question: str, top_k: int, conversation: Conversation | None = None, *, audiences: tuple[str, ...] = ()
    ) -> Prepared:
        """Everything before composing: resolved question, evidence (or why there is none), flags.

        ``audiences`` is applied inside every search (Qdrant filter) and graph expansion, before
        ranking, so that nothing a caller may not see reaches evidence, answer or flags."""
        started = time.perf_counter()
        base = SearchFilter(audiences=audiences)
        analysis = self._analysis.analyse(question, conversation, base)
        q = analysis.query
        facts = self._answerer.facts(analysis.asked, analysis.asked_link, audiences, conversation, self.conversations)
        if facts is not None:  # no retrieval: the values come from the graph, each with its clause
            return Prepared(q, [c.evidence for c in facts.citations], facts.flags, None, False, None, facts=facts,
                            started=started)
        status = q.intent.status and bool(q.linked.products)
        flt = SearchFilter(product_ids=tuple(q.linked.product_ids), audiences=audiences) if status else base
        found = self._searcher.search(q, top_k, flt)
        evidence = found.evidence
        reason = self.abstain_reason(q, evidence, found.dense)
        if reason:
            evidence = []
        elif not status:
            # citations are the evidence the answer uses: a passage below the first that shares
            # none of the question's concepts is filler (same product, unrelated clause)
            # (a definition the first clause refers to, （见7.17）, is evidence through that clause)
            evidence = [ev for i, ev in enumerate(evidence)
                        if i == 0 or "definition" in ev.reasons or q.coverage(haystack(ev), known_only=True) > 0]
        flags = self.flags_for(q.linked, evidence) + regulation_flags(self.graph, evidence)
        return Prepared(q, evidence, flags, reason, status, analysis.resolved, started=started)

    def answer_from_facts(
        self, question: str, audiences: tuple[str, ...] = (), conversation: Conversation | None = None,
        linked: LinkedQuestion | None = None,
    ) -> Answer | None:
        """Comparison ("对比康宁2023和安享重疾") and matching ("哪些在售重疾险接受58岁投保") questions are
        answered from the facts read from the clauses, each value cited; None for other questions."""
        text = mask_pii(question).strip()
        linked = linked or self.linker.link(text)
        return self._answerer.facts(text, linked, audiences, conversation, self.conversations)

    # --- stage access -----------------------------------------------------------------------

    def understand(self, question: str, flt: SearchFilter | None = None) -> Query:
        return self._analysis.understand(question, flt)

    def flags_for(self, linked: LinkedQuestion, evidence: list[Evidence]) -> list[Flag]:
        """Flags for the final evidence, which is also marked with each product's status."""
        annotate_products(self.graph, evidence)
        return evidence_flags(self.graph, linked, evidence)

    def abstain_reason(self, q: Query, evidence: list[Evidence], dense: list[float] | None = None) -> str | None:
        """Why the evidence cannot answer the question, or None when it can (see abstain.py)."""
        return self._abstainer.reason(q, evidence, dense)

    def _law_titles(self, doc_ids: list[str]) -> list[str]:
        return self._analysis.law_titles(doc_ids)


__all__ = ["NO_ANSWER", "RRF_K", "Prepared", "RetrievalConfig", "Retriever", "SearchResult"]
