"""The vector-index contract, run against both engines: Qdrant Edge (embedded) and
qdrant-client (local mode standing in for a server: same client, same requests); and against the
embedded one as a worker of ``serve --workers N`` sees it, over the owner's socket.

Also the migration command's core: an embedded index copied into a qdrant-client
collection answers the same hybrid queries with the same ranking.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from brokerkg.shared import RemoteIndex, ShareClient, ShareServer
from domain.errors import BrokerKGError
from domain.files import Generation
from index.vectors.base import PENDING, IndexPoint, SearchFilter, SparseVec
from index.vectors.edge import EdgeIndex
from index.vectors.qdrant_server import QdrantServerIndex, make_client, migrate

DIM = 8


def _vec(seed: int) -> list[float]:
    raw = [math.sin(seed * 1.7 + i) for i in range(DIM)]
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]


def _points(n: int = 40) -> list[IndexPoint]:
    out = []
    for i in range(n):
        doc = f"doc-{i % 5}"
        out.append(IndexPoint(
            str(uuid.uuid5(uuid.NAMESPACE_URL, f"p{i}")),
            _vec(i),
            SparseVec([i % 7, 100 + i % 3], [1.0 + (i % 2) + i / 1000, 1.0]),
            {"doc_id": doc, "doc_type": "clause" if i % 2 else "regulation", "audience": "public" if i % 3 else "internal",
             "product_id": f"P{i % 4}", "state": "done", "position": i},
        ))
    return out


@pytest.fixture(params=["edge", "qdrant-client", "worker"])
def index(request: Any, tmp_path: Path) -> Iterator[Any]:
    """Each engine, and the embedded one as a worker of ``serve --workers`` sees it (over the owner's socket)."""
    if request.param == "qdrant-client":
        idx: Any = QdrantServerIndex(make_client(f"local:{tmp_path / 'qdrant'}"), "brokerkg", DIM)
        yield idx
        idx.close()
        return
    idx = EdgeIndex(tmp_path / "vectors", DIM)
    if request.param == "edge":
        yield idx
        idx.close()
        return
    server = ShareServer(tmp_path / "share.sock", {"index": idx})
    remote = RemoteIndex(ShareClient(server.path), DIM, Generation(tmp_path / "generation"))
    remote.owner = idx  # for tests of writes made by another process
    try:
        yield remote
    finally:
        remote.close()
        server.close()
        idx.close()


def test_hybrid_search_filters_and_hides_pending(index: Any) -> None:
    pts = _points()
    index.upsert(pts)
    assert index.count() == 40
    hits = index.hybrid(_vec(3), SparseVec([3], [1.0]), SearchFilter(), limit=5, prefetch=20)
    assert hits[0].id == pts[3].id and hits[0].payload["position"] == 3

    clause_only = index.hybrid(_vec(4), SparseVec([4], [1.0]), SearchFilter(doc_types=("clause",)), 10, 40)
    assert clause_only and all(h.payload["doc_type"] == "clause" for h in clause_only)
    public = index.hybrid(_vec(3), None, SearchFilter(audiences=("public",), product_ids=("P3",)), 10, 40)
    assert public and all(h.payload["audience"] == "public" and h.payload["product_id"] == "P3" for h in public)

    index.set_payload([pts[3].id], {"state": PENDING})
    assert pts[3].id not in {h.id for h in index.hybrid(_vec(3), SparseVec([3], [1.0]), SearchFilter(), 40, 40)}
    assert pts[3].id not in {p["position"] for p in index.payloads()} and sum(1 for _ in index.payloads()) == 39
    assert sum(1 for _ in index.points()) == 40  # the repair tools still see it


def test_a_search_shows_each_payload_as_it_is_now(index: Any) -> None:
    """The embedded index keeps the payloads of what it found (index/vectors/payloads.py): a change to
    one shows at the next search, whoever made it, and what a caller does to a result stays its own."""
    pts = _points()
    index.upsert(pts)
    query = (_vec(3), SparseVec([3], [1.0]), SearchFilter(), 5, 20)
    first = index.hybrid(*query)
    assert first[0].id == pts[3].id and first[0].payload["audience"] == "internal"
    first[0].payload["locators"] = ["9.9"]  # callers add to a result's payload
    assert "locators" not in index.hybrid(*query)[0].payload

    writes = index.writes  # (readers' other caches key on it)
    index.set_payload([pts[3].id], {"audience": "public"})
    assert index.hybrid(*query)[0].payload["audience"] == "public" and index.writes != writes
    owner = getattr(index, "owner", None)
    if owner is not None:  # a write by the owner (or another worker): this worker never saw it made
        owner.set_payload([pts[3].id], {"audience": "internal", "position": 33})
        writes = index.writes
        found = index.hybrid(*query)[0].payload
        assert index.writes != writes  # the owner's count came with the search
        assert (found["audience"], found["position"]) == ("internal", 33)
        owner.delete([pts[3].id])
        assert pts[3].id not in {h.id for h in index.hybrid(*query)}


def test_frequency_similarity_retrieve_delete(index: Any) -> None:
    pts = _points()
    index.upsert(pts)
    df = index.document_frequency([3, 100, 999], SearchFilter())
    assert df == {3: sum(1 for i in range(40) if i % 7 == 3), 100: sum(1 for i in range(40) if i % 3 == 0), 999: 0}
    sims = index.dense_similarity(_vec(5), [pts[5].id, pts[6].id])
    assert sims[pts[5].id] == pytest.approx(1.0, abs=1e-3) and sims[pts[6].id] < sims[pts[5].id]
    assert [r.payload["position"] for r in index.retrieve([pts[7].id])] == [7]
    index.delete([p.id for p in pts[:10]])
    assert index.count() == 30 and set(index.all_ids()) == {p.id for p in pts[10:]}


def test_migration_copies_every_point_with_identical_rankings(tmp_path: Path) -> None:
    source = EdgeIndex(tmp_path / "vectors", DIM)
    target = QdrantServerIndex(make_client(f"local:{tmp_path / 'qdrant'}"), "brokerkg", DIM)
    try:
        pts = _points(300)
        source.upsert(pts)
        source.set_payload([pts[0].id], {"state": PENDING})
        assert migrate(source, target, batch=64) == 300
        assert target.count() == 300 and set(target.all_ids()) == {p.id for p in pts}
        assert migrate(source, target, batch=64) == 300 and target.count() == 300  # a rerun overwrites
        for seed in (1, 50, 123, 299):
            flt = SearchFilter(doc_types=("clause",))
            dense_a = source.hybrid(_vec(seed), None, flt, 10, 50)
            dense_b = target.hybrid(_vec(seed), None, flt, 10, 50)
            assert [h.id for h in dense_a] == [h.id for h in dense_b]
            a = source.hybrid(_vec(seed), SparseVec([seed % 7], [1.0]), flt, 10, 50)
            b = target.hybrid(_vec(seed), SparseVec([seed % 7], [1.0]), flt, 10, 50)
            assert [h.id for h in a][:5] == [h.id for h in b][:5]  # lower down, RRF ties may swap
            assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-6)
        copied = next(p for batch in target.export() for p in batch if p.id == pts[1].id)
        assert copied.dense == pytest.approx(pts[1].dense, abs=1e-5) and copied.sparse.indices == pts[1].sparse.indices
        assert pts[0].id not in {h.id for h in target.hybrid(_vec(0), SparseVec([0], [1.0]), SearchFilter(), 50, 50)}
    finally:
        source.close()
        target.close()


def test_collection_with_other_dimensions_is_refused(tmp_path: Path) -> None:
    client = make_client(f"local:{tmp_path / 'qdrant'}")
    QdrantServerIndex(client, "brokerkg", DIM)
    with pytest.raises(BrokerKGError, match="16.*re-ingest|8-dimensional"):
        QdrantServerIndex(client, "brokerkg", 16)
    client.close()


def test_a_search_during_a_write_never_gets_a_payload_from_before_it(tmp_path: Path) -> None:
    """A search may see a write before the write is counted (it is counted once flushed): while one
    is under way the payload cache is not used, so the payload matches what the search found."""
    index = EdgeIndex(tmp_path / "vectors", DIM)
    try:
        pts = _points()
        index.upsert(pts)
        query = (_vec(3), SparseVec([3], [1.0]), SearchFilter(), 5, 20)
        assert index.hybrid(*query)[0].payload["audience"] == "internal"  # cached
        seen: list[str] = []
        real_apply = index._apply

        def apply_then_search(shard: Any, op: str, args: tuple[Any, ...]) -> None:
            real_apply(shard, op, args)
            seen.append(index.hybrid(*query)[0].payload["audience"])  # the write applied, not yet counted

        index._apply = apply_then_search  # type: ignore[method-assign]
        index.set_payload([pts[3].id], {"audience": "public"})
        assert seen == ["public"]
        assert index.hybrid(*query)[0].payload["audience"] == "public"
    finally:
        index.close()
