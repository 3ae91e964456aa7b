"""Documents in the graph: the one-transaction write of a document, its versions, the ingest ledger,
audience and deletion."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from domain.refs import article_key, clause_key, is_article_locator, law_aliases
from domain.types import Document
from graph import queries as q
from graph.base import GraphExecutor
from graph.regulations import RegulationGraph, regulation_props

_LABEL = {"regulation": q.LABEL_REGULATION, "clause": q.LABEL_WORDING, "case": q.LABEL_CASE}


class DocumentGraph(RegulationGraph):
    """Document reads and writes; part of ``GraphStore``."""

    executor: GraphExecutor

    def record_failure(self, doc_id: str, source: str, reason: str) -> None:
        at = datetime.now(UTC).isoformat(timespec="seconds")
        self.executor.run(q.RECORD_FAILURE, {"doc_id": doc_id, "source": source, "reason": reason, "at": at}, write=True)

    def ledger(self) -> list[dict[str, Any]]:
        """Every document with its state: done (content_hash set), processing (interrupted) or failed."""
        return self.executor.run(q.LEDGER)

    def mark_interrupted(self, doc_id: str, reason: str) -> None:
        self.executor.run(q.MARK_INTERRUPTED, {"doc_id": doc_id, "reason": reason}, write=True)

    def set_audience(self, doc_id: str, audience: str) -> list[str]:
        """Set a document's audience (and its sections'); returns its chunk ids."""
        rows = self.executor.run(q.SET_AUDIENCE, {"doc_id": doc_id, "audience": audience}, write=True)
        return list(rows[0]["chunk_ids"] or []) if rows else []

    def set_superseded(self, doc_id: str, by: str | None) -> list[str]:
        """Mark a wording's filing as replaced by a later filing ``by`` (None: it is current); returns its chunk ids."""
        rows = self.executor.run(q.SET_SUPERSEDED, {"doc_id": doc_id, "by": by}, write=True)
        if by is not None:
            self.executor.run(q.LINK_SUPERSEDED, {"doc_id": doc_id, "by": by}, write=True)
        return list(rows[0]["chunk_ids"] or []) if rows else []

    def document_info(self, doc_id: str) -> dict[str, Any] | None:
        rows = self.executor.run(q.DOCUMENT_INFO, {"doc_id": doc_id})
        return rows[0] if rows else None

    def get_document(self, doc_id: str) -> dict[str, Any] | None:
        rows = self.executor.run(q.GET_DOCUMENT, {"doc_id": doc_id})
        return rows[0] if rows else None

    def write_document(self, doc: Document) -> None:
        """Replace everything the graph holds for ``doc`` with its new version, in one transaction.

        The document's content_hash is written last, so an interrupted write is seen as
        "not ingested" and the next ingest redoes it.
        """
        params = {"doc_id": doc.doc_id}
        batch: list[tuple[str, dict[str, Any]]] = [
            (query, params) for query in (q.UNLINK_ARTICLES, q.DELETE_ARTICLE_CITATIONS, q.DELETE_FACTS,
                                          q.DELETE_CLAUSES, q.DELETE_DOCUMENT_EDGES, q.UNLINK_PRODUCT_DOCUMENT)
        ]
        batch += [(q.UPSERT_DOCUMENT, {"doc_id": doc.doc_id, "props": _document_props(doc)}), (_LABEL[doc.doc_type], params)]
        if doc.doc_type == "regulation" and doc.law_key:
            batch += _regulation_statements(doc, doc.law_key) + self.repeal_statements(doc)
        elif doc.doc_type == "clause":
            batch += _wording_statements(doc)
        else:
            batch += _case_statements(doc)
        done = {"doc_id": doc.doc_id, "content_hash": doc.content_hash, "chunk_ids": [c.chunk_id for c in doc.chunks]}
        batch.append((q.MARK_DOCUMENT_DONE, done))
        self.executor.run_batch(batch, write=True)

    def add_version(self, doc: Document) -> None:
        """Keep this version's sections as history (not searched): for versions and clause diffs."""
        sections = json.dumps([{"locator": s.locator, "heading": " > ".join(s.heading_path), "text": s.text}
                               for s in doc.sections], ensure_ascii=False)
        self.executor.run(q.ADD_VERSION, {
            "doc_id": doc.doc_id, "key": f"{doc.doc_id}@{doc.version}", "version": doc.version,
            "at": datetime.now(UTC).isoformat(timespec="seconds"), "sections": sections, "title": doc.title,
        }, write=True)

    def versions(self, doc_id: str) -> list[dict[str, Any]]:
        rows = self.executor.run(q.VERSIONS, {"doc_id": doc_id})
        return [{**r, "sections": json.loads(r["sections"] or "[]")} for r in rows]

    def delete_document(self, doc_id: str) -> None:
        params = {"doc_id": doc_id}
        statements = (q.DELETE_VERSIONS, q.DELETE_FACTS, q.UNLINK_ARTICLES, q.DELETE_ARTICLE_CITATIONS, q.DELETE_CLAUSES, q.DELETE_DOCUMENT)
        batch = [(statement, params) for statement in statements] + [(q.DELETE_ORPHAN_STUBS, {})]
        self.executor.run_batch(batch, write=True)



def _fact_row(doc: Document, fact: Any) -> dict[str, Any]:
    props = {k: v for k, v in fact.to_dict().items() if v not in (None, "", [])}
    props.update(doc_id=doc.doc_id, product_id=doc.product_id, title=doc.title)
    return {
        "key": f"{doc.doc_id}#{fact.type}", "product_id": doc.product_id,
        "clause_key": clause_key(doc.doc_id, fact.locator), "props": props,
    }


def _ref_row(law_key: str, article: str, source_key: str) -> dict[str, str]:
    return {"law_key": law_key, "article": article, "article_key": article_key(law_key, article), "source_key": source_key}


Statements = list[tuple[str, dict[str, Any]]]


def _document_props(doc: Document) -> dict[str, Any]:
    return {
        "doc_type": doc.doc_type,
        "title": doc.title,
        "source": doc.source,
        "audience": doc.audience,
        "product_id": doc.product_id,
        "version": doc.version,
        "law_key": doc.law_key,
        "filing_no": doc.filing_no,
        "aliases": law_aliases(doc.title) if doc.doc_type == "regulation" else None,
        "ingested_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "status": "processing",
        **(regulation_props(doc) if doc.doc_type == "regulation" else {}),
    }


def _parts(doc: Document, key_of: Callable[[str], str], keep: Callable[[str], bool] = lambda _: True) -> list[dict[str, Any]]:
    """One graph node per section (article or clause): its chunks joined, in reading order."""
    by_locator: dict[str, list[str]] = {}
    texts: dict[str, list[str]] = {}
    headings: dict[str, str] = {}
    for chunk in doc.chunks:
        by_locator.setdefault(chunk.locator, []).append(chunk.chunk_id)
        texts.setdefault(chunk.locator, []).append(chunk.text)
        headings.setdefault(chunk.locator, chunk.heading)
    return [
        {"key": key_of(loc), "props": {
            "doc_id": doc.doc_id, "locator": loc, "heading": headings[loc], "text": "\n".join(texts[loc]),
            "chunk_ids": ids, "product_id": doc.product_id, "audience": doc.audience,
        }}
        for loc, ids in by_locator.items() if keep(loc)
    ]


def _regulation_statements(doc: Document, law: str) -> Statements:
    parts = _parts(doc, lambda loc: article_key(law, loc), is_article_locator)
    for p in parts:
        p["props"]["law_key"] = law
    out: Statements = [(q.UPSERT_ARTICLES, {"doc_id": doc.doc_id, "parts": parts})]
    refs = [
        _ref_row(r.law_key, r.article, article_key(law, r.from_locator))
        for r in doc.references
        if is_article_locator(r.from_locator) and (r.law_key, r.article) != (law, r.from_locator)
    ]
    if refs:
        out.append((q.CITE_FROM_ARTICLES, {"refs": refs}))
    return out


def _wording_statements(doc: Document) -> Statements:
    out: Statements = [(q.UPSERT_CLAUSES, {"doc_id": doc.doc_id, "parts": _parts(doc, lambda loc: clause_key(doc.doc_id, loc))})]
    if doc.references:
        rows = [_ref_row(r.law_key, r.article, clause_key(doc.doc_id, r.from_locator)) for r in doc.references]
        out.append((q.CITE_FROM_CLAUSES, {"refs": rows}))
    if doc.cross_refs:
        pairs = [{"from_key": clause_key(doc.doc_id, a), "to_key": clause_key(doc.doc_id, b)} for a, b in doc.cross_refs]
        out.append((q.LINK_CLAUSE_REFERENCES, {"refs": pairs}))
    if doc.product_id:
        out.append((q.LINK_PRODUCT_DOCUMENT, {"doc_id": doc.doc_id, "product_id": doc.product_id}))
        if doc.facts:
            out.append((q.UPSERT_FACTS, {"facts": [_fact_row(doc, f) for f in doc.facts]}))
    return out


def _case_statements(doc: Document) -> Statements:
    out: Statements = []
    if doc.references:
        rows = [_ref_row(r.law_key, r.article, doc.doc_id) for r in doc.references]
        out.append((q.CITE_FROM_DOCUMENT, {"doc_id": doc.doc_id, "refs": rows}))
    if doc.mentioned_products:
        out.append((q.CONCERNS_PRODUCTS, {"doc_id": doc.doc_id, "product_ids": doc.mentioned_products}))
    return out
