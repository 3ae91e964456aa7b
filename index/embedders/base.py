"""Embedder contract: queries and passages are embedded differently (e5 prefixes)."""

from __future__ import annotations

from typing import Protocol


class Embedder(Protocol):
    name: str
    dim: int

    def embed_query(self, text: str) -> list[float]:
        ...

    def embed_passages(self, texts: list[str]) -> list[list[float]]:
        ...
