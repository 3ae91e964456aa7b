"""Product facts: extraction against a hand-checked table, matching, comparison, chat answers."""

from __future__ import annotations

import csv
import re
from typing import Any

import pytest

from domain.types import Section
from ingest.facts import extract_facts
from tests.conftest import ROOT

GOLDEN = ROOT / "tests" / "golden" / "facts.csv"


def _canonical(value: Any) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value)


def test_extraction_precision_and_recall_on_the_demo_corpus(demo_stack: Any) -> None:
    """What the graph holds after a normal ingest, against the table checked by hand against the clauses."""
    expected = {(r["product_id"], r["fact"]): (r["value"], r["locator"]) for r in csv.DictReader(GOLDEN.open(encoding="utf-8"))}
    assert len(expected) >= 80 and len({pid for pid, _ in expected}) >= 8
    stored = demo_stack.graph.product_facts()
    got = {(pid, f["type"]): (_canonical(f["value"]), f["locator"]) for pid, facts in stored.items() for f in facts}
    correct = sum(1 for key, value in got.items() if expected.get(key) == value)
    precision, recall = correct / len(got), correct / len(expected)
    wrong = {k: (v, expected.get(k)) for k, v in got.items() if expected.get(k) != v}
    missed = sorted(set(expected) - set(got))
    print(f"\nfacts: {len(expected)} expected over {len({p for p, _ in expected})} products, {len(got)} extracted, "
          f"{correct} correct: precision {precision:.3f}, recall {recall:.3f}")
    assert precision >= 0.95, wrong
    assert recall >= 0.90, missed


def test_every_stored_fact_cites_the_clause_that_states_it(demo_stack: Any) -> None:
    facts = [f for fs in demo_stack.graph.product_facts().values() for f in fs]
    chunks = {r.id: r.payload for r in demo_stack.index.retrieve([f["chunk_id"] for f in facts])}
    for f in facts:
        payload = chunks[f["chunk_id"]]
        assert payload["doc_id"] == f["doc_id"] and payload["locator"] == f["locator"]
        numbers = re.findall(r"\d+", str(f["display"]).replace("万元", "0000"))
        flat = re.sub(r"\s+", "", payload["text"])
        assert all(n in flat or n.replace("0000", "") in flat for n in numbers), (f["type"], f["display"])
        assert re.sub(r"\s+", "", f["raw"])[:20] in flat


def _facts(*paragraphs: str) -> dict[str, Any]:
    return {f.type: f for f in extract_facts([Section(f"1.{i}", ["x"], [p]) for i, p in enumerate(paragraphs, 1)])}


def test_extraction_rules_and_their_traps() -> None:
    facts = _facts(
        "本合同接受的投保年龄为十八周岁至六十周岁。",
        "自您签收本合同之次日起，有十五日的犹豫期。",
        "自本合同生效日起30日内（含第30日）为等待期。续保的本合同无等待期。",
        "被保险人于等待期后初次确诊恶性肿瘤——重度的，额外按基本保险金额的50%给付恶性肿瘤额外保险金。",
        "但意外身故及伤残保险金以基本保险金额的50%为限。",
        "（1）轻症疾病保险金 被保险人于等待期后初次确诊本合同约定的轻症疾病（无论一种或多种）\n，我们按基本保险金额的25%给付轻症疾病保险金。",
        "本合同保单年度末的现金价值金额会在保险单上载明。本合同不提供保单贷款。",
    )
    assert facts["age_min"].value == 18 * 365 and facts["age_min"].display == "18周岁" and facts["age_max"].value == 60
    assert facts["cooling_off"].value == 15
    assert facts["waiting_period"].value == 30 and facts["waiting_period"].locator == "1.3"
    assert facts["mild_payout"].value == 25  # across the PDF line break, not the 50% of other benefits
    assert "payout_ratio" not in facts and "moderate_payout" not in facts
    assert facts["policy_loan"].value == 0 and facts["policy_loan"].display == "不提供保单贷款"
    assert _facts("本合同的年度保险金额为200万元。")["annual_limit"].value == 2_000_000
    assert _facts("本合同为不保证续保合同。")["guaranteed_renewal"].value is False


def test_matching_returns_only_products_whose_cited_facts_qualify(client: Any) -> None:
    r = client.get("/v1/products", params={"category": "重大疾病保险", "age": 58})
    assert r.status_code == 200
    matches = {p["product_id"]: p for p in r.json()}
    assert set(matches) == {"AK-CI-2021", "RH-CI-2023"}  # RH-CI-2019 is off sale (and stops at 55)
    for p in matches.values():
        assert p["status"] == "on_sale" and not p["flags"]
        cited = {f["fact"]: f for f in p["matched_facts"]}
        assert set(cited) == {"age_min", "age_max"} and cited["age_max"]["locator"] == "1.3"
        assert int(re.search(r"\d+", cited["age_max"]["display"]).group()) >= 58
        assert "投保年龄" in cited["age_max"]["text"]
    assert r.json() and all(p["matched_facts"] for p in r.json())
    assert client.get("/v1/products", params={"category": "重大疾病保险", "age": 58, "max_waiting_days": 60}).json() == []
    waiting = client.get("/v1/products", params={"max_waiting_days": 30}).json()
    assert {p["product_id"] for p in waiting} == {"AK-MED-2022"}  # the 2020 edition (also 30 days) is off sale
    renew = client.get("/v1/products", params={"category": "医疗保险", "guaranteed_renewal": "true"}).json()
    assert [p["product_id"] for p in renew] == ["AK-MED-2022"]


def test_off_sale_products_only_when_asked_and_then_flagged(client: Any) -> None:
    anyone = client.get("/v1/products", params={"category": "重大疾病保险", "age": 50, "status": "any"}).json()
    by_id = {p["product_id"]: p for p in anyone}
    assert set(by_id) == {"AK-CI-2021", "RH-CI-2019", "RH-CI-2023"}
    flag = by_id["RH-CI-2019"]["flags"][0]
    assert flag["status"] == "discontinued" and flag["replaced_by"]["product_id"] == "RH-CI-2023"
    off = client.get("/v1/products", params={"status": "discontinued,suspended", "age": 30}).json()
    assert {p["product_id"] for p in off} == {"RH-CI-2019", "AK-MED-2020", "HN-ACC-2018", "DX-TL-2021"}
    assert all(p["flags"] for p in off)
    assert client.get("/v1/products", params={"status": "gone"}).status_code == 400
    assert client.get("/v1/products", params={"age": -3}).status_code in (400, 422)
    assert len(client.get("/v1/products").json()) == 9  # no criteria: the whole catalog, as before


def test_compare_two_products_of_different_insurers_cell_by_cell(client: Any) -> None:
    r = client.post("/v1/compare", json={"product_ids": ["RH-CI-2019", "AK-CI-2021"]})
    assert r.status_code == 200
    data = r.json()
    assert [p["insurer"] for p in data["products"]] == ["瑞禾人寿保险股份有限公司", "安康健康保险股份有限公司"]
    rows = {row["fact"]: row for row in data["rows"]}
    assert [c["display"] for c in rows["waiting_period"]["cells"]] == ["180日", "90日"]
    assert [c["display"] for c in rows["mild_payout"]["cells"]] == ["基本保险金额的20%", "基本保险金额的30%"]
    assert rows["moderate_payout"]["cells"][0] is None  # the 2019 edition has no 中症
    for row in data["rows"]:
        for cell in row["cells"]:
            if cell:
                assert cell["citation"]["locator"] and cell["citation"]["doc_id"] and cell["citation"]["text"]
    assert [f["product_id"] for f in data["flags"]] == ["RH-CI-2019"]
    assert data["flags"][0]["replaced_by"]["product_id"] == "RH-CI-2023"
    assert client.post("/v1/compare", json={"product_ids": ["RH-CI-2019"]}).status_code in (400, 422)
    missing = client.post("/v1/compare", json={"product_ids": ["RH-CI-2019", "NOPE"]})
    assert missing.status_code == 404 and "NOPE" in missing.json()["error"]["message"]


@pytest.mark.parametrize("question", ["对比一下康宁2019和安享重疾", "老康宁和安享重疾的等待期、轻症有什么区别"])
def test_chat_compares_from_facts_with_a_citation_per_value(client: Any, question: str) -> None:
    data = client.post("/v1/ask", json={"question": question}).json()
    assert data["table"]["kind"] == "compare"
    citations = {c["n"]: c for c in data["citations"]}
    for row in data["table"]["rows"]:
        for cell in row["cells"]:
            if cell:
                cited = citations[cell["n"]]
                assert cited["locator"] == cell["citation"]["locator"]
                assert str(re.search(r"\d+", cell["display"]).group() if re.search(r"\d", cell["display"]) else "") in cited["text"]
    assert "等待期：" in data["answer"] and "180日[" in data["answer"]
    assert data["answer"].startswith("⚠ 注意：瑞禾康宁终身重大疾病保险（2019版）")
    assert [f["product_id"] for f in data["flags"]] == ["RH-CI-2019"]


def test_chat_matches_from_facts_and_never_offers_an_off_sale_product(client: Any) -> None:
    data = client.post("/v1/ask", json={"question": "58岁还能买哪些重疾险？等待期多长"}).json()
    assert data["table"]["kind"] == "match"
    offered = [row["product_id"] for row in data["table"]["rows"]]
    assert sorted(offered) == ["AK-CI-2021", "RH-CI-2023"]
    assert "RH-CI-2019" not in offered and not data["flags"]
    for row in data["table"]["rows"]:
        assert {f["fact"] for f in row["facts"]} >= {"age_min", "age_max", "waiting_period"}
    assert data["answer"].startswith("在售的重大疾病保险中接受58周岁投保的有2款：") and "等待期90日[" in data["answer"]
    assert "瑞禾康宁终身重大疾病保险（2019版）" not in data["answer"].split("不符合")[0]
    # an ordinary question about one product is not a matching question
    plain = client.post("/v1/ask", json={"question": "安享重疾出生多少天的宝宝可以买"}).json()
    assert plain.get("table") is None and plain["citations"][0]["locator"] == "1.3"
