"""Sections → chunks small enough for the embedding model, each keeping its section's locator."""

from __future__ import annotations

import re
import uuid

from domain.types import Chunk, Document

MAX_CHARS = 480  # multilingual-e5-small reads 512 tokens; Chinese is about one token per character
_NAMESPACE = uuid.UUID("6f1d3a52-9b0e-4c61-8d2a-4b8a1f0c7e11")
_SENTENCE = re.compile(r"(?<=[。；！？!?;])")


def chunk_id(doc_id: str, version: str, position: int) -> str:
    """Stable id: the same file content always yields the same chunk ids (idempotent re-ingest)."""
    return str(uuid.uuid5(_NAMESPACE, f"{doc_id}:{version}:{position}"))


def _pieces(paragraphs: list[str]) -> list[str]:
    """Pack paragraphs (款) into pieces ≤ MAX_CHARS; a longer paragraph is split at sentence ends."""
    units: list[str] = []
    for para in paragraphs:
        if len(para) <= MAX_CHARS:
            units.append(para)
            continue
        buf = ""
        for sentence in filter(None, _SENTENCE.split(para)):
            while len(sentence) > MAX_CHARS:
                units.append(sentence[:MAX_CHARS])
                sentence = sentence[MAX_CHARS:]
            if len(buf) + len(sentence) > MAX_CHARS:
                units.append(buf)
                buf = ""
            buf += sentence
        if buf:
            units.append(buf)
    pieces: list[str] = []
    buf = ""
    for unit in units:
        if buf and len(buf) + 1 + len(unit) > MAX_CHARS:
            pieces.append(buf)
            buf = ""
        buf = f"{buf}\n{unit}" if buf else unit
    if buf:
        pieces.append(buf)
    return pieces


def chunk_document(doc: Document) -> list[Chunk]:
    chunks: list[Chunk] = []
    for section in doc.sections:
        heading = " > ".join(section.heading_path)
        for piece in _pieces(section.paragraphs):
            position = len(chunks)
            chunks.append(
                Chunk(
                    chunk_id=chunk_id(doc.doc_id, doc.version, position),
                    doc_id=doc.doc_id,
                    doc_type=doc.doc_type,
                    title=doc.title,
                    locator=section.locator,
                    heading=heading,
                    text=piece,
                    product_id=doc.product_id,
                    audience=doc.audience,
                    position=position,
                    version=doc.version,
                    filing_no=doc.filing_no,
                )
            )
    return chunks
