"""The Neo4j executor (graph/bolt.py) behind the driver's session interface.

The whole corpus is ingested through BoltExecutor with the queries of graph/queries.py
executed on the bundled graph (tests/graph/neo4j_fake.py), and the golden questions must
get the same answers as on the FalkorDB executor: one query module, two executors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import neo4j
import pytest

from brokerkg.settings import load_settings
from brokerkg.stack import Stack
from domain.errors import BrokerKGError, ConflictError, DependencyError
from graph.bolt import BoltExecutor
from graph.dialect import NEO4J, NODE_KEYS
from tests.conftest import DEMO, ROOT
from tests.graph.neo4j_fake import FakeDriver, neo4j_error


class Neo4jPathStack(Stack):
    """The real stack, with the graph reached through BoltExecutor."""

    fake: FakeDriver

    def _connect_graph(self) -> Any:
        self.fake = FakeDriver(super()._connect_graph())
        return BoltExecutor(self.fake, "brokerkg")


@pytest.fixture(scope="module")
def neo_stack(tmp_path_factory: pytest.TempPathFactory, regulations_dir: Path) -> Iterator[Neo4jPathStack]:
    from ingest.pipeline import import_catalog

    stack = Neo4jPathStack(load_settings(data_dir=tmp_path_factory.mktemp("neo4j-path"))).open()
    try:
        assert not stack.ingestor.ingest([regulations_dir], "regulation").failed
        assert import_catalog(stack.ingestor, DEMO / "catalog.csv").ok
        assert not stack.ingestor.ingest([DEMO / "cases"], "case").failed
        yield stack
    finally:
        stack.close()


def test_schema_uses_neo4j_constraints_and_cjk_fulltext(neo_stack: Neo4jPathStack) -> None:
    schema = neo_stack.fake.schema
    assert schema == list(NEO4J.schema)
    for label, prop in NODE_KEYS:
        assert any(f"(n:{label}) REQUIRE n.{prop} IS UNIQUE" in s for s in schema), label
    assert any("FULLTEXT" in s and "'cjk'" in s for s in schema)
    assert neo_stack.fake.databases == {"brokerkg"}


def test_same_graph_and_answers_as_the_bundled_executor(neo_stack: Neo4jPathStack, demo_stack: Any) -> None:
    """Both graphs hold the same corpus. To isolate the graph path, the answers compared use one
    vector index (the demo stack's; chunk ids are content-derived, so both graphs point into it)."""
    from retrieval.linking import Linker
    from retrieval.pipeline import Retriever

    assert neo_stack.graph.counts() == demo_stack.graph.counts()
    assert neo_stack.graph.list_products() == demo_stack.graph.list_products()
    linker = Linker(neo_stack.graph, neo_stack.lexicon)
    over_bolt = Retriever(neo_stack.graph, demo_stack.index, demo_stack.embedder, demo_stack.analyzer, linker,
                          config=demo_stack.retriever.config)
    golden = [json.loads(line) for line in (ROOT / "tests/golden/questions.jsonl").read_text().splitlines() if line.strip()]
    assert len(golden) > 150
    before = len(neo_stack.fake.transactions)
    for item in golden:
        a = over_bolt.ask(item["q"]).to_dict()
        b = demo_stack.retriever.ask(item["q"]).to_dict()
        assert a["answer"] == b["answer"], item["q"]
        assert a["citations"] == b["citations"] and a["flags"] == b["flags"], item["q"]
    assert len(neo_stack.fake.transactions) - before > len(golden)  # the answers really went through BoltExecutor


def test_a_document_is_written_in_one_transaction(neo_stack: Neo4jPathStack, tmp_path: Path) -> None:
    doc = tmp_path / "notice.md"
    doc.write_text("# 关于保险销售的通知\n\n第一条 保险销售人员应当如实说明。\n\n第二条 本通知自发布之日起施行。\n", encoding="utf-8")
    before = len(neo_stack.fake.transactions)
    assert neo_stack.ingestor.ingest([doc], "regulation").ingested
    writes = [t for t in neo_stack.fake.transactions[before:] if t.mode == neo4j.WRITE_ACCESS]
    document_tx = [t for t in writes if any("MERGE (d:Document {doc_id: $doc_id})" in s for s in t.statements)]
    assert len(document_tx) == 1
    statements = document_tx[0].statements
    assert "content_hash" in statements[-1] and any("HAS_ARTICLE" in s for s in statements)
    # every read ran in a read transaction and every write in a write one (FalkorDB's read-only entry rejects writes)
    assert all(t.mode in (neo4j.READ_ACCESS, neo4j.WRITE_ACCESS) for t in neo_stack.fake.transactions)


@pytest.fixture()
def executor(neo_stack: Neo4jPathStack) -> Iterator[tuple[BoltExecutor, FakeDriver]]:
    fake = neo_stack.fake
    yield neo_stack.graph.executor, fake
    fake.faults.clear()


def test_transient_failures_are_retried_with_the_whole_transaction(executor: Any) -> None:
    bolt, fake = executor
    fake.faults = [neo4j_error("Neo.TransientError.Transaction.DeadlockDetected"), neo4j.exceptions.SessionExpired("leader moved")]
    rows = bolt.run_batch([("RETURN 1 AS a", None), ("RETURN 2 AS b", None)], write=False)
    assert rows == [[{"a": 1}], [{"b": 2}]] and not fake.faults


def test_driver_errors_become_ours(executor: Any) -> None:
    bolt, fake = executor
    cases = [
        (neo4j.exceptions.ServiceUnavailable("no route"), DependencyError, "unavailable"),
        (neo4j_error("Neo.TransientError.General.DatabaseUnavailable"), DependencyError, "busy"),
        (neo4j_error("Neo.ClientError.Schema.ConstraintValidationFailed", "already exists with key"), ConflictError, "constraint"),
        (neo4j_error("Neo.ClientError.Security.Unauthorized", "bad credentials"), DependencyError, "BROKERKG_GRAPH_USER"),
        (neo4j_error("Neo.ClientError.Statement.SyntaxError", "Invalid input"), BrokerKGError, "SyntaxError"),
    ]
    for fault, error, words in cases:
        fake.faults = [fault] * (fake.retries + 1)
        with pytest.raises(error, match=words):
            bolt.run("RETURN 1 AS a")
        fake.faults.clear()
    assert ConflictError.status == 409 and DependencyError.status == 503
    assert bolt.run("RETURN 1 AS a") == [{"a": 1}]  # and the executor still works


def test_a_write_declared_as_a_read_is_refused(executor: Any) -> None:
    bolt, _ = executor
    with pytest.raises(BrokerKGError):
        bolt.run("CREATE (:Scratch {x: 1})")
    assert bolt.run("MATCH (n:Scratch) RETURN count(n) AS n") == [{"n": 0}]


def test_unreachable_neo4j_names_the_setting() -> None:
    with pytest.raises(DependencyError, match="BROKERKG_GRAPH_URI"):
        BoltExecutor.connect("bolt://127.0.0.1:9", "neo4j", "x", "neo4j", max_retry_s=1)
