"""The one place that writes documents to both stores: the two-phase write, delete and audience change.

Order of writes, so that a failure never leaves a half-visible document: new chunk points are
upserted first as ``pending`` (ids derive from the new content, so they never overwrite the
old version), then the graph is rewritten with the document's hash set last, then the chunks
go live and the old version's points are deleted. A failure before the hash is written
deletes the new points again; a crash in between leaves nothing visible, and
``brokerkg doctor`` removes the leftovers.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from domain.errors import BrokerKGError, InputError, NotFoundError
from domain.mask import mask_pii
from domain.text import join_spread
from domain.types import AUDIENCES, Document
from graph.store import GraphStore
from index.analyzer import Analyzer
from index.embedders.base import Embedder
from index.vectors.base import PENDING, SUPERSEDED, IndexPoint, VectorIndex

logger = logging.getLogger(__name__)

_VECTOR_CACHE = 20_000  # passages (≈ 30 MB of 384-d vectors)


class DocumentWriter:
    def __init__(self, graph: GraphStore, index: VectorIndex, embedder: Embedder, analyzer: Analyzer) -> None:
        self.graph = graph
        self.index = index
        self.embedder = embedder
        self.analyzer = analyzer
        self._vectors: dict[str, list[float]] = {}  # passage text digest → vector, oldest first

    def _embed(self, texts: list[str]) -> list[list[float]]:
        """Passages embedded once: a re-filed wording repeats most of its predecessor's text."""
        keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
        todo = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in self._vectors}.items())
        if todo:
            for (key, _), vector in zip(todo, self.embedder.embed_passages([t for _, t in todo]), strict=True):
                self._vectors[key] = vector
        out = [self._vectors[k] for k in keys]
        while len(self._vectors) > _VECTOR_CACHE:
            self._vectors.pop(next(iter(self._vectors)))
        return out

    def current(self, doc_id: str) -> dict[str, Any] | None:
        """The stored version of a document (content hash, chunk ids), or None."""
        return self.graph.get_document(doc_id)

    def write(self, doc: Document, old_chunk_ids: set[str]) -> None:
        """Embed and store ``doc``, replacing the version whose chunks are ``old_chunk_ids``."""
        new_ids = [c.chunk_id for c in doc.chunks]
        texts = [join_spread(c.embedding_text()) for c in doc.chunks]  # indexed as read, not as spread out
        dense = self._embed(texts)
        points = [
            IndexPoint(c.chunk_id, vector, self.analyzer.document_vector(text), {**c.payload(), "state": PENDING})
            for c, vector, text in zip(doc.chunks, dense, texts, strict=True)
        ]
        self.index.upsert(points)
        try:
            self.graph.write_document(doc)
        except BaseException:
            self.index.delete([cid for cid in new_ids if cid not in old_chunk_ids])
            raise
        stored = self.graph.get_document(doc.doc_id) or {}
        # an earlier filing stays out of default searches when its file is re-read
        self.index.set_payload(new_ids, {"state": "live", "filing": SUPERSEDED if stored.get("superseded_by") else "current"})
        self.index.delete([cid for cid in old_chunk_ids if cid not in set(new_ids)])
        self.graph.add_version(doc)  # history for compliance: versions and clause-level diffs

    def delete(self, doc_id: str) -> None:
        """The graph entry goes first (its chunks then belong to no document, so searches that
        resolve documents and ``doctor`` treat them as orphans), then the index points."""
        info = self.graph.get_document(doc_id)
        if info is None:
            raise NotFoundError(f"unknown doc_id '{doc_id}'")
        chunk_ids = list(info.get("chunk_ids") or [])
        self.index.set_payload(chunk_ids, {"state": PENDING})  # invisible at once
        self.graph.delete_document(doc_id)
        self.index.delete(chunk_ids)
        logger.info("deleted %s (%d chunks)", doc_id, len(chunk_ids))

    def set_audience(self, doc_id: str, audience: str) -> None:
        """Change who may see a document: the index payloads first (what searches filter on), then the graph."""
        if audience not in AUDIENCES:
            raise InputError(f"audience must be public or internal, not {audience!r}")
        info = self.graph.get_document(doc_id)
        if info is None:
            raise NotFoundError(f"unknown doc_id '{doc_id}'")
        self.index.set_payload(list(info.get("chunk_ids") or []), {"audience": audience})
        self.graph.set_audience(doc_id, audience)
        logger.info("document %s audience set to %s", doc_id, audience)

    def set_superseded(self, doc_id: str, by: str | None) -> None:
        """An earlier filing of a wording (``by``: the later filing's doc id) leaves default searches;
        ``None`` makes it current again. Index first (what searches filter on), then the graph."""
        info = self.graph.get_document(doc_id)
        if info is None:
            raise NotFoundError(f"unknown doc_id '{doc_id}'")
        if (info.get("superseded_by") or None) == by:
            return
        self.index.set_payload(list(info.get("chunk_ids") or []), {"filing": SUPERSEDED if by else "current"})
        self.graph.set_superseded(doc_id, by)
        logger.info("document %s: %s", doc_id, f"superseded by {by}" if by else "current filing")

    def record_failure(self, doc_id: str, source: str, reason: str) -> None:
        """The ledger: a document that failed is 'failed' with its reason (a previous good version stays)."""
        try:
            self.graph.record_failure(doc_id, source, mask_pii(reason))
        except BrokerKGError:
            logger.warning("could not record the failure of %s in the graph", doc_id)
