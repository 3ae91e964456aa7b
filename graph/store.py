"""GraphStore: the graph operations the rest of BrokerKG needs, over either executor."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from domain.errors import BrokerKGError
from domain.facts import FACT_TYPES
from domain.refs import article_key, clause_key, law_aliases
from domain.types import Document
from graph import queries as q
from graph.base import GraphExecutor

logger = logging.getLogger(__name__)

_LABEL = {"regulation": q.LABEL_REGULATION, "clause": q.LABEL_WORDING, "case": q.LABEL_CASE}


class GraphStore:
    def __init__(self, executor: GraphExecutor) -> None:
        self.executor = executor

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

    # --- products -------------------------------------------------------------------------

    def upsert_products(self, rows: list[dict[str, Any]]) -> None:
        """rows: catalog rows (product_id, name, insurer, category, status, dates, replaced_by, aliases)."""
        if not rows:
            return
        payload = [
            {
                "product_id": r["product_id"],
                "insurer": r["insurer"],
                "replaced_by": r.get("replaced_by"),
                "props": {k: v for k, v in r.items() if k not in ("product_id", "documents")},
            }
            for r in rows
        ]
        self.executor.run(q.UPSERT_PRODUCTS, {"rows": payload}, write=True)
        self.executor.run(q.SET_SUCCESSORS, {"rows": payload}, write=True)

    def existing_products(self, ids: list[str]) -> set[str]:
        return {r["product_id"] for r in self.executor.run(q.PRODUCT_IDS, {"ids": ids})}

    def update_product(self, product_id: str, changes: dict[str, Any]) -> None:
        props = dict(changes)
        self.executor.run(q.UPDATE_PRODUCT, {"product_id": product_id, "props": props}, write=True)
        if "replaced_by" in changes:
            rows = [{"product_id": product_id, "replaced_by": changes["replaced_by"]}]
            self.executor.run(q.SET_SUCCESSORS, {"rows": rows}, write=True)

    def get_product(self, product_id: str) -> dict[str, Any] | None:
        rows = self.executor.run(q.GET_PRODUCT, {"product_id": product_id})
        if not rows:
            return None
        product = dict(rows[0]["product"])
        product["documents"] = [
            {"doc_id": r["doc_id"], "title": r["title"]}
            for r in self.executor.run(q.PRODUCT_DOCUMENTS, {"product_id": product_id})
        ]
        return product

    def list_products(self) -> list[dict[str, Any]]:
        return self.executor.run(q.LIST_PRODUCTS)

    def log_status(self, product_id: str, entry: dict[str, Any]) -> None:
        """Append one line to the product's status history (catalog import or API change)."""
        line = json.dumps({"at": datetime.now(UTC).isoformat(timespec="seconds"), **entry}, ensure_ascii=False)
        self.executor.run(q.APPEND_STATUS_LOG, {"product_id": product_id, "entry": line}, write=True)

    def status_history(self, product: dict[str, Any]) -> list[dict[str, Any]]:
        """Catalog dates first (上市, 停售), then every recorded change, oldest first."""
        events: list[dict[str, Any]] = []
        if product.get("effective_date"):
            events.append({"date": product["effective_date"], "status": "on_sale", "source": "catalog"})
        for line in product.get("status_log") or []:
            try:
                entry = json.loads(line)
            except (TypeError, ValueError):
                continue
            events.append({"date": entry.get("at", "")[:10], **entry})
        if product.get("discontinued_date") and product.get("status") != "on_sale":
            events.append({"date": product["discontinued_date"], "status": product.get("status"), "source": "catalog"})
        return sorted(events, key=lambda e: str(e.get("date") or ""))

    def product_overview(self, product_id: str) -> dict[str, Any] | None:
        """Everything the product page shows: facts, history, clauses' citations, cases, neighbours."""
        product = self.get_product(product_id)
        if product is None:
            return None
        run = self.executor.run
        cites = run(q.PRODUCT_CLAUSE_CITATIONS, {"product_id": product_id})
        cases = run(q.PRODUCT_CASES, {"product_id": product_id})
        case_cites = run(q.CASE_CITATIONS, {"doc_ids": [c["doc_id"] for c in cases]}) if cases else []
        successor = self.product_status([product["replaced_by"]]) if product.get("replaced_by") else []
        return {
            "product": product,
            "history": self.status_history(product),
            "clause_citations": cites,
            "cases": cases,
            "case_citations": case_cites,
            "predecessors": run(q.PREDECESSORS, {"product_id": product_id}),
            "successor": successor[0] if successor else None,
        }

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

    def document_info(self, doc_id: str) -> dict[str, Any] | None:
        rows = self.executor.run(q.DOCUMENT_INFO, {"doc_id": doc_id})
        return rows[0] if rows else None

    def product_status(self, product_ids: list[str]) -> list[dict[str, Any]]:
        if not product_ids:
            return []
        return self.executor.run(q.PRODUCT_STATUS, {"ids": product_ids})

    # --- documents ------------------------------------------------------------------------

    def get_document(self, doc_id: str) -> dict[str, Any] | None:
        rows = self.executor.run(q.GET_DOCUMENT, {"doc_id": doc_id})
        return rows[0] if rows else None

    def write_document(self, doc: Document) -> None:
        """Replace everything the graph holds for ``doc`` with its new version.

        The document's content_hash is written last, so an interrupted write is seen as
        "not ingested" and the next ingest redoes it.
        """
        batch: list[tuple[str, dict[str, Any]]] = []

        def run(query: str, params: dict[str, Any], write: bool = True) -> None:
            batch.append((query, params))

        params = {"doc_id": doc.doc_id}
        now = datetime.now(UTC).isoformat(timespec="seconds")
        run(q.UNLINK_ARTICLES, params, write=True)
        run(q.DELETE_ARTICLE_CITATIONS, params, write=True)
        run(q.DELETE_FACTS, params, write=True)
        run(q.DELETE_CLAUSES, params, write=True)
        run(q.DELETE_DOCUMENT_EDGES, params, write=True)
        run(q.UNLINK_PRODUCT_DOCUMENT, params, write=True)
        props = {
            "doc_type": doc.doc_type,
            "title": doc.title,
            "source": doc.source,
            "audience": doc.audience,
            "product_id": doc.product_id,
            "version": doc.version,
            "law_key": doc.law_key,
            "aliases": law_aliases(doc.title) if doc.doc_type == "regulation" else None,
            "ingested_at": now,
            "status": "processing",
        }
        run(q.UPSERT_DOCUMENT, {"doc_id": doc.doc_id, "props": props}, write=True)
        run(_LABEL[doc.doc_type], params, write=True)

        by_locator: dict[str, list[str]] = {}
        texts: dict[str, list[str]] = {}
        headings: dict[str, str] = {}
        for chunk in doc.chunks:
            by_locator.setdefault(chunk.locator, []).append(chunk.chunk_id)
            texts.setdefault(chunk.locator, []).append(chunk.text)
            headings.setdefault(chunk.locator, chunk.heading)

        def part(locator: str, key: str) -> dict[str, Any]:
            return {
                "key": key,
                "props": {
                    "doc_id": doc.doc_id,
                    "locator": locator,
                    "heading": headings[locator],
                    "text": "\n".join(texts[locator]),
                    "chunk_ids": by_locator[locator],
                    "product_id": doc.product_id,
                    "audience": doc.audience,
                },
            }

        refs = doc.references
        if doc.doc_type == "regulation" and doc.law_key:
            parts = [part(loc, article_key(doc.law_key, loc)) for loc in by_locator if loc.startswith("第")]
            for p in parts:
                p["props"]["law_key"] = doc.law_key
            run(q.UPSERT_ARTICLES, {"doc_id": doc.doc_id, "parts": parts}, write=True)
            article_refs = [
                _ref_row(r.law_key, r.article, article_key(doc.law_key, r.from_locator))
                for r in refs
                if r.from_locator.startswith("第") and (r.law_key, r.article) != (doc.law_key, r.from_locator)
            ]
            if article_refs:
                run(q.CITE_FROM_ARTICLES, {"refs": article_refs}, write=True)
        elif doc.doc_type == "clause":
            parts = [part(loc, clause_key(doc.doc_id, loc)) for loc in by_locator]
            run(q.UPSERT_CLAUSES, {"doc_id": doc.doc_id, "parts": parts}, write=True)
            if refs:
                rows = [_ref_row(r.law_key, r.article, clause_key(doc.doc_id, r.from_locator)) for r in refs]
                run(q.CITE_FROM_CLAUSES, {"refs": rows}, write=True)
            if doc.product_id:
                run(q.LINK_PRODUCT_DOCUMENT, {"doc_id": doc.doc_id, "product_id": doc.product_id}, write=True)
                if doc.facts:
                    run(q.UPSERT_FACTS, {"facts": [_fact_row(doc, f) for f in doc.facts]}, write=True)
        else:
            if refs:
                rows = [_ref_row(r.law_key, r.article, doc.doc_id) for r in refs]
                run(q.CITE_FROM_DOCUMENT, {"doc_id": doc.doc_id, "refs": rows}, write=True)
            if doc.mentioned_products:
                run(q.CONCERNS_PRODUCTS, {"doc_id": doc.doc_id, "product_ids": doc.mentioned_products}, write=True)
        run(
            q.MARK_DOCUMENT_DONE,
            {"doc_id": doc.doc_id, "content_hash": doc.content_hash, "chunk_ids": [c.chunk_id for c in doc.chunks]},
            write=True,
        )
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
        self.executor.run_batch([(statement, params) for statement in statements], write=True)

    # --- retrieval ------------------------------------------------------------------------

    def regulation_names(self) -> list[dict[str, Any]]:
        return self.executor.run(q.REGULATION_NAMES)

    def article_chunks(self, keys: list[str]) -> dict[str, list[str]]:
        if not keys:
            return {}
        return {r["key"]: r["chunk_ids"] for r in self.executor.run(q.ARTICLE_CHUNKS, {"keys": keys})}

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

    def product_facts(self, product_ids: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
        """Facts by product (all products when ``product_ids`` is None), in fact-type order."""

        order = {t.key: i for i, t in enumerate(FACT_TYPES)}
        out: dict[str, list[dict[str, Any]]] = {}
        ids = list(product_ids) if product_ids is not None else None
        for row in self.executor.run(q.PRODUCT_FACTS, {"ids": ids}):
            out.setdefault(row["product_id"], []).append(row["fact"])
        for facts in out.values():
            facts.sort(key=lambda f: order.get(f.get("type"), 99))
        return out

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.executor.run(q.COUNT_NODES):
            for label in r["labels"]:
                out[label] = out.get(label, 0) + r["n"]
        for r in self.executor.run(q.COUNT_RELATIONSHIPS):
            out[r["type"]] = out.get(r["type"], 0) + r["n"]
        return out


def _fact_row(doc: Document, fact: Any) -> dict[str, Any]:
    props = {k: v for k, v in fact.to_dict().items() if v not in (None, "", [])}
    props.update(doc_id=doc.doc_id, product_id=doc.product_id, title=doc.title)
    return {
        "key": f"{doc.doc_id}#{fact.type}", "product_id": doc.product_id,
        "clause_key": clause_key(doc.doc_id, fact.locator), "props": props,
    }


def _ref_row(law_key: str, article: str, source_key: str) -> dict[str, str]:
    return {"law_key": law_key, "article": article, "article_key": article_key(law_key, article), "source_key": source_key}
