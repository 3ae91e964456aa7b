"""Every contract endpoint through the real app, on the demo corpus."""

from __future__ import annotations

import re
from typing import Any


def _ask(client: Any, question: str, **extra: Any) -> dict[str, Any]:
    response = client.post("/v1/ask", json={"question": question, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def test_healthz(client: Any) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_ask_answers_with_numbered_citations_to_the_exact_article(client: Any) -> None:
    data = _ask(client, "保险法第十六条说什么")
    assert set(data) >= {"answer", "citations", "flags", "took_ms"}
    first = data["citations"][0]
    assert (first["title"], first["locator"], first["doc_type"]) == ("中华人民共和国保险法", "第十六条", "regulation")
    assert first["n"] == 1 and 0 < first["score"] <= 1 and first["product_id"] is None
    markers = {int(m) for m in re.findall(r"\[(\d+)\]", data["answer"])}
    assert markers and markers <= {c["n"] for c in data["citations"]}
    assert "如实告知" in data["answer"] and data["flags"] == []


def test_answer_keeps_numbers_and_units_verbatim(client: Any) -> None:
    data = _ask(client, "康宁2023的等待期是几天")
    assert data["citations"][0]["locator"] == "2.2"
    assert "90日" in data["answer"]


def test_top_k_limits_citations(client: Any) -> None:
    assert len(_ask(client, "犹豫期", top_k=2)["citations"]) == 2


def test_named_discontinued_product_is_flagged_with_successor(client: Any) -> None:
    data = _ask(client, "老康宁的轻症赔几次")
    flag = next(f for f in data["flags"] if f["product_id"] == "RH-CI-2019")
    assert flag == {
        "kind": "discontinued_product",
        "product_id": "RH-CI-2019",
        "name": "瑞禾康宁终身重大疾病保险（2019版）",
        "status": "discontinued",
        "discontinued_date": "2023-06-30",
        "replaced_by": {"product_id": "RH-CI-2023", "name": "瑞禾康宁终身重大疾病保险（2023版）"},
        "message": flag["message"],
    }
    assert "瑞禾康宁终身重大疾病保险（2023版）" in flag["message"] and "停售" in data["answer"]


def test_suspended_product_without_successor(client: Any) -> None:
    flag = next(f for f in _ask(client, "守护定寿的宽限期")["flags"] if f["product_id"] == "DX-TL-2021")
    assert flag["status"] == "suspended" and flag["replaced_by"] is None


def test_a_cited_case_shows_its_product_and_status_without_a_warning(client: Any) -> None:
    """contract.md: a claim case carries the product it concerns and that product's status, but
    raises no flag unless the question names the product; naming it raises the flag."""
    data = _ask(client, "等待期内确诊乳腺癌医疗险不赔的案例")
    case = data["citations"][0]
    assert case["doc_type"] == "case"
    assert (case["product_id"], case["product_status"]) == ("AK-MED-2020", "discontinued")
    assert data["flags"] == [] and "⚠" not in data["answer"]
    named = _ask(client, "e生百万2020等待期内确诊乳腺癌不赔的案例")
    assert "AK-MED-2020" in {f["product_id"] for f in named["flags"]}


def test_on_sale_products_are_never_flagged(client: Any) -> None:
    data = _ask(client, "康宁2023的犹豫期多久")
    assert all(f["status"] in ("discontinued", "suspended") for f in data["flags"])
    assert "RH-CI-2023" not in {f["product_id"] for f in data["flags"]}


def test_patch_status_shows_in_the_very_next_answer(client: Any) -> None:
    question = "安享重疾最高多少岁可以投保"
    assert _ask(client, question)["flags"] == []
    patched = client.patch(
        "/v1/products/AK-CI-2021",
        json={"status": "suspended", "discontinued_date": "2026-11-01", "replaced_by": "RH-CI-2023"},
    )
    assert patched.status_code == 200 and patched.json()["status"] == "suspended"
    try:
        flags = _ask(client, question)["flags"]
        assert [(f["product_id"], f["status"], f["replaced_by"]["product_id"]) for f in flags] == [
            ("AK-CI-2021", "suspended", "RH-CI-2023")
        ]
    finally:
        restored = client.patch(
            "/v1/products/AK-CI-2021", json={"status": "on_sale", "discontinued_date": None, "replaced_by": None}
        )
        assert restored.status_code == 200
    product = client.get("/v1/products/AK-CI-2021").json()
    assert product["replaced_by"] is None and product["discontinued_date"] is None
    assert _ask(client, question)["flags"] == []


def test_get_product_returns_catalog_row_and_documents(client: Any) -> None:
    data = client.get("/v1/products/RH-CI-2019").json()
    assert data["name"] == "瑞禾康宁终身重大疾病保险（2019版）"
    assert data["insurer"] == "瑞禾人寿保险股份有限公司" and data["category"] == "重大疾病保险"
    assert (data["status"], data["effective_date"], data["discontinued_date"], data["replaced_by"]) == (
        "discontinued", "2019-03-01", "2023-06-30", "RH-CI-2023",
    )
    assert data["aliases"] == ["康宁2019", "康宁重疾2019", "老康宁"]
    assert [d["title"] for d in data["documents"]] == ["瑞禾康宁终身重大疾病保险（2019版）条款"]


def test_search_filters_by_doc_type(client: Any) -> None:
    hits = client.post("/v1/search", json={"query": "如实告知", "doc_types": ["case"], "top_k": 3}).json()["hits"]
    assert 0 < len(hits) <= 3 and {h["doc_type"] for h in hits} == {"case"}
    assert set(hits[0]) >= {"doc_id", "doc_type", "title", "locator", "text", "product_id", "score"}
    default = client.post("/v1/search", json={"query": "宽限期"}).json()["hits"]
    assert len(default) == 10


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert "Traceback" not in body["error"]["message"]
    return body["error"]


def test_bad_requests_get_the_contract_error_shape(client: Any) -> None:
    assert "question" in _error(client.post("/v1/ask", json={}), 400)["message"]
    assert "JSON" in _error(client.post("/v1/ask", content=b"{not json", headers={"content-type": "application/json"}), 400)["message"]
    assert "top_k" in _error(client.post("/v1/ask", json={"question": "x", "top_k": 0}), 400)["message"]
    assert "question" in _error(client.post("/v1/ask", json={"question": ""}), 400)["message"]
    assert "doc_types" in _error(client.post("/v1/search", json={"query": "x", "doc_types": ["memo"]}), 400)["message"]
    _error(client.get("/v1/nowhere"), 404)


def test_product_errors(client: Any) -> None:
    assert "NOPE" in _error(client.get("/v1/products/NOPE"), 404)["message"]
    _error(client.patch("/v1/products/NOPE", json={"status": "on_sale"}), 404)
    assert "status" in _error(client.patch("/v1/products/RH-CI-2023", json={"status": "gone"}), 400)["message"]
    assert "discontinued_date" in _error(
        client.patch("/v1/products/RH-CI-2023", json={"discontinued_date": "31/12/2024"}), 400
    )["message"]
    assert "replaced_by" in _error(client.patch("/v1/products/RH-CI-2023", json={"replaced_by": "NOPE"}), 400)["message"]
    assert "unknown field" in _error(client.patch("/v1/products/RH-CI-2023", json={"name": "x"}), 400)["message"]
    assert client.get("/v1/products/RH-CI-2023").json()["status"] == "on_sale"  # nothing half-applied
