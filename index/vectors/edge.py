"""Qdrant Edge: the embedded Qdrant engine, one shard under ``<data_dir>/vectors``.

A shard is opened by one process at a time (its WAL is locked); BrokerKG's data-dir lock
makes that explicit before we get here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from domain.errors import DependencyError
from index.vectors.base import (
    DENSE,
    KEYWORD_FIELDS,
    PENDING,
    RRF_K,
    SPARSE,
    SUPERSEDED,
    IndexPoint,
    ScoredId,
    SearchFilter,
    SparseVec,
    cosine_to,
    to_point,
)

logger = logging.getLogger(__name__)

__all__ = ["PENDING", "EdgeIndex"]


class EdgeIndex:
    def __init__(self, path: Path, dim: int) -> None:
        import qdrant_edge as qe

        self._qe = qe
        self.writes = 0
        self._lock = threading.Lock()  # writes and flushes are serialised; queries run concurrently
        # One search thread: a query runs on its caller's thread. The default pool (one thread per
        # CPU, per segment) made every query's threads compete with concurrent requests for the
        # same cores while the caller held the GIL (bench/load.py: 1.45 vs 1.8-2.0 ms per query).
        config = qe.EdgeConfig(
            vectors={DENSE: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine)},
            sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
            max_search_threads=1,
        )
        try:
            if (path / "edge_config.json").exists() or any(path.glob("segments*")):
                self._shard = qe.EdgeShard.load(str(path), config)
            else:
                path.mkdir(parents=True, exist_ok=True)
                self._shard = qe.EdgeShard.create(str(path), config)
                for field in KEYWORD_FIELDS:
                    self._shard.update(qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Keyword))
        except Exception as exc:
            raise DependencyError(f"cannot open the vector index at {path}: {exc}") from exc

    def upsert(self, points: list[IndexPoint]) -> None:
        qe = self._qe
        rows = [
            qe.Point(
                p.id,
                {DENSE: p.dense, SPARSE: qe.SparseVector(p.sparse.indices, p.sparse.values)},
                p.payload,
            )
            for p in points
        ]
        with self._lock:
            for start in range(0, len(rows), 256):
                self._shard.update(qe.UpdateOperation.upsert_points(rows[start : start + 256]))
            self._shard.flush()
            self.writes += 1  # after the write: readers' caches of what the index holds start over

    def set_payload(self, ids: list[str], payload: dict[str, Any]) -> None:
        """Set payload fields on existing points (e.g. a document's audience)."""
        if not ids:
            return
        with self._lock:
            self._shard.update(self._qe.UpdateOperation.set_payload(list(ids), payload))
            self._shard.flush()
            self.writes += 1

    def delete(self, ids: list[str]) -> None:
        if not ids:
            return
        with self._lock:
            self._shard.update(self._qe.UpdateOperation.delete_points(list(ids)))
            self._shard.flush()
            self.writes += 1

    def _filter(self, flt: SearchFilter) -> Any:
        qe = self._qe
        must = []
        for key, values in (
            ("doc_type", flt.doc_types),
            ("product_id", flt.product_ids),
            ("doc_id", flt.doc_ids),
            ("audience", flt.audiences),
        ):
            if values:
                must.append(qe.FieldCondition(key=key, match=qe.MatchAny(list(values))))
        # Chunks of a document whose ingest has not committed yet are invisible.
        must_not = [qe.FieldCondition(key="state", match=qe.MatchAny([PENDING]))]
        if flt.current_only:
            must_not.append(qe.FieldCondition(key="filing", match=qe.MatchAny([SUPERSEDED])))
        return qe.Filter(must=must, must_not=must_not)

    def hybrid(
        self, dense: list[float] | None, sparse: SparseVec | None, flt: SearchFilter, limit: int, prefetch: int
    ) -> list[ScoredId]:
        qe = self._qe
        condition = self._filter(flt)
        prefetches = []
        if dense is not None:
            prefetches.append(qe.Prefetch(limit=prefetch, query=qe.Query.Nearest(dense, using=DENSE), filter=condition))
        if sparse is not None and sparse.indices:
            vector = qe.SparseVector(sparse.indices, sparse.values)
            prefetches.append(qe.Prefetch(limit=prefetch, query=qe.Query.Nearest(vector, using=SPARSE), filter=condition))
        if not prefetches:
            return []
        request = qe.QueryRequest(
            limit=limit, prefetches=prefetches, query=qe.Fusion.Rrf(k=RRF_K), filter=condition, with_payload=True
        )
        return [ScoredId(str(p.id), float(p.score), dict(p.payload or {})) for p in self._shard.query(request)]

    def document_frequency(self, term_ids: list[int], flt: SearchFilter, cap: int = 200) -> dict[int, int]:
        """How many points contain each term (counted up to ``cap``): a sparse query per term, ≈ 0.1–1 ms each."""
        qe = self._qe
        condition = self._filter(flt)
        out: dict[int, int] = {}
        for tid in term_ids:
            request = qe.QueryRequest(
                limit=cap, query=qe.Query.Nearest(qe.SparseVector([tid], [1.0]), using=SPARSE), filter=condition,
                with_payload=False,
            )
            out[tid] = len(self._shard.query(request))
        return out

    def dense_similarity(self, vector: list[float], ids: list[str]) -> dict[str, float]:
        """Cosine similarity of ``vector`` to the stored dense vectors of ``ids``."""
        if not ids:
            return {}
        return cosine_to(vector, self._shard.retrieve(list(ids), False, True))

    def retrieve(self, ids: list[str]) -> list[ScoredId]:
        if not ids:
            return []
        records = self._shard.retrieve(list(ids), True, False)
        return [ScoredId(str(r.id), 0.0, dict(r.payload or {})) for r in records]

    def count(self) -> int:
        return int(self._shard.count(self._qe.CountRequest(exact=True)))

    def all_ids(self) -> list[str]:
        ids: list[str] = []
        offset = None
        while True:
            records, offset = self._shard.scroll(self._qe.ScrollRequest(offset=offset, limit=1000, with_payload=False))
            ids.extend(str(r.id) for r in records)
            if offset is None:
                break
        return ids

    def payloads(self, flt: SearchFilter | None = None, batch: int = 1000) -> Iterator[dict[str, Any]]:
        """Every committed point's payload (matching ``flt``), in id order: documents, baselines, checks."""
        for _, payload in self._scroll(self._filter(flt or SearchFilter(current_only=False)), batch):
            yield payload

    def points(self, batch: int = 1000) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every point, pending ones included, as (id, payload): for consistency checks and repairs."""
        yield from self._scroll(None, batch)

    def export(self, batch: int = 256) -> Iterator[list[IndexPoint]]:
        offset = None
        while True:
            request = self._qe.ScrollRequest(offset=offset, limit=batch, with_payload=True, with_vector=True)
            records, offset = self._shard.scroll(request)
            out = [to_point(r) for r in records]
            if out:
                yield out
            if offset is None:
                break

    def _scroll(self, condition: Any, batch: int) -> Iterator[tuple[str, dict[str, Any]]]:
        offset = None
        while True:
            request = self._qe.ScrollRequest(offset=offset, limit=batch, with_payload=True, filter=condition)
            records, offset = self._shard.scroll(request)
            for r in records:
                yield str(r.id), dict(r.payload or {})
            if offset is None:
                break

    def optimize(self) -> None:
        """Qdrant Edge runs no optimizer by itself: without this, every point stays in one plain
        segment and each query scans them all (bench/scale.py, 105k chunks: hybrid query p50 21 ms
        as ingested, 4 ms after; the optimize took 122 s). Blocking; a no-op when already optimal."""
        with self._lock:
            self._shard.optimize()

    def close(self) -> None:
        with self._lock:
            try:
                self._shard.flush()
                self._shard.close()
            except Exception:  # already closed
                logger.debug("vector index close failed", exc_info=True)
