"""A Qdrant server (or qdrant-client's local mode) through ``qdrant-client``.

Same layout as the embedded shard (index/vectors/edge.py): one collection with a named
dense vector ``dense`` (cosine) and a named sparse vector ``bm25`` (IDF modifier), keyword
payload indexes on the filter fields, and chunks in state ``pending`` hidden from searches.
Scaling out (shards, replicas) is the server's job: ``shards``/``replicas`` are passed
through when the collection is created.

``url`` is ``http(s)://host:6333`` for a server, ``local:<path>`` or ``:memory:`` for
qdrant-client's local mode (tests, migration dry runs; ≈ 60× slower per hybrid query).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

from domain.errors import BrokerKGError, DependencyError
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


def make_client(url: str, api_key: str = "", timeout_s: float = 10.0) -> Any:
    from qdrant_client import QdrantClient

    if url == ":memory:":
        return QdrantClient(location=":memory:")
    if url.startswith("local:"):
        return QdrantClient(path=url.removeprefix("local:"))
    return QdrantClient(url=url, api_key=api_key or None, timeout=int(max(1, timeout_s)))


class QdrantServerIndex:
    def __init__(
        self, client: Any, collection: str, dim: int, *, embedder: str = "", shards: int = 1, replicas: int = 1
    ) -> None:
        from qdrant_client import models

        self._m = models
        self._client = client
        self.collection = collection
        self.writes = 0
        self._lock = threading.Lock()
        try:
            exists = client.collection_exists(collection)
            if exists:
                self._check_layout(dim)
            else:
                client.create_collection(
                    collection,
                    vectors_config={DENSE: models.VectorParams(size=dim, distance=models.Distance.COSINE)},
                    sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
                    shard_number=shards,
                    replication_factor=replicas,
                    metadata={"embedder": embedder} if embedder else None,
                )
                for field in KEYWORD_FIELDS:
                    client.create_payload_index(collection, field, models.PayloadSchemaType.KEYWORD, wait=True)
        except BrokerKGError:
            raise
        except Exception as exc:
            raise DependencyError(f"cannot open Qdrant collection {collection!r}: {exc}") from exc

    def _check_layout(self, dim: int) -> None:
        info = self._client.get_collection(self.collection)
        vectors = info.config.params.vectors
        dense = vectors.get(DENSE) if isinstance(vectors, dict) else None
        sparse = info.config.params.sparse_vectors or {}
        if dense is None or SPARSE not in sparse:
            raise BrokerKGError(
                f"Qdrant collection {self.collection!r} exists but is not a BrokerKG index "
                f"(needs named vectors {DENSE!r} and sparse {SPARSE!r}); choose another BROKERKG_QDRANT_COLLECTION"
            )
        if dense.size != dim:
            raise BrokerKGError(
                f"Qdrant collection {self.collection!r} holds {dense.size}-dimensional vectors but the embedder "
                f"gives {dim}; use a new collection and re-ingest after changing BROKERKG_EMBEDDER"
            )

    # --- writes -------------------------------------------------------------------------------

    def _point(self, p: IndexPoint) -> Any:
        m = self._m
        vector: dict[str, Any] = {DENSE: p.dense}
        if p.sparse.indices:
            vector[SPARSE] = m.SparseVector(indices=p.sparse.indices, values=p.sparse.values)
        return m.PointStruct(id=p.id, vector=vector, payload=p.payload)

    def upsert(self, points: list[IndexPoint]) -> None:
        with self._lock:
            for start in range(0, len(points), 256):
                batch = [self._point(p) for p in points[start : start + 256]]
                self._call(self._client.upsert, self.collection, batch, wait=True)
            self.writes += 1  # after the write: readers' caches of what the index holds start over

    def set_payload(self, ids: list[str], payload: dict[str, Any]) -> None:
        if ids:
            with self._lock:
                self._call(self._client.set_payload, self.collection, payload=payload, points=list(ids), wait=True)
                self.writes += 1

    def delete(self, ids: list[str]) -> None:
        if ids:
            with self._lock:
                selector = self._m.PointIdsList(points=list(ids))
                self._call(self._client.delete, self.collection, points_selector=selector, wait=True)
                self.writes += 1

    # --- reads --------------------------------------------------------------------------------

    def _filter(self, flt: SearchFilter | None, committed_only: bool = True) -> Any:
        m = self._m
        flt = flt or SearchFilter()
        must = [
            m.FieldCondition(key=key, match=m.MatchAny(any=list(values)))
            for key, values in (
                ("doc_type", flt.doc_types),
                ("product_id", flt.product_ids),
                ("doc_id", flt.doc_ids),
                ("audience", flt.audiences),
            )
            if values
        ]
        must_not = [m.FieldCondition(key="state", match=m.MatchAny(any=[PENDING]))] if committed_only else []
        if committed_only and flt.current_only:
            must_not.append(m.FieldCondition(key="filing", match=m.MatchAny(any=[SUPERSEDED])))
        return m.Filter(must=must or None, must_not=must_not or None)

    def hybrid(
        self, dense: list[float] | None, sparse: SparseVec | None, flt: SearchFilter, limit: int, prefetch: int
    ) -> list[ScoredId]:
        m = self._m
        condition = self._filter(flt)
        prefetches = []
        if dense is not None:
            prefetches.append(m.Prefetch(query=dense, using=DENSE, limit=prefetch, filter=condition))
        if sparse is not None and sparse.indices:
            vector = m.SparseVector(indices=sparse.indices, values=sparse.values)
            prefetches.append(m.Prefetch(query=vector, using=SPARSE, limit=prefetch, filter=condition))
        if not prefetches:
            return []
        result = self._call(
            self._client.query_points, self.collection, prefetch=prefetches,
            query=m.RrfQuery(rrf=m.Rrf(k=RRF_K)), query_filter=condition, limit=limit, with_payload=True,
        )
        return [ScoredId(str(p.id), float(p.score), dict(p.payload or {})) for p in result.points]

    def document_frequency(self, term_ids: list[int], flt: SearchFilter, cap: int = 200) -> dict[int, int]:
        m = self._m
        condition = self._filter(flt)
        out: dict[int, int] = {}
        for tid in term_ids:
            result = self._call(
                self._client.query_points, self.collection, query=m.SparseVector(indices=[tid], values=[1.0]),
                using=SPARSE, query_filter=condition, limit=cap, with_payload=False,
            )
            out[tid] = len(result.points)
        return out

    def dense_similarity(self, vector: list[float], ids: list[str]) -> dict[str, float]:
        if not ids:
            return {}
        return cosine_to(vector, self._call(
            self._client.retrieve, self.collection, list(ids), with_payload=False, with_vectors=[DENSE]))

    def retrieve(self, ids: list[str]) -> list[ScoredId]:
        if not ids:
            return []
        records = self._call(self._client.retrieve, self.collection, list(ids), with_payload=True, with_vectors=False)
        return [ScoredId(str(r.id), 0.0, dict(r.payload or {})) for r in records]

    def count(self) -> int:
        return int(self._call(self._client.count, self.collection, exact=True).count)

    def all_ids(self) -> list[str]:
        return [pid for pid, _ in self._scroll(None, 1000, with_payload=False)]

    def payloads(self, flt: SearchFilter | None = None, batch: int = 1000) -> Iterator[dict[str, Any]]:
        for _, payload in self._scroll(self._filter(flt or SearchFilter(current_only=False)), batch):
            yield payload

    def points(self, batch: int = 1000) -> Iterator[tuple[str, dict[str, Any]]]:
        yield from self._scroll(None, batch)

    def export(self, batch: int = 256) -> Iterator[list[IndexPoint]]:
        offset = None
        while True:
            records, offset = self._call(
                self._client.scroll, self.collection, limit=batch, offset=offset, with_payload=True, with_vectors=True
            )
            out = [to_point(r) for r in records]
            if out:
                yield out
            if offset is None:
                break

    def _scroll(self, condition: Any, batch: int, with_payload: bool = True) -> Iterator[tuple[str, dict[str, Any]]]:
        offset = None
        while True:
            records, offset = self._call(
                self._client.scroll, self.collection, scroll_filter=condition, limit=batch, offset=offset,
                with_payload=with_payload, with_vectors=False,
            )
            for r in records:
                yield str(r.id), dict(r.payload or {})
            if offset is None:
                break

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Connection trouble becomes a DependencyError (HTTP 503 + Retry-After)."""
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

            if isinstance(exc, ResponseHandlingException) or (
                isinstance(exc, UnexpectedResponse) and exc.status_code in (502, 503, 504)
            ) or isinstance(exc, ConnectionError | TimeoutError):
                raise DependencyError(f"vector server unavailable ({type(exc).__name__}); retry shortly") from exc
            raise

    def optimize(self) -> None:
        """The server's optimizers run in the background."""

    def optimize_in_background(self, quiet_s: float = 5.0) -> None:
        """The server's optimizers run in the background."""

    def close(self) -> None:
        try:
            self._client.close()
        except Exception:
            logger.debug("qdrant client close failed", exc_info=True)


def migrate(source: Any, target: Any, batch: int = 256) -> int:
    """Copy every point (vectors and payload, pending ones included) from ``source`` to ``target``.

    Idempotent: point ids are the chunk ids, so a rerun after an interruption overwrites
    what was copied and adds the rest.
    """
    copied = 0
    for points in source.export(batch):
        target.upsert(points)
        copied += len(points)
        logger.info("migrated %d points", copied)
    return copied
