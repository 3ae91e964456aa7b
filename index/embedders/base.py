"""Embedder contract: queries and passages are embedded differently (e5 prefixes)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Protocol


class Embedder(Protocol):
    @property
    def name(self) -> str:
        ...

    @property
    def dim(self) -> int:
        ...

    def embed_query(self, text: str) -> list[float]:
        ...

    def embed_passages(self, texts: list[str]) -> list[list[float]]:
        ...


class CachedQueries:
    """An embedder whose query vectors are kept in a bounded LRU (passages pass through).

    Bots and brokers repeat questions, and a text's vector never changes for one model; a
    repeated question then costs no model call. ``size`` 0 turns the cache off."""

    def __init__(self, inner: Embedder, size: int = 4096) -> None:
        self.inner = inner
        self.size = size
        self.hits = 0
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
                self.hits += 1
                return list(hit)
        vector = self.inner.embed_query(text)
        if self.size:
            with self._lock:
                self._cache[text] = list(vector)
                while len(self._cache) > self.size:
                    self._cache.popitem(last=False)
        return vector

    def embed_passages(self, texts: list[str]) -> list[list[float]]:
        return self.inner.embed_passages(texts)
