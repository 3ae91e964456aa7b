"""Stores that agree: interrupted ingests leave nothing visible, doctor repairs, re-ingests are idempotent."""

from __future__ import annotations

import random
import shutil
import threading
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from brokerkg.doctor import check
from brokerkg.settings import load_settings
from brokerkg.stack import Stack
from index.vectors.base import IndexPoint, SparseVec
from tests.conftest import DEMO, run_cli


def _docs(folder: Path) -> Path:
    folder.mkdir()
    for name in ("clauses/ak-ci-2021.md", "clauses/hn-acc-2022.html", "cases/case-04-grace-period-shouhu.txt",
                 "cases/case-06-physical-exam-anxiang.md"):
        shutil.copy(DEMO / name, folder)
    return folder


def _state(stack: Any) -> tuple[list[str], dict[str, list[str]]]:
    ids = sorted(pid for pid, _ in stack.index.points())
    docs = {r["doc_id"]: sorted(r["chunk_ids"] or []) for r in stack.graph.ledger()}
    return ids, docs


def test_interrupted_ingest_is_invisible_and_doctor_repairs_it(tmp_path: Path) -> None:
    docs = _docs(tmp_path / "docs")
    with Stack(load_settings(data_dir=tmp_path / "data")) as stack:
        assert not stack.ingestor.ingest([docs]).failed
        assert check(stack.graph, stack.index).consistent
        # a crash after the index write, before the graph commit: pending points of an unknown document
        ghost = [IndexPoint(f"00000000-0000-4000-8000-00000000000{i}", stack.embedder.embed_query("宽限期"),
                            SparseVec([1], [1.0]), {"doc_id": "ghost", "doc_type": "case", "title": "幽灵", "locator": "x",
                                                    "text": "宽限期 幽灵文本", "state": "pending", "audience": "public"})
                 for i in range(3)]
        stack.index.upsert(ghost)
        answer = stack.retriever.ask("宽限期内身故保险公司赔吗").to_dict()
        assert all(c["doc_id"] != "ghost" for c in answer["citations"])  # nothing half-visible
        # and a crash in the middle of the graph write: a document stuck 'processing'
        victim = next(r["doc_id"] for r in stack.graph.ledger() if "ak-ci-2021" in r["doc_id"])
        stack.graph.executor.run("MATCH (d:Document {doc_id: $id}) SET d.status = 'processing'", {"id": victim}, write=True)
        report = check(stack.graph, stack.index, repair=True)
        assert not report.consistent and report.interrupted == [victim]
        assert {p.id for p in ghost} <= set(report.orphans)
        after = check(stack.graph, stack.index)
        assert after.consistent and any(f["doc_id"] == victim and "interrupted" in f["reason"] for f in after.failures)
        # the next ingest redoes the interrupted document; everything is done again
        again = stack.ingestor.ingest([docs])
        assert len(again.ingested) == 1 and len(again.unchanged) == 3
        final = check(stack.graph, stack.index)
        assert final.consistent and final.done == 4 and final.failed == 0
    result = run_cli(["doctor"], tmp_path / "data")
    assert result.returncode == 0 and "stores are consistent" in result.stdout


def test_failed_documents_are_in_the_ledger_with_their_reason(tmp_path: Path) -> None:
    docs = _docs(tmp_path / "docs")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.7\n% truncated")
    with Stack(load_settings(data_dir=tmp_path / "data")) as stack:
        report = stack.ingestor.ingest([docs])
        assert len(report.failed) == 1
        doctor = check(stack.graph, stack.index)
        assert doctor.consistent and doctor.done == 4 and doctor.failed == 1
        assert "broken.pdf" in doctor.failures[0]["source"] and doctor.failures[0]["reason"]


def test_reingest_shuffled_and_concurrent_gives_identical_ids(tmp_path: Path) -> None:
    docs = _docs(tmp_path / "docs")
    files = sorted(docs.iterdir())
    with Stack(load_settings(data_dir=tmp_path / "data")) as stack:
        assert not stack.ingestor.ingest(files).failed
        reference = _state(stack)
        rng = random.Random(3)
        for _ in range(3):
            order = files[:]
            rng.shuffle(order)
            report = stack.ingestor.ingest(order)
            assert not report.ingested and len(report.unchanged) == 4
            assert _state(stack) == reference
        # two clients ingesting the same corpus at the same time, through the server
        client = TestClient(create_app(stack))
        results: list[Any] = []
        threads = [threading.Thread(target=lambda: results.append(client.post("/v1/ingest", json={"paths": [str(docs)]})))
                   for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [r.status_code for r in results] == [200, 200]
        assert _state(stack) == reference
        assert check(stack.graph, stack.index).consistent


def test_delete_removes_a_document_from_both_stores(tmp_path: Path) -> None:
    docs = _docs(tmp_path / "docs")
    data = tmp_path / "data"
    with Stack(load_settings(data_dir=data)) as stack:
        assert not stack.ingestor.ingest([docs]).failed
        before = stack.index.count()
        client = TestClient(create_app(stack))
        victim = next(r["doc_id"] for r in stack.graph.ledger() if "case-04" in r["doc_id"])
        assert client.delete(f"/v1/documents/{victim}").json() == {"deleted": victim}
        assert stack.graph.get_document(victim) is None and stack.index.count() == before - 4
        answer = client.post("/v1/ask", json={"question": "宽限期内身故的判决结果"}).json()
        assert all(c["doc_id"] != victim for c in answer["citations"])
        assert client.delete(f"/v1/documents/{victim}").status_code == 404
        assert check(stack.graph, stack.index).consistent
    # from the CLI, by the path it was ingested from
    result = run_cli(["delete", str(docs / "case-06-physical-exam-anxiang.md")], data)
    assert result.returncode == 0 and "deleted case-06" in result.stdout
    missing = run_cli(["delete", "nope"], data)
    assert missing.returncode == 1 and "unknown document" in missing.stderr
    assert "stores are consistent" in run_cli(["doctor"], data).stdout


def test_versions_are_kept_and_diffed_clause_by_clause(tmp_path: Path) -> None:
    law = tmp_path / "rule.md"
    data = tmp_path / "data"
    law.write_text("# 示例保险规定\n\n第一条 犹豫期为十日。\n\n第二条 宽限期为三十日。\n\n第三条 本规定自公布之日起施行。\n", encoding="utf-8")
    assert run_cli(["ingest", str(law)], data).returncode == 0
    law.write_text("# 示例保险规定\n\n第一条 犹豫期为十五日。\n\n第二条 宽限期为三十日。\n\n第四条 等待期为九十日。\n", encoding="utf-8")
    assert run_cli(["ingest", str(law)], data).returncode == 0
    with Stack(load_settings(data_dir=data)) as stack:
        client = TestClient(create_app(stack))
        doc_id = stack.graph.ledger()[0]["doc_id"]
        versions = client.get(f"/v1/documents/{doc_id}/versions").json()["versions"]
        assert len(versions) == 2 and [v["current"] for v in versions] == [False, True]
        diff = client.get(f"/v1/documents/{doc_id}/diff").json()
        assert [c["locator"] for c in diff["changed"]] == ["第一条"] and "十五日" in diff["changed"][0]["diff"]
        assert [s["locator"] for s in diff["added"]] == ["第四条"] and [s["locator"] for s in diff["removed"]] == ["第三条"]
        assert diff["unchanged"] == 1
        # history is not retrieved: the old wording is not in any answer
        answer = client.post("/v1/ask", json={"question": "示例保险规定的犹豫期"}).json()
        assert "十五日" in answer["answer"] and "十日。" not in answer["answer"]
        assert check(stack.graph, stack.index).consistent
    cli = run_cli(["diff", str(law)], data)
    assert cli.returncode == 0 and "1 changed, 1 added, 1 removed, 1 unchanged" in cli.stdout
