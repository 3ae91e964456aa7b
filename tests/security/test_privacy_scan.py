"""Runs last (marker ``after_suite``): after the whole suite, no unmasked personal data in the index, the graph, the logs or answers.

The demo cases carry well-formed ID numbers, mobile numbers and a bank card; ingest masks them,
answers are masked again, and questions are masked before they reach a log or the audit trail.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from domain.mask import find_pii
from retrieval.evaluation import load_golden
from tests.conftest import SESSION_LOG

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "questions.jsonl"
WITH_PII = [
    "客户身份证号330106198503124512，手机13957124680，他的甲状腺结节被拒赔了怎么办",
    "银行卡6222 0212 3456 7890 128扣款失败，宽限期内身故赔吗",
    "客户邮箱li.ming@example.com，康宁2019的等待期多久",
]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@pytest.mark.after_suite
def test_no_unmasked_personal_data_anywhere_after_the_suite(demo_stack: Any, client: Any) -> None:
    found: dict[str, list[str]] = {}
    # answers, including to questions that carry personal data
    answers = [client.post("/v1/ask", json={"question": q}).text for q in WITH_PII]
    answers += [json.dumps(demo_stack.retriever.ask(item.q).to_dict(), ensure_ascii=False) for item in load_golden(GOLDEN)]
    found["answers"] = [p for a in answers for p in find_pii(a)]
    # the vector index: every payload
    found["index"] = [p for payload in demo_stack.index.payloads() for s in _strings(payload) for p in find_pii(s)]
    # the graph: every property of every node
    rows = demo_stack.graph.executor.run("MATCH (n) RETURN properties(n) AS props")
    found["graph"] = [p for row in rows for s in _strings(row["props"]) for p in find_pii(s)]
    # the logs of this test session and the audit trail
    found["logs"] = find_pii(SESSION_LOG.read_text(encoding="utf-8")) if SESSION_LOG.exists() else []
    audit = demo_stack.data_dir / "audit" / "audit.jsonl"
    found["audit"] = find_pii(audit.read_text(encoding="utf-8")) if audit.exists() else []
    # stop-sale alerts and their dead letters (api/alerts/)
    found["alerts"] = [p for f in sorted((demo_stack.data_dir / "alerts").glob("*.jsonl"))
                       for p in find_pii(f.read_text(encoding="utf-8"))]
    counts = {k: len(v) for k, v in found.items()}
    print(f"\nprivacy scan: {len(rows)} graph nodes, {sum(1 for _ in demo_stack.index.payloads())} index points, "
          f"{len(answers)} answers, log {SESSION_LOG.stat().st_size if SESSION_LOG.exists() else 0} bytes; unmasked {counts}")
    assert SESSION_LOG.exists() and audit.exists() and len(rows) > 100
    assert all(not v for v in found.values()), {k: v[:5] for k, v in found.items() if v}
