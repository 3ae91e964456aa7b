"""Logs and metrics for operators.

- Logs: one line per event, plain text or JSON (``BROKERKG_LOG_FORMAT=json``), each with the
  request id of the HTTP request that caused it (taken from ``X-Request-ID`` or generated,
  and echoed in the response). Every message passes through the personal-data mask.
- Metrics: Prometheus text format at ``/metrics`` from a registry per app: requests by
  route and status, latency histograms, answers by mode and outcome, flagged products,
  and the stores' state read at scrape time; with several serving processes, every process's
  series at each scrape, labelled ``process`` (``Metrics.share``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from domain.mask import mask_pii

logger = logging.getLogger(__name__)

PUBLISH_S = 5.0  # how often a serving process publishes its metrics for the others (Metrics.share)

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
NOISY = ("httpx", "jieba", "unstructured", "pdfminer", "neo4j", "httpcore", "sentence_transformers", "urllib3")


def new_request_id(header: str | None) -> str:
    """The caller's X-Request-ID when it is a sane token, else a fresh one."""
    if header and _REQUEST_ID.match(header):
        return header
    return uuid.uuid4().hex


_masking_installed = False


def install_masking() -> None:
    """Mask personal data in every log record when it is created, whatever handler gets it
    (ours, uvicorn's, a host application's, pytest's)."""
    global _masking_installed
    if _masking_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return record
        masked = mask_pii(message)
        if masked != message:
            record.msg, record.args = masked, None
        return record

    logging.setLogRecordFactory(factory)
    _masking_installed = True


class ContextFilter(logging.Filter):
    """Adds the request id (masking is done once, when the record is made: see install_masking)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid:
            entry["request_id"] = rid
        if record.exc_info:
            entry["exc"] = mask_pii(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = getattr(record, "request_id", None)
        return f"{line} [req {rid}]" if rid else line


def setup_logging(level: str = "INFO", fmt: str = "text", stream: Any = None) -> logging.Handler:
    install_masking()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_brokerkg", False)]:
        root.removeHandler(old)
    handler._brokerkg = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(getattr(logging, level))
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler


class Metrics:
    """Prometheus metrics for one app (own registry: several apps may live in one process)."""

    def __init__(self, stack: Any) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
        from prometheus_client.process_collector import ProcessCollector

        self.registry = CollectorRegistry()
        self._shared: tuple[Path, int] | None = None  # (folder, this process) with several processes
        self._stop = threading.Event()
        ProcessCollector(registry=self.registry)
        self.requests = Counter(
            "brokerkg_http_requests", "HTTP requests by route and status", ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "brokerkg_http_request_duration_seconds", "HTTP request latency by route", ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=self.registry,
        )
        self.answers = Counter(
            "brokerkg_answers", "Answers by mode (extractive/generated) and outcome (answered/no_answer)",
            ["mode", "outcome"], registry=self.registry,
        )
        self.flags = Counter(
            "brokerkg_flagged_products", "Off-sale products flagged in answers, by status", ["status"],
            registry=self.registry,
        )
        self.info = Info("brokerkg", "Build and stores", registry=self.registry)
        s = stack.settings
        self.info.info({
            "graph": "falkordb" if s.uses_bundled_graph else "neo4j",
            "vectors": "qdrant-edge" if not s.qdrant_url else "qdrant",
            "embedder": s.embedder,
            "llm": s.llm_provider or "extractive",
        })
        stores = Gauge("brokerkg_store_up", "1 when the store answers", ["store"], registry=self.registry)
        stores.labels("graph").set_function(lambda: _up(lambda: stack.graph.ping()))
        stores.labels("vectors").set_function(lambda: _up(lambda: stack.index.count()))
        Gauge("brokerkg_vector_points", "Points in the vector index", registry=self.registry).set_function(
            lambda: _value(lambda: stack.index.count())
        )
        self.registry.register(_QueryEmbeddings(stack))
        Gauge("brokerkg_graph_restarts", "Bundled graph server restarts since start", registry=self.registry).set_function(
            lambda: float(getattr(stack.graph.executor, "restarts", 0) if stack.graph else 0)
        )

    def observe_answer(self, data: dict[str, Any]) -> None:
        outcome = "answered" if data.get("citations") else "no_answer"
        self.answers.labels(data.get("mode") or "extractive", outcome).inc()
        for flag in data.get("flags", []):
            self.flags.labels(flag.get("status") or "unknown").inc()

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        own = generate_latest(self.registry)
        if self._shared is None:
            return own, CONTENT_TYPE_LATEST
        folder, process = self._shared
        _publish(folder, process, own)
        texts = {process: own.decode()}
        for path in sorted(folder.glob("*.prom")):
            if path.stem.isdigit() and int(path.stem) != process:
                try:
                    texts[int(path.stem)] = path.read_text(encoding="utf-8")
                except OSError:  # replaced or removed meanwhile: left out of this scrape
                    continue
        return _merged(texts), CONTENT_TYPE_LATEST

    def share(self, folder: Path, process: int, first: bool = False, every_s: float = PUBLISH_S) -> None:
        """With several serving processes (``serve --workers``) a scrape reaches whichever process the
        kernel gives its connection, so each process writes its metrics to ``folder`` every
        ``every_s`` seconds and at each scrape, and a scrape answers for all, each series labelled
        with its ``process`` (another process's as it wrote them last). ``first``: the owner, which
        empties the folder of an earlier run's files."""
        import shutil

        if first:
            shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        self._shared = (folder, process)

        def publish() -> None:
            from prometheus_client import generate_latest

            while True:
                _publish(folder, process, generate_latest(self.registry))
                if self._stop.wait(every_s):
                    return

        threading.Thread(target=publish, name="metrics", daemon=True).start()

    def close(self) -> None:
        self._stop.set()


def _publish(folder: Path, process: int, text: bytes) -> None:
    """This process's metrics for the others to answer with (replaced whole: a reader never sees half)."""
    tmp = folder / f".{process}.prom.tmp"
    try:
        tmp.write_bytes(text)
        os.replace(tmp, folder / f"{process}.prom")
    except OSError as exc:
        logger.warning("could not publish this process's metrics in %s: %s", folder, exc)


def _merged(texts: dict[int, str]) -> bytes:
    """The processes' metrics as one exposition, each sample labelled with its process."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import Metric
    from prometheus_client.parser import text_string_to_metric_families

    families: dict[str, Metric] = {}
    for process, text in sorted(texts.items()):
        try:
            parsed = list(text_string_to_metric_families(text))
        except ValueError as exc:  # a file cut short by a crash: that process is left out
            logger.warning("metrics of process %d unreadable: %s", process, exc)
            continue
        for family in parsed:
            merged = families.setdefault(family.name, Metric(family.name, family.documentation, family.type, family.unit))
            merged.samples += [s._replace(labels={**s.labels, "process": str(process)}) for s in family.samples]

    class Collected:
        def collect(self) -> Iterator[Metric]:
            yield from families.values()

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collected())
    return generate_latest(registry)


class _QueryEmbeddings:
    """The query embedder's counts since start, read at each scrape (an embedder without them,
    e.g. sentence-transformers', shows 0)."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily

        embedder = self.stack.embedder
        inner = getattr(embedder, "inner", embedder)
        calls = getattr(inner, "query_calls", {})
        vectors = CounterMetricFamily(
            "brokerkg_query_embeddings", "Query vectors: cached (repeated questions), alone (a call on every core), "
            "batched (in calls of one thread, asked while other requests were at work)", labels=["how"],
        )
        vectors.add_metric(["cached"], getattr(embedder, "hits", 0))
        vectors.add_metric(["alone"], calls.get("alone", 0))
        vectors.add_metric(["batched"], getattr(inner, "batched_queries", 0))
        yield vectors
        yield CounterMetricFamily(
            "brokerkg_query_embedding_batches", "Calls that embedded batched queries (batched ÷ this: the mean batch)",
            value=calls.get("batched", 0),
        )


def _up(probe: Any) -> float:
    try:
        probe()
        return 1.0
    except Exception:
        return 0.0


def _value(probe: Any) -> float:
    try:
        return float(probe())
    except Exception:
        return float("nan")
