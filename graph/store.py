"""GraphStore: the graph operations the rest of BrokerKG needs, over either executor.

Split by concept: products (``graph/products.py``), documents (``graph/documents.py``), and here
the schema, health and the reads retrieval needs. All Cypher is in ``graph/queries.py``.
"""

from __future__ import annotations

import logging
from typing import Any

from domain.alerts import StatusListener
from domain.errors import BrokerKGError
from graph import queries as q
from graph.base import GraphExecutor
from graph.documents import DocumentGraph
from graph.products import ProductGraph

logger = logging.getLogger(__name__)


class GraphStore(ProductGraph, DocumentGraph):
    def __init__(self, executor: GraphExecutor, status_listeners: list[StatusListener] | None = None) -> None:
        """``status_listeners``: told of every recorded sale-status change (``log_status``); the list is
        shared with the caller, so a listener added later is told too."""
        self.executor = executor
        self.status_listeners = status_listeners if status_listeners is not None else []

    def ensure_schema(self) -> None:
        for statement in self.executor.dialect.schema:
            try:
                self.executor.run(statement, write=True)
            except BrokerKGError as exc:
                if not self.executor.dialect.is_benign_schema_error(str(exc)):
                    raise

    def close(self) -> None:
        self.executor.close()

    def ping(self) -> None:
        """A trivial query: raises DependencyError when the graph server does not answer."""
        self.executor.run("RETURN 1 AS ok")

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.executor.run(q.COUNT_NODES):
            for label in r["labels"]:
                out[label] = out.get(label, 0) + r["n"]
        for r in self.executor.run(q.COUNT_RELATIONSHIPS):
            out[r["type"]] = out.get(r["type"], 0) + r["n"]
        return out

    def regulation_names(self) -> list[dict[str, Any]]:
        return self.executor.run(q.REGULATION_NAMES)

    def articles(self, keys: list[str]) -> list[dict[str, Any]]:
        """Articles by key (中华人民共和国保险法#第十六条): key, doc_id, locator, text, title."""
        return self.executor.run(q.ARTICLES, {"keys": keys}) if keys else []

    def article_chunks(self, keys: list[str]) -> dict[str, list[str]]:
        if not keys:
            return {}
        return {r["key"]: r["chunk_ids"] for r in self.executor.run(q.ARTICLE_CHUNKS, {"keys": keys})}

    def referred_clauses(self, clause_keys: list[str]) -> list[dict[str, Any]]:
        """The clauses (definitions, mostly) that these clauses point to with （见9.3）."""
        return self.executor.run(q.REFERRED_CLAUSES, {"keys": clause_keys}) if clause_keys else []

    def cited_articles(self, clause_keys: list[str], doc_ids: list[str]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        if clause_keys:
            rows += self.executor.run(q.CITED_BY_CLAUSES, {"keys": clause_keys})
        if doc_ids:
            rows += self.executor.run(q.CITED_BY_DOCUMENTS, {"doc_ids": doc_ids})
        return rows

    def case_products(self, doc_ids: list[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        if doc_ids:
            for r in self.executor.run(q.CASE_PRODUCTS, {"doc_ids": doc_ids}):
                out.setdefault(r["doc_id"], []).append(r["product_id"])
        return out
