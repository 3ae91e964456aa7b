"""Current law on real stores: a manifest beside the files, repeal links (a repealed rule ingested after
its repealer), a flag on answers citing a rule not in force, and the status a compliance check asks for."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from brokerkg.settings import load_settings
from brokerkg.stack import Stack

REPEALER = """# 示例机构许可证管理办法

（2021年4月28日中国银保监会令2021年第3号公布 自2021年7月1日起施行）

第一条 为了加强示例机构许可证管理，制定本办法。

第二条 示例机构许可证由银保监会统一印制和管理。

第三条 本办法自2021年7月1日起施行，《示例保险许可证管理办法》（保监会令2007年第1号）同时废止。
"""

REPEALED = """# 示例保险许可证管理办法

（2007年6月22日中国保险监督管理委员会令2007年第1号公布 自2007年9月1日起施行）

第一条 为了加强示例保险许可证管理，制定本办法。

第二条 示例保险许可证载明机构名称和业务范围，由中国保险监督管理委员会颁发。

第三条 本办法自2007年9月1日起施行。
"""

FUTURE = """# 示例养老保险销售管理办法

（2098年1月5日国家金融监督管理总局令2098年第1号公布 自2099年3月1日起施行）

第一条 为了规范示例养老保险销售，制定本办法。

第二条 销售示例养老保险的，保险销售人员应当向投保人当面出示示例养老风险测评问卷，并由投保人亲笔签署。

第三条 本办法自2099年3月1日起施行。
"""

IN_FORCE = """# 示例意外保险理赔管理办法

（2020年1月5日中国银保监会令2020年第1号公布 自2020年3月1日起施行）

第一条 为了规范示例意外保险理赔，制定本办法。

第二条 示例意外保险的理赔时限为收到完整理赔材料后十个工作日内作出核定。

第三条 本办法自2020年3月1日起施行。
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(load_settings(data_dir=tmp_path_factory.mktemp("reg-data"))) as s:
        yield s


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder / name


def test_manifest_beside_the_files_and_a_bad_entry_named(stack: Stack, tmp_path: Path, regulations_dir: Path) -> None:
    folder = tmp_path / "regs"
    folder.mkdir()
    shutil.copy(regulations_dir / "insurance-sales-conduct-measures-2023.md", folder)
    _write(folder, "rule.md", IN_FORCE)
    entries = json.loads((regulations_dir / "manifest.json").read_text(encoding="utf-8"))
    entries.append({"file": "rule.md", "title": "示例意外保险理赔管理办法", "level": "部门规章", "effective": "2020-13-01"})
    (folder / "manifest.json").write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    report = stack.ingestor.ingest([folder], "regulation")
    assert len(report.ingested) == 2 and not report.failed  # the manifest is no document; its bad entry stops no file
    assert any(s.endswith("manifest.json: not a document type BrokerKG ingests (.json)") for s in report.skipped)
    assert any("manifest.json: entry 21 (rule.md): 'effective' is not an ISO date" in s for s in report.skipped)
    sales = stack.graph.regulation_status(["保险销售行为管理办法"])["保险销售行为管理办法"]
    assert (sales.level, sales.effective, sales.status) == ("部门规章", "2024-03-01", "in_force")
    assert sales.doc_no == "国家金融监督管理总局令2023年第2号"
    rule = stack.graph.regulation_status(["《示例意外保险理赔管理办法》"])["《示例意外保险理赔管理办法》"]
    assert (rule.level, rule.effective) == (None, "2020-03-01")  # the entry was not applied: the text's date

    (folder / "manifest.json").write_text('[{"file": "rule.md", "level": 部门规章}]', encoding="utf-8")
    report = stack.ingestor.ingest([folder], "regulation")
    assert not report.failed and any(s.startswith(f"{folder / 'manifest.json'}: bad JSON at line 1") for s in report.skipped)


def test_a_repealed_rule_ingested_after_its_repealer(stack: Stack, tmp_path: Path) -> None:
    stack.ingestor.ingest([_write(tmp_path / "new", "licence-2021.md", REPEALER)], "regulation")
    stub = stack.graph.regulation_status(["示例保险许可证管理办法"])["示例保险许可证管理办法"]
    assert (stub.status, stub.repealed_by, stub.doc_no, stub.ingested) == (
        "repealed", "示例机构许可证管理办法", "保监会令2007年第1号", False)
    assert stub.doc_id not in {r["doc_id"] for r in stack.graph.ledger()}  # a stub is no document to repair

    stack.ingestor.ingest([_write(tmp_path / "old", "licence-2007.md", REPEALED)], "regulation")
    old = stack.graph.regulation_status(["示例保险许可证管理办法"])["示例保险许可证管理办法"]
    assert old.ingested and old.doc_id != stub.doc_id
    assert (old.status, old.repealed_by, old.doc_no) == ("repealed", "示例机构许可证管理办法", "中国保险监督管理委员会令2007年第1号")
    assert stub.doc_id not in stack.graph.regulation_statuses()  # the stub gave way to the document

    answer = stack.retriever.ask("示例保险许可证载明哪些内容", generate=False).to_dict()
    flags = [f for f in answer["flags"] if f["kind"] == "regulation_not_in_force"]
    assert [(f["doc_id"], f["status"], f["repealed_by"]) for f in flags] == [(old.doc_id, "repealed", "示例机构许可证管理办法")]
    assert "已被《示例机构许可证管理办法》废止" in answer["answer"]


def test_a_rule_not_yet_effective_is_flagged_and_one_in_force_is_not(stack: Stack, tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    _write(folder, "future.md", FUTURE)
    _write(folder, "claims.md", IN_FORCE)
    assert not stack.ingestor.ingest([folder], "regulation").failed

    answer = stack.retriever.ask("销售示例养老保险要出示什么问卷", generate=False).to_dict()
    cited = [c for c in answer["citations"] if c["title"] == "示例养老保险销售管理办法"]
    assert cited and cited[0]["regulation_status"] == "not_yet_effective"
    flag = next(f for f in answer["flags"] if f["kind"] == "regulation_not_in_force")
    assert flag == {
        "kind": "regulation_not_in_force", "product_id": None, "name": None, "status": "not_yet_effective",
        "discontinued_date": None, "replaced_by": None, "doc_id": cited[0]["doc_id"], "title": "示例养老保险销售管理办法",
        "effective": "2099-03-01", "repealed_by": None, "message": flag["message"],
    }
    assert "尚未施行（自2099-03-01起施行）" in flag["message"] and flag["message"] in answer["answer"]

    answer = stack.retriever.ask("示例意外保险理赔时限是多久", generate=False).to_dict()
    assert any(c["title"] == "示例意外保险理赔管理办法" for c in answer["citations"])
    assert not [f for f in answer["flags"] if f["kind"] == "regulation_not_in_force"]

    # the status is the day's: once 2099-03-01 has passed, the rule is in force
    later = stack.graph.regulation_status(["示例养老保险销售管理办法"], today=date(2099, 3, 1))
    assert later["示例养老保险销售管理办法"].status == "in_force"


def test_a_compliance_check_never_rests_on_a_repealed_article(stack: Stack, tmp_path: Path) -> None:
    """Rules citing a repealed rule's article: that article is left out, a finding resting on it
    alone is dropped and the rule is listed as inactive; an article not yet in force is flagged."""
    for name, text in (("licence-2021.md", REPEALER), ("licence-2007.md", REPEALED), ("future.md", FUTURE)):
        _write(tmp_path / "laws", name, text.replace("示例", "样例"))  # rules of their own in this module's graph
    assert not stack.ingestor.ingest([tmp_path / "laws"], "regulation").failed
    rules = stack.data_dir / "compliance" / "rules"
    head = "version: 1\ncheck: conduct\nseverity: high\nexplanation: 示例。\n"
    _write(rules, "old_licence.yaml", f"id: old_licence\ntitle: 旧许可证\narticle: 样例保险许可证管理办法 第二条\n"
                                      f"also_articles: [样例机构许可证管理办法 第二条]\npatterns: [许可证借用]\n{head}")
    _write(rules, "only_repealed.yaml", f"id: only_repealed\ntitle: 仅旧规\narticle: 样例保险许可证管理办法 第三条\n"
                                        f"patterns: [许可证出租]\n{head}")
    _write(rules, "future_rule.yaml", f"id: future_rule\ntitle: 新规\narticle: 样例养老保险销售管理办法 第二条\n"
                                      f"patterns: [不出示问卷]\n{head}")
    try:
        result = stack.checker.check("许可证借用一下没关系，许可证出租也行，不出示问卷也可以。").to_dict()
        by_rule = {f["rule"]: f for f in result["findings"]}
        assert "only_repealed" not in by_rule
        cited = [(c["title"], c["locator"], c["regulation_status"]) for c in by_rule["old_licence"]["citations"]]
        assert cited == [("样例机构许可证管理办法", "第二条", "in_force")]
        assert [(f["kind"], f["title"]) for f in result["flags"]] == [("regulation_not_in_force", "样例养老保险销售管理办法")]
        listed = {r.id: stack.checker.describe(r) for r in stack.checker.book().rules.values()}
        assert listed["only_repealed"]["active"] is False and listed["old_licence"]["active"] is True
        assert listed["only_repealed"]["article_status"][0]["status"] == "repealed"
    finally:
        for name in ("old_licence.yaml", "only_repealed.yaml", "future_rule.yaml"):
            (rules / name).unlink()
