"""Pure parsing: a file's bytes → a structured ``Document`` with its chunks, citations and facts.

No store is touched here: a parser needs only how documents are analysed (for the content
hash) and something that names catalog products (``domain.types.ProductNamer``).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from pathlib import Path

from domain.errors import DocumentError
from domain.mask import mask_pii
from domain.refs import find_cross_references, find_references, law_key
from domain.regulations import RegulationMeta
from domain.types import SUPPORTED_SUFFIXES, Block, Document, ProductNamer
from ingest.chunking import chunk_document
from ingest.facts import extract_facts
from ingest.readers import read_blocks
from ingest.regulation_meta import read_metadata, regulation_title
from ingest.structure import filing_number, find_title, guess_doc_type, split_sections

logger = logging.getLogger(__name__)

# Bump when parsing or chunking changes, so that re-ingesting an unchanged file rebuilds it.
PIPELINE_VERSION = "16"


def doc_id_for(path: Path) -> str:
    """Stable id from the file's absolute path: the same file is the same document across versions."""
    resolved = str(path.resolve())
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", path.stem).strip("-").lower()[:40] or "doc"
    return f"{slug}-{hashlib.sha1(resolved.encode()).hexdigest()[:10]}"


def expand_paths(paths: Iterable[Path]) -> tuple[list[Path], list[str], list[str]]:
    """(files to ingest, skipped notices, failures): folders walked in name order; other file
    types inside folders are skipped with a notice, a named file of another type fails."""
    files: list[Path] = []
    skipped: list[str] = []
    failed: list[str] = []
    for path in paths:
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if any(part.startswith(".") for part in child.relative_to(path).parts):
                    continue
                if child.suffix.lower() in SUPPORTED_SUFFIXES:
                    files.append(child)
                else:
                    skipped.append(f"{child}: not a document type BrokerKG ingests ({child.suffix or 'no suffix'})")
        elif path.is_file():
            if path.suffix.lower() in SUPPORTED_SUFFIXES:
                files.append(path)
            else:
                failed.append(
                    f"{path}: unsupported file type '{path.suffix or '(none)'}'; supported: {', '.join(SUPPORTED_SUFFIXES)}"
                )
        else:
            failed.append(f"{path}: no such file or directory")
    return files, skipped, failed


class DocumentParser:
    """``analysis``: how documents are analysed (analyser vocabulary, embedding model); it is part
    of every content hash, so that a vocabulary or model change re-ingests unchanged files."""

    def __init__(self, namer: ProductNamer, analysis: str, max_file_bytes: int) -> None:
        self.namer = namer
        self.analysis = analysis
        self.max_file_bytes = max_file_bytes

    def read(self, path: Path) -> bytes:
        size = path.stat().st_size
        if size > self.max_file_bytes:
            raise DocumentError(
                f"{path}: file is {size / 1e6:.1f} MB, over the {self.max_file_bytes / 1e6:.0f} MB limit (BROKERKG_MAX_FILE_MB)"
            )
        return path.read_bytes()

    def content_hash(self, data: bytes, doc_type: str, audience: str, product_id: str | None, extra: str = "") -> str:
        """Identity of one version: the bytes, how they were asked to be ingested, and how they are analysed;
        ``extra``: what else describes it (a regulation's manifest entry: changing it re-reads the file)."""
        salt = f"|{doc_type}|{audience}|{product_id}|{PIPELINE_VERSION}|{self.analysis}" + (f"|{extra}" if extra else "")
        return hashlib.sha256(data + salt.encode()).hexdigest()

    def parse(
        self, path: Path, doc_type: str, audience: str, product_id: str | None, data: bytes | None = None,
        manifest: RegulationMeta | None = None, manifest_entry: str = "",
    ) -> Document:
        """Read and structure one file; ``data``: its bytes, when already read; ``manifest``: a regulation's
        entry in its folder's manifest (``manifest_entry`` as JSON, part of the content hash)."""
        data = self.read(path) if data is None else data
        blocks, encoding = read_blocks(path)
        blocks = [Block(mask_pii(b.text), b.kind, b.level) for b in blocks]
        if not blocks:
            raise DocumentError(f"{path}: no text found")
        title = find_title(blocks, path.stem)
        kind = guess_doc_type(title, blocks) if doc_type == "auto" else doc_type
        if product_id and doc_type == "auto":
            kind = "clause"
        if kind == "regulation":  # a promulgation or order line found as the title: the rule's name instead
            title = regulation_title(title, blocks, manifest.title if manifest else None)
        sections = split_sections(kind, title, blocks)  # type: ignore[arg-type]
        if not sections:
            raise DocumentError(f"{path}: no text found after the title")
        doc = Document(
            doc_id=doc_id_for(path),
            doc_type=kind,  # type: ignore[arg-type]
            title=title,
            source=str(path.resolve()),
            content_hash=self.content_hash(data, doc_type, audience, product_id, manifest_entry),
            audience=audience,  # type: ignore[arg-type]
            product_id=None,
            sections=sections,
            encoding=encoding,
            filing_no=filing_number(blocks),
        )
        if kind == "regulation":
            doc.law_key = law_key(title)
            from_text = read_metadata(blocks, sections)
            doc.regulation = manifest.merged_over(from_text) if manifest else from_text
        if kind == "clause":
            doc.product_id = product_id or next(iter(self.namer.products_named(title)), None)
        locators = {s.locator for s in sections}
        for section in sections:
            doc.references += find_references(section.text, section.locator, doc.law_key)
            if kind == "clause":
                doc.cross_refs += [(section.locator, to) for to in find_cross_references(section.text)
                                   if to in locators and to != section.locator]
        if kind == "case":
            body = "\n".join([title, *(s.text for s in sections)])
            doc.mentioned_products = self.namer.products_named(body)
        doc.chunks = chunk_document(doc)
        if kind == "clause":
            doc.facts = extract_facts(sections, first_chunks(doc))
        return doc


def first_chunks(doc: Document) -> dict[str, str]:
    """Locator → the first chunk of that section: what a fact read from the section cites."""
    out: dict[str, str] = {}
    for chunk in doc.chunks:
        out.setdefault(chunk.locator, chunk.chunk_id)
    return out
