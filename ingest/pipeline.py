"""Ingest: paths → parsed documents (ingest/parse.py) → both stores (ingest/writer.py), with a report.

Unchanged files (same content hash) are skipped; a changed file replaces its old version;
a failure is recorded in the ledger with its reason and never stops the other files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domain.errors import BrokerKGError, InputError, NotFoundError
from domain.names import filing_order
from domain.types import AUDIENCES, DOC_TYPES, ProductNamer
from graph.store import GraphStore
from index.analyzer import Analyzer
from index.embedders.base import Embedder
from index.vectors.base import VectorIndex
from ingest.fact_proposals import FactProposer
from ingest.parse import DocumentParser, doc_id_for, expand_paths, first_chunks
from ingest.regulation_meta import Manifests
from ingest.writer import DocumentWriter

logger = logging.getLogger(__name__)

__all__ = ["CatalogReport", "IngestReport", "Ingestor", "doc_id_for", "import_catalog"]


@dataclass
class IngestReport:
    ingested: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "path: reason"
    failed: list[str] = field(default_factory=list)  # "path: reason"
    chunks: int = 0
    doc_ids: dict[str, str] = field(default_factory=dict)  # path → doc_id

    def merge(self, other: IngestReport) -> None:
        self.ingested += other.ingested
        self.unchanged += other.unchanged
        self.skipped += other.skipped
        self.failed += other.failed
        self.chunks += other.chunks
        self.doc_ids.update(other.doc_ids)

    def summary(self) -> str:
        return (
            f"ingested {len(self.ingested)}, unchanged {len(self.unchanged)}, skipped {len(self.skipped)}, "
            f"failed {len(self.failed)} ({self.chunks} chunks written)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ingested": self.ingested,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "failed": self.failed,
            "chunks": self.chunks,
            "doc_ids": self.doc_ids,
        }


class Ingestor:
    """Runs ingests and deletes: a parser (no stores) and the writer (both stores), one file at a time."""

    def __init__(
        self,
        graph: GraphStore,
        index: VectorIndex,
        embedder: Embedder,
        analyzer: Analyzer,
        namer: ProductNamer,
        max_file_bytes: int,
        proposer: FactProposer | None = None,
    ) -> None:
        self.graph = graph
        self.proposer = proposer  # a chat model's proposals for the facts the rules did not read
        self.analyzer = analyzer
        self.namer = namer
        self.parser = DocumentParser(namer, f"{analyzer.vocabulary}|{embedder.name}", max_file_bytes)
        self.writer = DocumentWriter(graph, index, embedder, analyzer)

    def ingest(
        self,
        paths: list[Path],
        doc_type: str = "auto",
        audience: str = "public",
        product_ids: dict[Path, str] | None = None,
        on_progress: Callable[[Path, int], None] | None = None,
    ) -> IngestReport:
        if doc_type != "auto" and doc_type not in DOC_TYPES:
            raise InputError(f"--type must be one of auto, {', '.join(DOC_TYPES)} (got '{doc_type}')")
        if audience not in AUDIENCES:
            raise InputError(f"--audience must be one of {', '.join(AUDIENCES)} (got '{audience}')")
        report = IngestReport()
        files, report.skipped, report.failed = expand_paths(paths)
        for notice in report.skipped:
            logger.info("skipped %s", notice)
        manifests = Manifests()  # a regulation folder's manifest.json: level, dates, status per file
        for path in files:
            chunks = 0
            try:
                chunks = self._ingest_file(path, doc_type, audience, (product_ids or {}).get(path), report, manifests)
            except BrokerKGError as exc:
                report.failed.append(str(exc) if str(path) in str(exc) else f"{path}: {exc}")
                logger.warning("failed %s", report.failed[-1])
                self.writer.record_failure(doc_id_for(path), str(path), report.failed[-1])
            if on_progress:
                on_progress(path, chunks)
        # a manifest is no document (contract.md: skipped with a notice): its bad entries are notices
        # too, and the files it describes were ingested without them
        for error in manifests.errors():
            report.skipped.append(error)
            logger.warning("%s", error)
        if report.ingested:
            self.namer.invalidate()
        return report

    def delete(self, ref: str) -> str:
        """Remove a document (by doc_id or by the path it was ingested from) from both stores."""
        doc_id = ref if self.writer.current(ref) is not None else doc_id_for(Path(ref))
        if self.writer.current(doc_id) is None:
            raise NotFoundError(f"unknown document '{ref}' (give a doc_id or the path it was ingested from)")
        self.writer.delete(doc_id)
        self.namer.invalidate()
        return doc_id

    def set_audience(self, doc_id: str, audience: str) -> None:
        self.writer.set_audience(doc_id, audience)

    def _ingest_file(
        self, path: Path, doc_type: str, audience: str, product_id: str | None, report: IngestReport,
        manifests: Manifests | None = None,
    ) -> int:
        doc_id = doc_id_for(path)
        report.doc_ids[str(path)] = doc_id
        existing = self.writer.current(doc_id)
        data = self.parser.read(path)
        manifest = manifests.for_file(path) if manifests and doc_type in ("regulation", "auto") else None
        entry, entry_json = (manifest.entries.get(path.name), manifest.raw.get(path.name, "")) if manifest else (None, "")
        if existing and existing.get("content_hash") == self.parser.content_hash(
                data, doc_type, audience, product_id, entry_json):
            report.unchanged.append(str(path))
            return 0
        doc = self.parser.parse(path, doc_type, audience, product_id, data, entry, entry_json)
        if self.proposer and doc.doc_type == "clause" and doc.product_id:
            doc.facts += self.proposer.propose(doc.sections, doc.facts, first_chunks(doc))
        self.writer.write(doc, set((existing or {}).get("chunk_ids") or []))
        report.ingested.append(str(path))
        report.chunks += len(doc.chunks)
        logger.info(
            "ingested %s as %s '%s' (%d sections, %d chunks, %d citations)",
            path.name, doc.doc_type, doc.title[:40], len(doc.sections), len(doc.chunks), len(doc.references),
        )
        return len(doc.chunks)


@dataclass
class CatalogReport:
    products: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    documents: IngestReport = field(default_factory=IngestReport)

    @property
    def ok(self) -> bool:
        return not self.rejected and not self.documents.failed

    def summary(self) -> str:
        return (
            f"products imported {len(self.products)}, rejected {len(self.rejected)}; documents: "
            + self.documents.summary()
        )

    def to_dict(self) -> dict[str, Any]:
        return {"products": self.products, "rejected": self.rejected, "documents": self.documents.to_dict()}


def import_catalog(
    ingestor: Ingestor, path: Path, on_progress: Callable[[Path, int], None] | None = None
) -> CatalogReport:
    """Upsert the catalog's valid rows, then ingest each row's documents as that product's clauses."""
    from ingest.catalog import parse_catalog

    report = CatalogReport()
    before = {row["product_id"]: row for row in ingestor.graph.list_products()}
    parsed = parse_catalog(path, set(before))
    report.rejected = parsed.errors
    for error in parsed.errors:
        logger.warning("catalog: %s", error)
    ingestor.graph.upsert_products([row.graph_row() for row in parsed.rows])
    _log_status_changes(ingestor, before, [row.graph_row() for row in parsed.rows], f"catalog import: {path.name}")
    report.products = [row.product_id for row in parsed.rows]
    ingestor.analyzer.add_words([w for row in parsed.rows for w in (row.name, *row.aliases)])
    ingestor.namer.invalidate()
    product_of: dict[Path, str] = {}
    for row in parsed.rows:
        for doc in row.documents:
            if not doc.is_file():
                report.documents.failed.append(f"{path.name}: row {row.line}, column documents: file not found: {doc}")
                continue
            product_of[doc] = row.product_id
    if product_of:
        report.documents.merge(ingestor.ingest(list(product_of), "clause", "public", product_of, on_progress))
    for row in parsed.rows:
        order_filings(ingestor, row.product_id, [d for d in row.documents if d in product_of])
    if any(row.documents for row in parsed.rows):
        ingestor.namer.invalidate()  # the filings just ordered
    return report


def _log_status_changes(ingestor: Ingestor, before: dict[str, dict[str, Any]], rows: list[dict[str, Any]],
                        source: str) -> None:
    """A re-imported row that changes a known product's sale status goes into its status history
    (and so raises alerts) like a change made any other way; an unchanged row records nothing."""
    for row in rows:
        old = before.get(row["product_id"])
        if old is None:
            continue
        if old.get("status") == row.get("status") and old.get("discontinued_date") == row.get("discontinued_date"):
            continue
        ingestor.graph.log_status(row["product_id"], {
            "status": row.get("status"), "discontinued_date": row.get("discontinued_date"),
            "replaced_by": row.get("replaced_by"), "source": source, "previous_status": old.get("status"),
        })


def order_filings(ingestor: Ingestor, product_id: str, documents: list[Path]) -> None:
    """A product's wording filed more than once: the latest filing is current, each earlier one is
    superseded (searched only when a question names it: 2011版, a year, its filing number)."""
    wordings = []
    for position, path in enumerate(documents):
        info = ingestor.graph.get_document(doc_id_for(path))
        if info and str(info.get("title") or "").rstrip().endswith("条款"):  # a wording, not its manual or notice
            wordings.append(((*filing_order(info.get("filing_no")), position), info))
    wordings.sort(key=lambda w: w[0])
    filings = [str(info.get("filing_no") or "") for _, info in wordings]
    for i, (_, info) in enumerate(wordings):
        later = wordings[-1][1]["doc_id"] if i < len(wordings) - 1 else None
        ingestor.writer.set_superseded(info["doc_id"], later)
    if any(filings):
        ingestor.graph.update_product(product_id, {"filings": [f for f in filings if f]})
