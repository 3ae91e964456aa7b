"""Query understanding on the demo catalog and regulations: products, laws, articles, intents."""

from __future__ import annotations

from typing import Any

import pytest

from retrieval.intents import understand, versioned_names


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("老畅行意外医疗的免赔额", ["HN-ACC-2018"]),  # 老畅行 at the left beats 畅行意外 overlapping it
        ("康宁19版的等待期", ["RH-CI-2019"]),  # two-digit year with 版
        ("e生百万2020的免赔额", ["AK-MED-2020"]),  # family short name + year, though 'e生百万' is 2022's alias
        ("康宁的犹豫期", ["RH-CI-2023"]),  # a bare family name means the newest member on sale
        ("瑞禾康宁终身重大疾病保险（2023版）的等待期", ["RH-CI-2023"]),
        ("安康安享终生重大疾病保险的等待期", ["AK-CI-2021"]),  # misspelt (终生): fuzzy
        ("对比康宁2019和康宁2023", ["RH-CI-2019", "RH-CI-2023"]),
        ("泰康健康尊享2024的等待期", []),
    ],
)
def test_products_are_linked_by_names_aliases_versions_and_typos(demo_stack: Any, question: str, expected: list[str]) -> None:
    assert demo_stack.linker.link(question).product_ids == expected


@pytest.mark.parametrize(
    ("question", "product", "asked"),
    [
        ("康宁2019的等待期多久", "RH-CI-2019", None),
        ("瑞禾康宁2019版等待期多长？", "RH-CI-2019", None),  # insurer + short name + 版
        ("康宁19款等待期", "RH-CI-2019", None),  # two-digit year with 款
        ("康宁重疾2021版的等待期多久？", None, "康宁重疾2021版"),  # no 2021 version: never the 2019 or 2023 one
        ("康宁2021还在卖吗", None, "康宁2021版"),
        ("e生百万2021的免赔额", None, "e生百万2021版"),  # not 'e生百万20' + '21'
    ],
)
def test_the_version_asked_is_answered_or_named_as_missing_never_substituted(
    demo_stack: Any, question: str, product: str | None, asked: str | None
) -> None:
    answer = demo_stack.retriever.ask(question).to_dict()
    cited = {c["product_id"] for c in answer["citations"] if c["doc_type"] == "clause"}
    if product:
        assert cited == {product}, (question, cited)
    else:
        assert answer["citations"] == [] and f"没有“{asked}”" in answer["answer"], answer["answer"]
        family = "瑞禾康宁终身重大疾病保险" if "康宁" in question else "安康e生百万医疗保险"
        assert f"{family}（20" in answer["answer"]  # the versions the catalog does have are named


def test_laws_and_articles_are_found_through_abbreviations_and_short_names(demo_stack: Any) -> None:
    link = demo_stack.linker.link
    assert link("交强险条例第二十二条").article_keys == ["机动车交通事故责任强制保险条例#第二十二条"]
    assert link("个保法第47条").article_keys == ["个人信息保护法#第四十七条"]
    assert link("司法解释三第五条").article_keys == ["保险法解释（三）#第五条"]
    assert link("保险法解释二第十条怎么规定的").article_keys == ["保险法解释（二）#第十条"]
    assert link("第十六条说什么").article_keys == ["保险法#第十六条"]  # no law named: the insurance law
    missing = link("保险法第三百条规定了什么")
    assert missing.article_keys == [] and missing.missing_articles == ["保险法#第三百条"]


def test_intents() -> None:
    assert understand("有没有等待期内确诊被拒赔的案例").doc_type == "case"
    assert understand("王某的案子最后怎么处理的").case_sections[0] in ("判决结果", "处理结果")
    assert understand("免责条款没讲清楚算数吗").doc_type is None  # 免责条款 is a legal notion, not 'show me clauses'
    assert understand("酒驾免责的法规依据").doc_type == "regulation"
    assert understand("康宁2019还在卖吗").status and understand("守护定寿下架了吗").status
    assert not understand("康宁2019的等待期").status
    unit = understand("轻症一共多少种").unit
    assert unit is not None and unit.search("轻症疾病共50种") and not unit.search("赔付比例为60%")
    assert versioned_names("平安福21的保单贷款比例") == ["平安福"]
    assert versioned_names("续期保费超过60天没交") == []
    rate = understand("有效保额每年按多少增长").unit  # a growth rate, although 保额 names an amount
    assert rate is not None and rate.search("×（1+3.0%）") and not rate.search("基本保险金额为10万元")
