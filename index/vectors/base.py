"""Vector index contract: chunks with a dense and a sparse (BM25) vector, hybrid search fused with RRF."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

DENSE = "dense"
SPARSE = "bm25"
# Payload fields with a keyword index, in both engines.
KEYWORD_FIELDS = ("doc_id", "doc_type", "product_id", "audience", "state", "filing")
SUPERSEDED = "superseded"  # payload "filing": an earlier filing of a product's wording, searched only when asked for
RRF_K = 60  # reciprocal-rank-fusion constant, the same in both engines
PENDING = "pending"  # written, not yet committed in the graph: never returned by a search


@dataclass(frozen=True)
class SparseVec:
    indices: list[int]
    values: list[float]


@dataclass(frozen=True)
class IndexPoint:
    id: str
    dense: list[float]
    sparse: SparseVec
    payload: dict[str, Any]


@dataclass(frozen=True)
class SearchFilter:
    doc_types: tuple[str, ...] = ()
    product_ids: tuple[str, ...] = ()
    doc_ids: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()
    current_only: bool = True  # leave out earlier filings of a wording (payload filing == superseded)


@dataclass(frozen=True)
class ScoredId:
    id: str
    score: float
    payload: dict[str, Any]


def cosine_to(vector: list[float], records: Any) -> dict[str, float]:
    """Cosine similarity of ``vector`` to each record's stored dense vector (records from either engine)."""
    import numpy as np

    query = np.asarray(vector, dtype=np.float32)
    query /= np.linalg.norm(query) or 1.0
    out = {}
    for record in records:
        stored = np.asarray((record.vector or {}).get(DENSE, []), dtype=np.float32)
        if stored.size == query.size:
            out[str(record.id)] = float(query @ stored / (np.linalg.norm(stored) or 1.0))
    return out


def to_point(record: Any) -> IndexPoint:
    """A stored record (id, named vectors, payload) of either engine as an IndexPoint."""
    vectors = record.vector or {}
    sparse = vectors.get(SPARSE)
    return IndexPoint(
        str(record.id), [float(x) for x in vectors.get(DENSE, [])],
        SparseVec(list(sparse.indices), list(sparse.values)) if sparse is not None else SparseVec([], []),
        dict(record.payload or {}),
    )


class VectorIndex(Protocol):
    @property
    def writes(self) -> int:
        """How many writes the index's process made (upsert, set_payload, delete): caches key on it."""

    def upsert(self, points: list[IndexPoint]) -> None:
        ...

    def set_payload(self, ids: list[str], payload: dict[str, Any]) -> None:
        ...

    def delete(self, ids: list[str]) -> None:
        ...

    def hybrid(
        self, dense: list[float] | None, sparse: SparseVec | None, flt: SearchFilter, limit: int, prefetch: int
    ) -> list[ScoredId]:
        ...

    def document_frequency(self, term_ids: list[int], flt: SearchFilter, cap: int = 200) -> dict[int, int]:
        ...

    def dense_similarity(self, vector: list[float], ids: list[str]) -> dict[str, float]:
        ...

    def retrieve(self, ids: list[str]) -> list[ScoredId]:
        ...

    def count(self) -> int:
        ...

    def all_ids(self) -> list[str]:
        ...

    def payloads(self, flt: SearchFilter | None = None) -> Iterator[dict[str, Any]]:
        ...

    def points(self, batch: int = 1000) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every point, pending ones included, as (id, payload)."""
        ...

    def export(self, batch: int = 256) -> Iterator[list[IndexPoint]]:
        """Every point with its vectors, in batches: for migrating an index to another engine."""
        ...

    def optimize(self) -> None:
        """Build the search structures (HNSW, payload indexes) for what was written; a no-op where the
        engine does it in the background (a Qdrant server)."""
        ...

    def optimize_in_background(self, quiet_s: float = 5.0) -> None:
        """Keep the search structures built while serving, without stopping the answers: once
        writes have been quiet for ``quiet_s``; a no-op where the engine does it (a Qdrant server)."""
        ...

    def close(self) -> None:
        ...
