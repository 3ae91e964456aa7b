"""Baselines for ``brokerkg eval --baselines``: what people would build instead, on the same corpus.

- ``bm25``: the sparse (BM25) half of our index alone, top-k, no query understanding.
- ``dense``: the dense (multilingual-e5-small) half alone.
- ``naive-rag``: the LangChain tutorial pipeline: each document as plain text,
  ``RecursiveCharacterTextSplitter`` (500 characters, 50 overlap), the same embedding model,
  ``InMemoryVectorStore``, dense top-k. No structure: its chunks know their document but
  not their article or clause.

All three answer with the same extractive composer as our pipeline, and flag products only
from what they cite (they have no entity linking), so the comparison isolates retrieval.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from graph.store import GraphStore
from index.analyzer import Analyzer
from index.embedders.base import Embedder
from index.vectors.base import SearchFilter, VectorIndex
from retrieval.answer import compose
from retrieval.flags import product_flags
from retrieval.types import Answer, Evidence

logger = logging.getLogger(__name__)


def _answer(graph: GraphStore, analyzer: Analyzer, question: str, evidence: list[Evidence]) -> dict[str, Any]:
    # the same rule as the pipeline: a product's own documents raise its flag, a case about it does not
    flags = product_flags(graph, [ev.product_id for ev in evidence if ev.product_id and ev.doc_type != "case"])
    text, citations = compose(question, evidence, flags, analyzer)
    return Answer(answer=text, citations=citations, flags=flags, took_ms=0.0).to_dict()


class SingleChannel:
    """Our index with one of its two channels: ``bm25`` or ``dense``."""

    def __init__(self, mode: str, graph: GraphStore, index: VectorIndex, embedder: Embedder, analyzer: Analyzer) -> None:
        if mode not in ("bm25", "dense"):
            raise ValueError(mode)
        self.name = mode
        self.mode = mode
        self.graph, self.index, self.embedder, self.analyzer = graph, index, embedder, analyzer

    def ask(self, question: str, top_k: int) -> dict[str, Any]:
        dense = self.embedder.embed_query(question) if self.mode == "dense" else None
        sparse = self.analyzer.query_vector(question) if self.mode == "bm25" else None
        hits = self.index.hybrid(dense, sparse, SearchFilter(), top_k, max(top_k, 20))
        evidence = [Evidence(h.id, h.payload, score=1.0 / (rank + 1)) for rank, h in enumerate(hits)]
        return _answer(self.graph, self.analyzer, question, evidence)


@dataclass
class _Span:
    start: int
    end: int
    locator: str


class _LangChainEmbeddings:
    """Our embedder behind LangChain's ``Embeddings`` interface (built lazily: langchain is imported here only)."""

    @staticmethod
    def wrap(embedder: Embedder) -> Any:
        from langchain_core.embeddings import Embeddings

        class Wrapped(Embeddings):
            def embed_documents(self, texts: list[str]) -> list[list[float]]:
                return embedder.embed_passages(texts)

            def embed_query(self, text: str) -> list[float]:
                return embedder.embed_query(text)

        return Wrapped()


class NaiveRAG:
    """The LangChain tutorial RAG over the same documents (see the module docstring)."""

    name = "naive-rag (langchain)"

    def __init__(
        self,
        graph: GraphStore,
        index: VectorIndex,
        embedder: Embedder,
        analyzer: Analyzer,
        chunk_size: int = 500,
        chunk_overlap: int = 50,
    ) -> None:
        self.graph, self.index, self.embedder, self.analyzer = graph, index, embedder, analyzer
        self.chunk_size, self.chunk_overlap = chunk_size, chunk_overlap
        self._store: Any = None
        self.chunks = 0

    def build(self) -> NaiveRAG:
        from langchain_core.documents import Document as LCDocument
        from langchain_core.vectorstores import InMemoryVectorStore
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        splitter = RecursiveCharacterTextSplitter(
            chunk_size=self.chunk_size,
            chunk_overlap=self.chunk_overlap,
            separators=["\n\n", "\n", "。", "；", ""],
            keep_separator="end",
            add_start_index=True,
        )
        documents = []
        for doc in _documents(self.index):
            first = doc["chunks"][0]
            meta = {k: first.get(k) for k in ("doc_id", "doc_type", "title", "product_id")}
            for piece in splitter.split_documents([LCDocument(page_content=doc["text"], metadata=meta)]):
                start = int(piece.metadata["start_index"])
                end = start + len(piece.page_content)
                piece.metadata["locators"] = _covered(doc["spans"], start, end)
                documents.append(piece)
        self._store = InMemoryVectorStore(_LangChainEmbeddings.wrap(self.embedder))
        self._store.add_documents(documents)
        self.chunks = len(documents)
        logger.info("naive RAG baseline: %d chunks", self.chunks)
        return self

    def ask(self, question: str, top_k: int) -> dict[str, Any]:
        if self._store is None:
            self.build()
        evidence = []
        for i, (doc, score) in enumerate(self._store.similarity_search_with_score(question, k=top_k)):
            payload = dict(doc.metadata)
            locators = payload.pop("locators")
            payload.update(text=doc.page_content, locator=locators[0] if locators else "", chunk_id=f"naive-{i}")
            ev = Evidence(payload["chunk_id"], payload, score=float(score))
            ev.payload["locators"] = locators
            evidence.append(ev)
        answer = _answer(self.graph, self.analyzer, question, evidence)
        for citation, ev in zip(answer["citations"], evidence, strict=True):
            citation["locators"] = ev.payload["locators"]
        return answer


def _documents(index: VectorIndex) -> list[dict[str, Any]]:
    """Each stored document as plain text (headings and passages in reading order) with its sections' spans."""
    by_doc: dict[str, list[dict[str, Any]]] = {}
    for payload in index.payloads():
        by_doc.setdefault(str(payload["doc_id"]), []).append(payload)
    out: list[dict[str, Any]] = []
    for chunks in by_doc.values():
        chunks.sort(key=lambda c: int(c.get("position", 0)))
        text = ""
        spans: list[_Span] = []
        last_heading = None
        for c in chunks:
            heading = str(c.get("heading") or "")
            if heading and heading != last_heading:
                text += heading.split(" > ")[-1] + "\n"
                last_heading = heading
            start = len(text)
            text += str(c.get("text") or "") + "\n\n"
            spans.append(_Span(start, len(text), str(c.get("locator") or "")))
        out.append({"text": f"{chunks[0].get('title', '')}\n\n{text}", "chunks": chunks, "spans": spans,
                    "offset": len(str(chunks[0].get("title", ""))) + 2})
        for span in spans:
            span.start += out[-1]["offset"]
            span.end += out[-1]["offset"]
    return out


def _covered(spans: list[_Span], start: int, end: int) -> list[str]:
    """Locators a naive chunk covers: at least half of the section, or half of the chunk, lies in it.

    Generous on purpose: a 500-character chunk spanning three short articles gets credit for all three.
    """
    scored: list[tuple[int, str]] = []
    for span in spans:
        overlap = min(end, span.end) - max(start, span.start)
        if overlap <= 0:
            continue
        if overlap >= 0.5 * min(span.end - span.start, end - start):
            scored.append((overlap, span.locator))
    scored.sort(key=lambda s: -s[0])
    return list(dict.fromkeys(loc for _, loc in scored))
