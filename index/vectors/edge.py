"""Qdrant Edge: the embedded Qdrant engine, one shard under ``<data_dir>/vectors``.

A shard is opened by one process at a time (its WAL is locked); BrokerKG's data-dir lock
makes that explicit before we get here. A serving process keeps the shard's search structures
built by optimizing a copy aside (index/vectors/edge_aside.py) and swapping it in.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.errors import DependencyError
from index.vectors import edge_aside
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
from index.vectors.payloads import PayloadCache

logger = logging.getLogger(__name__)

__all__ = ["PENDING", "EdgeIndex", "open_shard"]

# A segment whose dense vectors exceed this gets an HNSW index at the next optimize; below it,
# points stay in a plain segment that a query scans (cheap at this size). Qdrant's default, set
# explicitly so that ``needs_optimize`` counts with the engine's own figure.
INDEXING_THRESHOLD_KB = 10_000
MAX_SEGMENTS = 8  # more than this after writes: the merge optimizer has work
DELETED_SHARE = 0.2  # deleted points past this share (and VACUUM_MIN): the vacuum optimizer has work (Qdrant's defaults)
VACUUM_MIN = 1000
JOURNAL_MAX_POINTS = 100_000  # writes kept for the replay while a copy is optimized; past it the optimize starts over


def _config(qe: Any, dim: int, threshold_kb: int) -> Any:
    # One search thread: a query runs on its caller's thread. The default pool (one thread per
    # CPU, per segment) made every query's threads compete with concurrent requests for the
    # same cores while the caller held the GIL (bench/load.py: 1.45 vs 1.8-2.0 ms per query).
    return qe.EdgeConfig(
        vectors={DENSE: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine)},
        sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        optimizers=qe.EdgeOptimizersConfig(indexing_threshold=threshold_kb),
        max_search_threads=1,
    )


def open_shard(path: Path, dim: int, threshold_kb: int = INDEXING_THRESHOLD_KB) -> Any:
    """The shard at ``path``, created (with its payload indexes) when there is none."""
    import qdrant_edge as qe

    config = _config(qe, dim, threshold_kb)
    if (path / "edge_config.json").exists() or any(path.glob("segments*")):
        return qe.EdgeShard.load(str(path), config)
    path.mkdir(parents=True, exist_ok=True)
    shard = qe.EdgeShard.create(str(path), config)
    for field in KEYWORD_FIELDS:
        shard.update(qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Keyword))
    return shard


@dataclass(frozen=True)
class AsideReport:
    """What one optimize aside did (seconds; ``replayed``: writes made meanwhile, applied to the copy)."""

    swapped: bool
    copy_s: float
    child_s: float
    swap_s: float
    replayed: int
    reason: str = ""


class _Gate:
    """Reads run side by side; a swap waits for those running and holds new ones back."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._closed = False

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._closed:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._closed = True
            while self._readers:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._closed = False
                self._cond.notify_all()


class EdgeIndex:
    def __init__(self, path: Path, dim: int, *, threshold_kb: int = INDEXING_THRESHOLD_KB) -> None:
        import qdrant_edge as qe

        self._qe = qe
        self.path, self.dim, self.threshold_kb = path, dim, threshold_kb
        self.writes = 0
        self.version = 0  # 2 per write: odd while one is under way (the payload cache's stamp)
        self._payloads = PayloadCache()
        self._lock = threading.Lock()  # writes, flushes and the swap are serialised; queries run concurrently
        self._gate = _Gate()  # queries against the swap
        self._journal: list[tuple[str, tuple[Any, ...]]] | None = None  # writes made while a copy is optimized
        self._closed = False
        self._child: Any = None
        self._wake: threading.Event | None = None
        self._optimizer: threading.Thread | None = None
        self._optimized_at: tuple[int, int, int] | None = None  # the shard's counts after the last optimize
        # vectors written (upserted, or moved by a payload change) and points deleted since they were
        # last indexed: the shard's own counts do not show updates (a moved vector stays counted)
        self._written = 0
        self._deleted = 0
        self._journal_points = 0
        self.last_aside: AsideReport | None = None
        try:
            edge_aside.recover(path)
            self._shard = open_shard(path, dim, threshold_kb)
        except Exception as exc:
            raise DependencyError(f"cannot open the vector index at {path}: {exc}") from exc

    # --- writes ------------------------------------------------------------------------------

    def _apply(self, shard: Any, op: str, args: tuple[Any, ...]) -> None:
        qe = self._qe
        if op == "upsert":
            (rows,) = args
            for start in range(0, len(rows), 256):
                shard.update(qe.UpdateOperation.upsert_points(rows[start : start + 256]))
        elif op == "set_payload":
            ids, payload = args
            shard.update(qe.UpdateOperation.set_payload(ids, payload))
        else:
            (ids,) = args
            shard.update(qe.UpdateOperation.delete_points(ids))

    def _write(self, op: str, *args: Any) -> None:
        size = len(args[0])
        with self._lock:
            self.version += 1  # odd: a write is under way (searches may already see it)
            try:
                self._apply(self._shard, op, args)
                self._shard.flush()
            finally:  # even a write that failed halfway is replayed: each operation is idempotent
                self.version += 1
                self.writes += 1  # after the write: readers' caches of what the index holds start over
                if op == "delete":
                    self._deleted += size
                else:
                    self._written += size
                if self._journal is not None:
                    self._journal.append((op, args))
                    self._journal_points += size
                    if self._journal_points > JOURNAL_MAX_POINTS:  # too much to keep: this optimize starts over later
                        self._journal = None
                        self._stop_child()
        if self._wake is not None:
            self._wake.set()

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
        self._write("upsert", rows)

    def set_payload(self, ids: list[str], payload: dict[str, Any]) -> None:
        """Set payload fields on existing points (e.g. a document's audience)."""
        if ids:
            self._write("set_payload", list(ids), dict(payload))

    def delete(self, ids: list[str]) -> None:
        if ids:
            self._write("delete", list(ids))

    # --- reads -------------------------------------------------------------------------------

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
        """Searched without payloads, which come from the payload cache (index/vectors/payloads.py)."""
        ranked, version = self.ranked(dense, sparse, flt, limit, prefetch)
        return self._payloads.complete(ranked, version, self.retrieve)

    def ranked(
        self, dense: list[float] | None, sparse: SparseVec | None, flt: SearchFilter, limit: int, prefetch: int
    ) -> tuple[list[tuple[str, float]], int]:
        """The hybrid search's (id, score) pairs, best first, and the index's version after it (2 per
        write, odd while a write is under way: ``PayloadCache.complete``)."""
        qe = self._qe
        condition = self._filter(flt)
        prefetches = []
        if dense is not None:
            prefetches.append(qe.Prefetch(limit=prefetch, query=qe.Query.Nearest(dense, using=DENSE), filter=condition))
        if sparse is not None and sparse.indices:
            vector = qe.SparseVector(sparse.indices, sparse.values)
            prefetches.append(qe.Prefetch(limit=prefetch, query=qe.Query.Nearest(vector, using=SPARSE), filter=condition))
        if not prefetches:
            return [], self.version
        request = qe.QueryRequest(
            limit=limit, prefetches=prefetches, query=qe.Fusion.Rrf(k=RRF_K), filter=condition, with_payload=False
        )
        with self._gate.read():
            found = self._shard.query(request)
        return [(str(p.id), float(p.score)) for p in found], self.version

    def document_frequency(self, term_ids: list[int], flt: SearchFilter, cap: int = 200) -> dict[int, int]:
        """How many points contain each term (counted up to ``cap``): a sparse query per term, ≈ 0.1–1 ms each."""
        qe = self._qe
        condition = self._filter(flt)
        requests = {
            tid: qe.QueryRequest(
                limit=cap, query=qe.Query.Nearest(qe.SparseVector([tid], [1.0]), using=SPARSE), filter=condition,
                with_payload=False,
            )
            for tid in term_ids
        }
        with self._gate.read():
            return {tid: len(self._shard.query(request)) for tid, request in requests.items()}

    def dense_similarity(self, vector: list[float], ids: list[str]) -> dict[str, float]:
        """Cosine similarity of ``vector`` to the stored dense vectors of ``ids``."""
        if not ids:
            return {}
        with self._gate.read():
            records = self._shard.retrieve(list(ids), False, True)
        return cosine_to(vector, records)

    def retrieve(self, ids: list[str]) -> list[ScoredId]:
        if not ids:
            return []
        with self._gate.read():
            records = self._shard.retrieve(list(ids), True, False)
        return [ScoredId(str(r.id), 0.0, dict(r.payload or {})) for r in records]

    def count(self) -> int:
        with self._gate.read():
            return int(self._shard.count(self._qe.CountRequest(exact=True)))

    def all_ids(self) -> list[str]:
        return [point_id for page in self._pages(None, 1000, with_payload=False) for point_id, _ in page]

    def payloads(self, flt: SearchFilter | None = None, batch: int = 1000) -> Iterator[dict[str, Any]]:
        """Every committed point's payload (matching ``flt``), in id order: documents, baselines, checks."""
        for page in self._pages(self._filter(flt or SearchFilter(current_only=False)), batch):
            for _, payload in page:
                yield payload

    def points(self, batch: int = 1000) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every point, pending ones included, as (id, payload): for consistency checks and repairs."""
        for page in self._pages(None, batch):
            yield from page

    def export(self, batch: int = 256) -> Iterator[list[IndexPoint]]:
        offset = None
        while True:
            request = self._qe.ScrollRequest(offset=offset, limit=batch, with_payload=True, with_vector=True)
            with self._gate.read():
                records, offset = self._shard.scroll(request)
            out = [to_point(r) for r in records]
            if out:
                yield out
            if offset is None:
                break

    def _pages(self, condition: Any, batch: int, with_payload: bool = True) -> Iterator[list[tuple[str, dict[str, Any]]]]:
        # one page per read: a caller that stops iterating never holds a swap back
        offset = None
        while True:
            request = self._qe.ScrollRequest(offset=offset, limit=batch, with_payload=with_payload, filter=condition)
            with self._gate.read():
                records, offset = self._shard.scroll(request)
            yield [(str(r.id), dict(r.payload or {})) for r in records]
            if offset is None:
                break

    # --- search structures -------------------------------------------------------------------

    def optimize(self) -> None:
        """Qdrant Edge runs no optimizer by itself: without this, every point stays in one plain
        segment and each query scans them all (bench/scale.py, 105k chunks: hybrid query p50 21 ms
        as ingested, 4 ms after; the optimize took 122 s). Blocking, and it holds the GIL: for a
        process that serves, ``optimize_in_background``. A no-op when already optimal."""
        with self._lock:
            self._shard.optimize()
            self._optimized_at = self._counts()
            self._written, self._deleted = self._left_unindexed(self._written), 0

    def _kb(self, vectors: int) -> float:
        return vectors * self.dim * 4 / 1024

    def _left_unindexed(self, written: int) -> int:
        """What an optimize leaves in a plain segment of what was written before it: all of it below
        the indexing threshold, none of it past."""
        return written if self._kb(written) < self.threshold_kb else 0

    def _counts(self) -> tuple[int, int, int]:
        with self._gate.read():
            info = self._shard.info()
        return int(info.points_count), int(info.indexed_vectors_count), int(info.segments_count)

    def needs_optimize(self) -> bool:
        """Whether an optimize would build anything: vectors written since the last optimize past
        the indexing threshold, deleted points for the vacuum optimizer, or (for a shard written by
        another process, and once per change of its counts) dense vectors without an HNSW index
        (every point has a dense and a sparse vector; sparse ones count as indexed) or segments the
        merge optimizer would join."""
        counts = self._counts()
        points, indexed, segments = counts
        if self._kb(self._written) >= self.threshold_kb:
            return True
        if self._deleted >= VACUUM_MIN and self._deleted >= DELETED_SHARE * max(points, 1):
            return True
        if counts == self._optimized_at:
            return False
        return self._kb(max(0, 2 * points - indexed)) >= self.threshold_kb or segments > MAX_SEGMENTS

    def optimize_aside(self) -> AsideReport | None:
        """Optimize a copy of the shard in a child process while this one answers and takes writes,
        replay the writes made meanwhile into the copy, and swap it in. Queries wait only for the
        swap (close, two renames, load); writes for the copy, the replay and the swap. None when
        there is nothing to build."""
        if not self.needs_optimize():
            return None
        t0 = time.perf_counter()
        with self._lock:
            if self._closed:
                return None
            short = edge_aside.short_of_disk(self.path)
            if short:
                logger.warning("vector index: not optimized aside, %s", short)
                return self._failed(None, short, 0.0, 0.0)
            self._shard.flush()
            points = self.count()
            written, deleted = self._written, self._deleted
            tmp = edge_aside.copy(self.path)
            if self._closed:  # close() came while the copy was made: no child to start
                return self._failed(tmp, "the index was closed", time.perf_counter() - t0, 0.0)
            self._child = child = edge_aside.start_child(tmp, self.dim, self.threshold_kb)
            self._journal, self._journal_points = [], 0
            self._written = self._deleted = 0  # from here on: what the replay adds to the copy
        t1 = time.perf_counter()
        _, err = child.communicate()
        t2 = time.perf_counter()
        with self._lock:
            journal, self._journal, self._child = self._journal, None, None
            try:
                if self._closed:
                    reason = "the index was closed"
                elif journal is None:
                    reason = f"more than {JOURNAL_MAX_POINTS} points were written meanwhile; it starts over once writes are quiet"
                elif child.returncode != 0:
                    reason = f"the child exited with {child.returncode}: {err.decode(errors='replace')[-500:]}"
                else:
                    reason = self._replay(tmp, points, journal)
            except BaseException as exc:
                self._failed(tmp, f"the replay failed: {exc}", t1 - t0, t2 - t1, written, deleted)
                raise
            if reason:
                return self._failed(tmp, reason, t1 - t0, t2 - t1, written, deleted)
            ready = edge_aside.sibling(self.path, ".next")
            edge_aside.make_durable()
            tmp.rename(ready)  # complete: a crash from the first rename of the swap on finishes it at the next start
            with self._gate.exclusive():
                t3 = time.perf_counter()
                self._shard.close()
                self._swap(ready)
                swap_s = time.perf_counter() - t3
            # what was replayed is not indexed yet; what was written before the copy is, past the threshold
            self._written += self._left_unindexed(written)
            self._optimized_at = None if journal else self._counts()
        shutil.rmtree(edge_aside.sibling(self.path, ".old"), ignore_errors=True)
        replayed = len(journal or [])
        self.last_aside = AsideReport(True, t1 - t0, t2 - t1, swap_s, replayed)
        logger.info(
            "vector index optimized aside: copy %.1f s, child %.1f s, %d write(s) replayed, queries held %.0f ms",
            t1 - t0, t2 - t1, replayed, 1000 * swap_s,
        )
        return self.last_aside

    def _replay(self, tmp: Path, points: int, journal: list[tuple[str, tuple[Any, ...]]]) -> str:
        """Apply the writes made while the child ran to its optimized copy; why not, or ""."""
        copy = open_shard(tmp, self.dim, self.threshold_kb)
        try:
            copied = int(copy.count(self._qe.CountRequest(exact=True)))
            if copied != points:
                return f"the optimized copy holds {copied} points, the index held {points}"
            for op, args in journal:
                self._apply(copy, op, args)
            copy.flush()
            return ""
        finally:
            copy.close()

    def _swap(self, ready: Path) -> None:
        """Put ``ready`` in the live shard's place and open it (the live shard is closed, queries
        held). On any failure the whole shard that is left in place is opened again."""
        try:
            edge_aside.swap_in(self.path, ready)
        except BaseException:  # a rename failed: whichever whole shard is in place serves on
            edge_aside.recover(self.path)
            self._shard = open_shard(self.path, self.dim, self.threshold_kb)
            raise
        try:
            self._shard = open_shard(self.path, self.dim, self.threshold_kb)
        except BaseException:  # the copy does not open: the shard it replaced comes back
            edge_aside.swap_back(self.path)
            self._shard = open_shard(self.path, self.dim, self.threshold_kb)
            raise

    def _failed(self, tmp: Path | None, reason: str, copy_s: float, child_s: float,
                written: int = 0, deleted: int = 0) -> AsideReport:
        """The live shard as it was: the copy dropped, the writes before it still to be indexed."""
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        self._written += written
        self._deleted += deleted
        if not self._closed and tmp is not None:
            logger.error("vector index: the optimize aside failed, the live shard is unchanged (%s)", reason)
        self.last_aside = AsideReport(False, copy_s, child_s, 0.0, 0, reason)
        return self.last_aside

    def optimize_in_background(self, quiet_s: float = 5.0) -> None:
        """From now on, once writes have been quiet for ``quiet_s``, optimize aside when needed
        (checked at once too: a data dir written by a server of an earlier version)."""
        if self._optimizer is not None:
            return
        self._wake = threading.Event()
        self._wake.set()
        self._optimizer = threading.Thread(target=self._optimize_loop, args=(quiet_s,), name="vectors-optimizer", daemon=True)
        self._optimizer.start()

    def _optimize_loop(self, quiet_s: float) -> None:
        wake = self._wake
        assert wake is not None
        while not self._closed:
            wake.wait()
            wake.clear()
            while not self._closed and wake.wait(quiet_s):  # a write came: wait for quiet again
                wake.clear()
            if self._closed:
                break
            try:
                self.optimize_aside()
            except BaseException:  # (a panic in the engine is one) a whole shard is in place; tried again after the next write
                logger.exception("vector index: the optimize aside failed")

    def _stop_child(self) -> None:
        child = self._child
        if child is not None and child.poll() is None:
            child.terminate()  # its copy is dropped; the live shard never depended on it

    def close(self) -> None:
        self._closed = True
        if self._wake is not None:
            self._wake.set()
        self._stop_child()
        with self._lock:
            self._stop_child()  # one started while this waited for the lock
            try:
                self._shard.flush()
                self._shard.close()
            except Exception:  # already closed
                logger.debug("vector index close failed", exc_info=True)
        if self._optimizer is not None and self._optimizer is not threading.current_thread():
            self._optimizer.join(timeout=10)
