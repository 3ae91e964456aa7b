"""Ingest: files → documents → chunks → embeddings → vector index + graph.

Order of writes, so that a failure never leaves a half-visible document: new chunk points are
upserted first (ids derive from the new content, so they never overwrite the old version),
then the graph is rewritten with the document's hash set last, then the old version's points
are deleted. A failure before the hash is written deletes the new points again.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from brokerkg.errors import BrokerKGError, DocumentError, InputError, NotFoundError
from graph.store import GraphStore
from ingest.chunking import chunk_document
from ingest.facts import extract_facts
from ingest.mask import mask_pii
from ingest.readers import read_blocks
from ingest.refs import find_references, law_key
from ingest.structure import find_title, guess_doc_type, split_sections
from ingest.types import AUDIENCES, DOC_TYPES, SUPPORTED_SUFFIXES, Block, Document
from retrieval.embedders.base import Embedder
from retrieval.linking import Linker
from retrieval.text import Analyzer
from retrieval.vectors.base import PENDING, IndexPoint, VectorIndex

logger = logging.getLogger(__name__)

# Bump when parsing or chunking changes, so that re-ingesting an unchanged file rebuilds it.
PIPELINE_VERSION = "5"


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

    def to_dict(self) -> dict[str, object]:
        return {
            "ingested": self.ingested,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "failed": self.failed,
            "chunks": self.chunks,
            "doc_ids": self.doc_ids,
        }


def doc_id_for(path: Path) -> str:
    """Stable id from the file's absolute path: the same file is the same document across versions."""
    resolved = str(path.resolve())
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", path.stem).strip("-").lower()[:40] or "doc"
    return f"{slug}-{hashlib.sha1(resolved.encode()).hexdigest()[:10]}"


def expand_paths(paths: Iterable[Path], report: IngestReport) -> list[Path]:
    """Files to ingest, folders walked in name order; other file types are skipped with a notice."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if any(part.startswith(".") for part in child.relative_to(path).parts):
                    continue
                if child.suffix.lower() in SUPPORTED_SUFFIXES:
                    files.append(child)
                else:
                    report.skipped.append(f"{child}: not a document type BrokerKG ingests ({child.suffix or 'no suffix'})")
        elif path.is_file():
            if path.suffix.lower() in SUPPORTED_SUFFIXES:
                files.append(path)
            else:
                report.failed.append(
                    f"{path}: unsupported file type '{path.suffix or '(none)'}'; supported: {', '.join(SUPPORTED_SUFFIXES)}"
                )
        else:
            report.failed.append(f"{path}: no such file or directory")
    return files


class Ingestor:
    def __init__(
        self,
        graph: GraphStore,
        index: VectorIndex,
        embedder: Embedder,
        analyzer: Analyzer,
        linker: Linker,
        max_file_bytes: int,
    ) -> None:
        self.graph = graph
        self.index = index
        self.embedder = embedder
        self.analyzer = analyzer
        self.linker = linker
        self.max_file_bytes = max_file_bytes

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
        files = expand_paths(paths, report)
        for notice in report.skipped:
            logger.info("skipped %s", notice)
        for path in files:
            chunks = 0
            try:
                chunks = self._ingest_file(path, doc_type, audience, (product_ids or {}).get(path), report)
            except BrokerKGError as exc:
                report.failed.append(str(exc) if str(path) in str(exc) else f"{path}: {exc}")
                logger.warning("failed %s", report.failed[-1])
                self._record_failure(path, report.failed[-1])
            if on_progress:
                on_progress(path, chunks)
        if report.ingested:
            self.linker.invalidate()
        return report

    def _read(self, path: Path) -> bytes:
        size = path.stat().st_size
        if size > self.max_file_bytes:
            raise DocumentError(
                f"{path}: file is {size / 1e6:.1f} MB, over the {self.max_file_bytes / 1e6:.0f} MB limit (BROKERKG_MAX_FILE_MB)"
            )
        return path.read_bytes()

    def content_hash(self, data: bytes, doc_type: str, audience: str, product_id: str | None) -> str:
        """Identity of one version: the bytes, how they were asked to be ingested, and how they are analysed.

        The analyser's vocabulary (shipped dictionaries, synonyms) is part of it: when the
        vocabulary changes, re-ingesting re-tokenises the document so that its BM25 vector
        matches how questions are now analysed. So is the embedding model.
        """
        salt = f"|{doc_type}|{audience}|{product_id}|{PIPELINE_VERSION}|{self.analyzer.vocabulary}|{self.embedder.name}"
        return hashlib.sha256(data + salt.encode()).hexdigest()

    def delete(self, ref: str) -> str:
        """Remove a document (by doc_id or by the path it was ingested from) from both stores.

        The graph entry goes first (its chunks then belong to no document, so searches that
        resolve documents and `doctor` treat them as orphans), then the index points.
        """
        info = self.graph.get_document(ref)
        doc_id = ref
        if info is None:
            doc_id = doc_id_for(Path(ref))
            info = self.graph.get_document(doc_id)
        if info is None:
            raise NotFoundError(f"unknown document '{ref}' (give a doc_id or the path it was ingested from)")
        chunk_ids = list(info.get("chunk_ids") or [])
        self.index.set_payload(chunk_ids, {"state": PENDING})  # invisible at once
        self.graph.delete_document(doc_id)
        self.index.delete(chunk_ids)
        self.linker.invalidate()
        logger.info("deleted %s (%d chunks)", doc_id, len(chunk_ids))
        return doc_id

    def _record_failure(self, path: Path, reason: str) -> None:
        """The ledger: a document that failed is 'failed' with its reason (a previous good version stays)."""
        try:
            self.graph.record_failure(doc_id_for(path), str(path), mask_pii(reason))
        except BrokerKGError:
            logger.warning("could not record the failure of %s in the graph", path.name)

    def set_audience(self, doc_id: str, audience: str) -> None:
        """Change who may see a document: the index payloads first (what searches filter on), then the graph."""
        if audience not in ("public", "internal"):
            raise InputError(f"audience must be public or internal, not {audience!r}")
        info = self.graph.get_document(doc_id)
        if info is None:
            raise NotFoundError(f"unknown doc_id '{doc_id}'")
        self.index.set_payload(list(info.get("chunk_ids") or []), {"audience": audience})
        self.graph.set_audience(doc_id, audience)
        logger.info("document %s audience set to %s", doc_id, audience)

    def parse(
        self, path: Path, doc_type: str, audience: str, product_id: str | None, data: bytes | None = None
    ) -> Document:
        """Read and structure one file (no store is touched); ``data``: its bytes, when already read."""
        data = self._read(path) if data is None else data
        blocks, encoding = read_blocks(path)
        blocks = [Block(mask_pii(b.text), b.kind, b.level) for b in blocks]
        if not blocks:
            raise DocumentError(f"{path}: no text found")
        title = find_title(blocks, path.stem)
        kind = guess_doc_type(title, blocks) if doc_type == "auto" else doc_type
        if product_id and doc_type == "auto":
            kind = "clause"
        sections = split_sections(kind, title, blocks)  # type: ignore[arg-type]
        if not sections:
            raise DocumentError(f"{path}: no text found after the title")
        doc = Document(
            doc_id=doc_id_for(path),
            doc_type=kind,  # type: ignore[arg-type]
            title=title,
            source=str(path.resolve()),
            content_hash=self.content_hash(data, doc_type, audience, product_id),
            audience=audience,  # type: ignore[arg-type]
            product_id=None,
            sections=sections,
            encoding=encoding,
        )
        if kind == "regulation":
            doc.law_key = law_key(title)
        if kind == "clause":
            doc.product_id = product_id or self._product_named_in(title)
        for section in sections:
            doc.references += find_references(section.text, section.locator, doc.law_key)
        if kind == "case":
            body = "\n".join([title, *(s.text for s in sections)])
            doc.mentioned_products = self.linker.link(body, fuzzy=False).product_ids
        doc.chunks = chunk_document(doc)
        if kind == "clause":
            first_chunk: dict[str, str] = {}
            for chunk in doc.chunks:
                first_chunk.setdefault(chunk.locator, chunk.chunk_id)
            doc.facts = extract_facts(sections, first_chunk)
        return doc

    def _product_named_in(self, title: str) -> str | None:
        products = self.linker.link(title, fuzzy=False).products
        return products[0].product_id if products else None

    def _ingest_file(
        self, path: Path, doc_type: str, audience: str, product_id: str | None, report: IngestReport
    ) -> int:
        doc_id = doc_id_for(path)
        report.doc_ids[str(path)] = doc_id
        existing = self.graph.get_document(doc_id)
        data = self._read(path)
        if existing and existing.get("content_hash") == self.content_hash(data, doc_type, audience, product_id):
            report.unchanged.append(str(path))
            return 0
        doc = self.parse(path, doc_type, audience, product_id, data)
        old_ids = set((existing or {}).get("chunk_ids") or [])
        new_ids = [c.chunk_id for c in doc.chunks]
        texts = [c.embedding_text() for c in doc.chunks]
        dense = self.embedder.embed_passages(texts)
        # Two-phase: chunks go in as 'pending' (invisible to every search), the graph commits the
        # document (content_hash written last), then the chunks go live and the old version goes.
        # A crash in between leaves nothing half-visible; `brokerkg doctor` removes the leftovers.
        points = [
            IndexPoint(c.chunk_id, vector, self.analyzer.document_vector(text), {**c.payload(), "state": PENDING})
            for c, vector, text in zip(doc.chunks, dense, texts, strict=True)
        ]
        self.index.upsert(points)
        try:
            self.graph.write_document(doc)
        except BaseException:
            self.index.delete([cid for cid in new_ids if cid not in old_ids])
            raise
        self.index.set_payload(new_ids, {"state": "live"})
        self.index.delete([cid for cid in old_ids if cid not in set(new_ids)])
        self.graph.add_version(doc)  # history for compliance: versions and clause-level diffs
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

    def to_dict(self) -> dict[str, object]:
        return {"products": self.products, "rejected": self.rejected, "documents": self.documents.to_dict()}


def import_catalog(
    ingestor: Ingestor, path: Path, on_progress: Callable[[Path, int], None] | None = None
) -> CatalogReport:
    """Upsert the catalog's valid rows, then ingest each row's documents as that product's clauses."""
    from ingest.catalog import parse_catalog

    report = CatalogReport()
    known = {row["product_id"] for row in ingestor.graph.list_products()}
    parsed = parse_catalog(path, known)
    report.rejected = parsed.errors
    for error in parsed.errors:
        logger.warning("catalog: %s", error)
    ingestor.graph.upsert_products([row.graph_row() for row in parsed.rows])
    report.products = [row.product_id for row in parsed.rows]
    ingestor.analyzer.add_words([w for row in parsed.rows for w in (row.name, *row.aliases)])
    ingestor.linker.invalidate()
    product_of: dict[Path, str] = {}
    for row in parsed.rows:
        for doc in row.documents:
            if not doc.is_file():
                report.documents.failed.append(f"{path.name}: row {row.line}, column documents: file not found: {doc}")
                continue
            product_of[doc] = row.product_id
    if product_of:
        report.documents.merge(ingestor.ingest(list(product_of), "clause", "public", product_of, on_progress))
    return report
