"""Any sentence-transformers model, by hub name or local directory (bge-m3, bge-small-zh, e5, …).

Offline by default: ``HF_HUB_OFFLINE`` is set before the hub libraries load, so a name
that is not in the local cache fails at once with a clear error instead of downloading.
Query/passage prefixes come from the model's own prompts (``config_sentence_transformers.json``)
when it has ``query``/``passage``/``document`` prompts, otherwise from the settings.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from domain.errors import ConfigError

logger = logging.getLogger(__name__)


def pick_device(requested: str) -> str:
    """'auto' → cuda when torch sees a GPU, mps on Apple silicon, else cpu."""
    if requested != "auto":
        return requested
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


class SentenceTransformerEmbedder:
    def __init__(
        self, model: str, *, device: str = "auto", batch_size: int = 32, query_prefix: str = "", passage_prefix: str = "",
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self.device = pick_device(device)
        try:
            self._model = SentenceTransformer(model, device=self.device)
        except Exception as exc:
            where = "directory" if Path(model).exists() else "model name (not in the local Hugging Face cache?)"
            raise ConfigError(f"BROKERKG_EMBEDDER: cannot load sentence-transformers {where} {model!r}: {exc}") from exc
        self.batch_size = batch_size
        self.dim = int(self._model.get_embedding_dimension() or 0)
        self.name = f"st:{model}"
        prompts = dict(getattr(self._model, "prompts", {}) or {})
        self._query_prompt = "query" if "query" in prompts else None
        self._passage_prompt = next((p for p in ("passage", "document") if p in prompts), None)
        self._query_prefix = "" if self._query_prompt else query_prefix
        self._passage_prefix = "" if self._passage_prompt else passage_prefix
        self._lock = threading.Lock()  # one encode at a time: the model's buffers are shared
        logger.info("embedder: %s on %s, %d dimensions", self.name, self.device, self.dim)

    def _encode(self, texts: list[str], prompt_name: str | None) -> Any:
        with self._lock:
            return self._model.encode(
                texts, batch_size=self.batch_size, prompt_name=prompt_name, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=False,
            )

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in self._encode([self._query_prefix + text], self._query_prompt)[0]]

    def embed_passages(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        matrix = self._encode([self._passage_prefix + t for t in texts], self._passage_prompt)
        return [[float(x) for x in row] for row in matrix]
