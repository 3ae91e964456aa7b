"""The installed ``brokerkg`` command, as a user runs it, on fresh data dirs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest

from tests.conftest import DEMO, run_cli, start_server


@pytest.fixture()
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(DEMO / "clauses/ak-ci-2021.md", folder)
    shutil.copy(DEMO / "clauses/hn-acc-2022.html", folder)
    shutil.copy(DEMO / "clauses/rh-ci-2023.docx", folder)
    shutil.copy(DEMO / "cases/case-04-grace-period-shouhu.txt", folder)  # GBK
    (folder / "manifest.json").write_text("{}")
    return folder


def test_ingest_runs_offline_and_is_idempotent(tmp_path: Path, docs: Path) -> None:
    data = tmp_path / "data"
    first = run_cli(["ingest", str(docs)], data, offline=True)
    assert first.returncode == 0, first.stderr
    assert "ingested 4, unchanged 0, skipped 1, failed 0" in first.stdout
    assert "manifest.json" in first.stderr  # skipped with a notice
    again = run_cli(["ingest", str(docs)], data, offline=True)
    assert again.returncode == 0 and "ingested 0, unchanged 4" in again.stdout
    answer = json.loads(run_cli(["ask", "宽限期内身故保险公司赔吗", "--json"], data, offline=True).stdout)
    assert answer["citations"][0]["title"] == "陈某诉鼎信人寿定期寿险合同纠纷案（宽限期内身故）"
    assert "13605718899" not in json.dumps(answer, ensure_ascii=False)  # masked at ingest


def test_a_failing_file_is_named_and_the_others_are_ingested(tmp_path: Path, docs: Path) -> None:
    (docs / "broken.pdf").write_bytes(b"%PDF-1.7\n% truncated")
    (docs / "empty.md").write_bytes(b"")
    result = run_cli(["ingest", str(docs)], tmp_path / "data")
    assert result.returncode == 1
    assert "broken.pdf" in result.stderr and "empty.md" in result.stderr
    assert "ingested 4, unchanged 0, skipped 1, failed 2" in result.stdout
    missing = run_cli(["ingest", str(tmp_path / "nope.md")], tmp_path / "data")
    assert missing.returncode == 1 and "nope.md" in missing.stderr


def test_changed_file_replaces_its_old_version(tmp_path: Path) -> None:
    data = tmp_path / "data"
    law = tmp_path / "rule.md"
    law.write_text("# 示例保险规定\n\n第一条 犹豫期为十日。\n\n第二条 宽限期为三十日。\n", encoding="utf-8")
    assert run_cli(["ingest", str(law)], data).returncode == 0
    law.write_text("# 示例保险规定\n\n第一条 犹豫期为十五日。\n\n第二条 宽限期为六十日。\n", encoding="utf-8")
    result = run_cli(["ingest", str(law)], data)
    assert "ingested 1" in result.stdout
    answer = json.loads(run_cli(["ask", "示例保险规定的犹豫期", "--json"], data).stdout)
    texts = " ".join(c["text"] for c in answer["citations"])
    assert "犹豫期为十五日" in texts and "犹豫期为十日" not in texts
    grace = json.loads(run_cli(["ask", "示例保险规定的宽限期", "--json"], data).stdout)
    texts = " ".join(c["text"] for c in grace["citations"])
    assert "宽限期为六十日" in texts and "宽限期为三十日" not in texts  # the old version's chunks are gone


def test_catalog_import_rejects_bad_rows_and_imports_the_rest(tmp_path: Path) -> None:
    shutil.copytree(DEMO / "clauses", tmp_path / "clauses")
    # this copy of one wording does not state its cooling-off period: the facts report must say so
    wording = tmp_path / "clauses" / "ak-ci-2021.md"
    text = wording.read_text(encoding="utf-8")
    wording.write_text(text.replace("自您签收本合同之次日起，有15日的犹豫期。", "犹豫期见投保须知。"), encoding="utf-8")
    rows = (DEMO / "catalog.csv").read_text(encoding="utf-8").splitlines()
    rows.insert(2, "BAD-1,坏产品,某公司,医疗保险,retired,2020-01-01,,,,")
    (tmp_path / "catalog.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = run_cli(["catalog", "import", str(tmp_path / "catalog.csv")], tmp_path / "data")
    assert result.returncode == 1
    assert "row 3, column status" in result.stderr
    assert "products imported 9, rejected 1" in result.stdout

    report = run_cli(["facts", "report", "--json"], tmp_path / "data")
    assert report.returncode == 0, report.stderr
    by_id = {r["product_id"]: r for r in json.loads(report.stdout)}
    assert len(by_id) == 9 and by_id["AK-CI-2021"]["missing"] == ["cooling_off"]
    assert all(not r["missing"] for pid, r in by_id.items() if pid != "AK-CI-2021")
    waiting = next(f for f in by_id["RH-CI-2019"]["found"] if f["fact"] == "waiting_period")
    assert waiting == {"fact": "waiting_period", "display": "180日", "locator": "2.2"}
    text_report = run_cli(["facts", "report"], tmp_path / "data").stdout
    assert "MISSING: 犹豫期" in text_report and "9 products, 82 facts, 1 expected facts missing" in text_report


def test_serve_answers_and_cli_talks_to_the_running_server(tmp_path: Path, docs: Path) -> None:
    import os

    data = tmp_path / "data"
    url, server, log = start_server(data)
    try:
        # the data dir is owned by the server: the CLI sends its work there
        ingest = run_cli(["ingest", str(docs)], data)
        assert ingest.returncode == 0 and "ingested 4" in ingest.stdout, ingest.stderr
        answer = httpx.post(f"{url}/v1/ask", json={"question": "畅行意外险意外医疗的免赔额"}, timeout=30).json()
        assert answer["citations"][0]["locator"] == "2.3"
        cli_answer = json.loads(run_cli(["ask", "畅行意外险意外医疗的免赔额", "--json"], data).stdout)
        assert cli_answer["citations"][0]["locator"] == "2.3"
        assert httpx.get(url + "/", timeout=5).status_code == 200
        graph_pid = json.loads((data / "graph" / "server.json").read_text())["pid"]
    finally:
        server.terminate()  # SIGTERM, as systemd, Docker and Kubernetes stop a service
        server.wait(timeout=30)
    # a clean stop: the stores closed and the graph server stopped by the app, not left running
    assert not (data / "graph" / "server.json").exists()
    assert "bundled graph server stopped" in log.read_text()
    with pytest.raises(ProcessLookupError):
        os.kill(graph_pid, 0)
    # state survives the restart of the app and of its graph server
    after = json.loads(run_cli(["ask", "畅行意外险意外医疗的免赔额", "--json"], data).stdout)
    assert after["citations"][0]["locator"] == "2.3"
    assert not (data / "graph" / "server.json").exists()  # the bundled server was stopped with the app


def test_eval_scores_a_question_file_against_baselines_and_names_bad_lines(tmp_path: Path, docs: Path) -> None:
    data = tmp_path / "data"
    assert run_cli(["ingest", str(docs)], data).returncode == 0
    questions = tmp_path / "q.jsonl"
    rows = [
        {"q": "安享重疾的等待期多长", "kind": "clause", "title": "安康安享终身重大疾病保险条款", "locator": "2.2",
         "fact": "90日", "flags": []},
        {"q": "宽限期内身故的案例", "kind": "case", "title": "陈某诉鼎信人寿定期寿险合同纠纷案（宽限期内身故）",
         "locator": "*", "fact": None, "flags": []},
        {"q": "红烧肉怎么做", "kind": "no_answer", "title": None, "locator": None, "fact": None, "flags": []},
    ]
    questions.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    result = run_cli(["eval", str(questions), "--baselines", "--json"], data)
    assert result.returncode == 0, result.stderr
    table = {row["system"]: row for row in json.loads(result.stdout)}
    assert set(table) == {"brokerkg", "bm25", "dense", "naive-rag (langchain)"}
    ours = table["brokerkg"]
    assert ours["n"] == 3 and ours["answerable"] == 2
    assert ours["hit@1"] == 1.0 and ours["fact_accuracy"] == 1.0 and ours["abstention"] == 1.0
    assert {"mrr", "flag_recall", "flag_precision", "latency_p50_ms", "latency_p95_ms"} <= set(ours)
    plain = run_cli(["eval", str(questions)], data)
    assert plain.returncode == 0 and plain.stdout.splitlines()[0].split()[:3] == ["system", "hit@1", "hit@5"]

    questions.write_text(json.dumps(rows[0], ensure_ascii=False) + "\n{\"q\": \"缺了 title 的 locator\", \"title\": \"x\"}\n")
    bad = run_cli(["eval", str(questions)], data)
    assert bad.returncode == 1 and "q.jsonl, line 2" in bad.stderr and "locator" in bad.stderr


def test_a_catalog_drafted_from_real_wordings_imports_and_follows_the_insurers_stop_sale_list(tmp_path: Path) -> None:
    """catalog draft → review → catalog import → status sync --dry-run → status sync → again: nothing."""
    from tests.conftest import LIAN

    folder = tmp_path / "lian"
    folder.mkdir()
    for name in ("113012_tk.md", "113013_tk.md"):  # siblings: 典藏版 stays on sale, 臻享版 is on the list
        shutil.copy(LIAN / "clauses" / name, folder / name)
    drafted = run_cli(["catalog", "draft", str(folder), "--id-prefix", "LA", "-o", str(tmp_path / "catalog.csv")], tmp_path / "data")
    assert drafted.returncode == 0, drafted.stderr
    assert "drafted 2 products" in drafted.stderr and "report: status:" in drafted.stderr
    imported = run_cli(["catalog", "import", str(tmp_path / "catalog.csv")], tmp_path / "data")
    assert imported.returncode == 0, imported.stderr
    stop_sale = str(LIAN / "stop-sale-2025-08-31.json")
    dry = run_cli(["status", "sync", stop_sale, "--dry-run"], tmp_path / "data")
    assert dry.returncode == 0, dry.stderr
    assert "would change: LA-113013" in dry.stdout and "LA-113012" not in dry.stdout
    applied = run_cli(["status", "sync", stop_sale, "--json"], tmp_path / "data")
    report = json.loads(applied.stdout)
    assert [c["product_id"] for c in report["changed"]] == ["LA-113013"] and len(report["unmatched"]) == 33
    again = run_cli(["status", "sync", stop_sale], tmp_path / "data")
    assert "34 listed: 0 changed, 1 already so" in again.stdout
    (tmp_path / "list.csv").write_text("编号,日期\n1,2025-08-31\n", encoding="utf-8")  # no product-name column
    bad = run_cli(["status", "sync", str(tmp_path / "list.csv")], tmp_path / "data")
    assert bad.returncode == 1 and "list.csv: entry 2: no product name" in bad.stderr


def test_eval_scores_fact_tables_by_split_and_never_lists_held_out_misses(tmp_path: Path) -> None:
    from tests.conftest import ROOT

    corpus = ROOT.parent / "shared" / "corpus" / "insurer-lian" / "clauses"
    tables = [str(ROOT / "tests" / "golden" / name) for name in ("facts_lian.csv", "facts_lian_more.csv")]
    result = run_cli(["eval", *tables, "--corpus", str(corpus), "--json", "--misses"], tmp_path / "data")
    assert result.returncode == 0, result.stderr
    scores = {row["split"]: row for row in json.loads(result.stdout)}
    assert set(scores) == {"dev", "heldout", "dev3", "heldout2"}
    assert scores["heldout2"]["stated"] >= 50 and scores["heldout2"]["precision"] >= 0.98
    assert "heldout" not in result.stderr  # a held-out half's misses stay unseen unless asked for by name

    bad = tmp_path / "facts.csv"
    bad.write_text("split,file,fact,value,locator\ndev,111002_tk.md,age_max,50,1.3\ndev,111002_tk.md,年龄,50,1.3\n", encoding="utf-8")
    failed = run_cli(["eval", str(bad), "--corpus", str(corpus)], tmp_path / "data")
    assert failed.returncode == 1 and "facts.csv:3" in failed.stderr and "年龄" in failed.stderr
    assert run_cli(["eval", str(bad)], tmp_path / "data").returncode == 1  # no --corpus: said, not a traceback
