"""Chinese structure: article locators and chapter paths, clause sections, case sections, chunk ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.types import Document
from ingest.chunking import MAX_CHARS, chunk_document
from ingest.readers import read_blocks
from ingest.structure import find_title, guess_doc_type, split_sections

DEMO = Path(__file__).resolve().parents[2] / "demo"


def _sections(path: Path):  # type: ignore[no-untyped-def]
    blocks, _ = read_blocks(path)
    title = find_title(blocks, path.stem)
    kind = guess_doc_type(title, blocks)
    return title, kind, split_sections(kind, title, blocks)


def test_insurance_law_articles_keep_number_and_chapter_path(regulations_dir: Path) -> None:
    title, kind, sections = _sections(regulations_dir / "insurance-law-2015.md")
    assert (title, kind) == ("中华人民共和国保险法", "regulation")
    by_locator = {s.locator: s for s in sections}
    assert len([s for s in sections if s.locator.startswith("第")]) == 185
    art16 = by_locator["第十六条"]
    assert art16.heading_path == ["第二章 保险合同", "第一节 一般规定"]
    assert art16.text.startswith("第十六条 订立保险合同") and "不可抗辩" not in art16.text
    assert len(art16.paragraphs) == 7  # its 款 stay together under one locator
    assert by_locator["第一百八十五条"].heading_path == ["第八章 附则"]


def test_long_article_is_split_by_paragraph_and_keeps_its_locator(regulations_dir: Path) -> None:
    title, kind, sections = _sections(regulations_dir / "insurance-law-2015.md")
    doc = Document("law", kind, title, "x", "0" * 64, "public", None, sections)
    chunks = chunk_document(doc)
    long_article = [c for c in chunks if c.locator == "第一百五十四条"]
    assert len(long_article) >= 2 and all(len(c.text) <= MAX_CHARS for c in long_article)
    original = next(s for s in sections if s.locator == "第一百五十四条").paragraphs
    assert "".join(c.text.replace("\n", "") for c in long_article) == "".join(original)
    # same content, same ids: re-ingest is idempotent
    assert [c.chunk_id for c in chunk_document(doc)] == [c.chunk_id for c in chunks]


def test_interpretations_are_regulations_with_articles(regulations_dir: Path) -> None:
    for name in ("insurance-law-interpretation-2.md", "marine-insurance-disputes-provisions.md"):
        _, kind, sections = _sections(regulations_dir / name)
        assert kind == "regulation"
        assert sections[1].locator == "第一条"


def test_clause_sections_use_printed_numbers_under_parts() -> None:
    title, kind, sections = _sections(DEMO / "clauses/dx-an-2020.docx")
    assert kind == "clause"
    locators = [s.locator for s in sections]
    assert {"1.3", "2.2", "2.3", "5.2"} <= set(locators)  # 2.3 年金领取方式 starts with 年: still a section
    assert next(s for s in sections if s.locator == "2.3").heading_path == ["2 我们提供的保障"]


def test_case_sections_are_named() -> None:
    title, kind, sections = _sections(DEMO / "cases/case-04-grace-period-shouhu.txt")
    assert kind == "case"
    assert [s.locator for s in sections] == ["基本案情", "争议焦点", "法院认为", "判决结果"]


def test_article_numbers_as_their_own_headings(tmp_path: Path) -> None:
    path = tmp_path / "rule.md"
    path.write_text(
        "# 某某保险监管办法\n\n## 第一章 总则\n\n### 第一条\n\n为了规范保险销售行为，制定本办法。\n\n### 第二条\n\n本办法适用于保险公司。\n",
        encoding="utf-8",
    )
    title, kind, sections = _sections(path)
    assert (title, kind) == ("某某保险监管办法", "regulation")
    assert [(s.locator, s.heading_path) for s in sections] == [("第一条", ["第一章 总则"]), ("第二条", ["第一章 总则"])]
    assert "规范保险销售行为" in sections[0].text


LIAN = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "insurer-lian" / "clauses"


@pytest.mark.parametrize(
    ("name", "title", "filing_no"),
    [
        # filing number, scan notice, then the insurer and the product on two lines
        ("115050_tk.md", "利安人寿保险股份有限公司利安利利爱家守护中老年恶性肿瘤疾病保险条款", "利安人寿[2024]疾病保险050号"),
        ("315032_tk.md", "利安人寿保险股份有限公司城乡居民大病团体医疗保险（B款）条款", "利安人寿[2019]医疗保险008号"),
        ("211005_tk.md", "利安人寿保险股份有限公司利安永吉（尊享版）终身寿险条款", "利安人寿[2022]终身寿险002号"),  # debris first
        ("111003_tk.md", "利安人寿保险股份有限公司传家宝终身寿险条款", None),  # a heading, no filing number
    ],
)
def test_a_real_wordings_title_is_the_product_as_printed_and_the_filing_number_is_kept_apart(
    name: str, title: str, filing_no: str | None
) -> None:
    from ingest.structure import filing_number

    assert LIAN.is_dir(), f"the real corpus is expected at {LIAN}"
    blocks, _ = read_blocks(LIAN / name)
    assert find_title(blocks, name) == title
    assert filing_number(blocks) == filing_no


def _real_sections(name: str) -> list:
    blocks, _ = read_blocks(LIAN / name)
    return split_sections("clause", find_title(blocks, name), blocks)


def test_every_real_wordings_reading_guide_and_contents_are_navigation_not_clauses() -> None:
    """Across the whole folder: no section carries the reading guide's dotted leaders or the
    contents, and no clause number appears twice (the contents repeat every one of them)."""
    files = sorted(LIAN.glob("*_tk.md"))
    assert len(files) >= 70
    for path in files:
        sections = _real_sections(path.name)
        locators = [s.locator for s in sections]
        assert len(locators) == len(set(locators)), (path.name, [x for x in locators if locators.count(x) > 1])
        assert len(sections) >= 20, (path.name, len(sections))
        for s in sections:
            assert "阅读指引" not in s.text.replace(" ", ""), (path.name, s.locator)
            assert "……" not in s.text and "．．．．" not in s.text, (path.name, s.locator)
            assert "条款目录" not in s.text, (path.name, s.locator)


def test_a_real_wordings_clauses_sit_under_their_part_with_the_contents_title() -> None:
    by = {s.locator: s for s in _real_sections("115036_tk.md")}
    assert by["1.3"].heading_path == ["1. 您与我们订立的合同", "1.3 投保年龄"]
    assert "出生\n满 28 天至 55 周岁" in by["1.3"].text  # quoted as printed
    assert by["2.4"].heading_path[0] == "2. 我们提供的保障"
    # the body's own preamble (the short name) stays; the repeated title lines do not
    assert by["题注"].text.startswith("“利安福重大疾病保险”简称“利安福重疾”")
    # the appendix of disease definitions is its own section, not the tail of the last definition
    assert by["附件1"].text.startswith("附件 1：重大疾病、中症疾病、轻症疾病、前症疾病的范围及定义")
    assert "恶性肿瘤" in by["附件1"].text and "恶性肿瘤" not in by["9.18"].text
    # （见 9.3）: the clause points at the definition it uses
    from ingest.parse import DocumentParser

    class _NoProducts:
        def products_named(self, text: str) -> list[str]:
            return []

    doc = DocumentParser(_NoProducts(), "test", 10**8).parse(LIAN / "115036_tk.md", "clause", "public", None)
    assert ("1.3", "9.3") in doc.cross_refs


def test_clause_numbers_printed_apart_from_their_text_get_their_own_text() -> None:
    """A two-column page prints a stack of numbers (``5.1 5.2 6. 6.1``, or ``3． 3.1`` on one
    line), then the titles and texts: each number gets the text under its title."""
    by = {s.locator: s for s in _real_sections("115036_tk.md")}
    assert by["5.2"].text.startswith("5.2 效力恢复") and "交的利息按我们参照" in by["5.2"].text
    assert by["6.1"].text.startswith("6.1 现金价值") and "效力恢复" not in by["6.1"].text
    assert not by["4.1"].text.split("\n")[1].startswith("保险事故发生之日起计算")  # the tail of 3.6 stays in 3.6
    by = {s.locator: s for s in _real_sections("115050_tk.md")}
    assert "健康管理服务" in by["3.1"].text and "健康管理服务" not in by["2.5"].text
    assert by["7.1"].text.startswith("7.1 现金价值")
    assert by["9.1"].text.startswith("9.1 明确说明与如实告知") and "现金价值" not in by["9.1"].text
    assert by["8.1"].heading_path[-1] == "8.1 您解除合同的手续及风险" and "犹豫期后申请解除" in by["8.1"].text
    # a column of defined terms beside a column of their texts
    by = {s.locator: s for s in _real_sections("614001_tk.md")}
    assert "9 个座位" in by["7.3"].text and "9 个座位" not in by["7.4"].text
    assert by["7.4"].text.startswith("7.4 意外伤害\n指遭受外来的")
    assert "斗殴的认定" in by["7.7"].text and by["7.8"].text.startswith("7.8 毒品\n指《中华人民共和国刑法》")


def test_a_wording_laid_out_as_an_html_table_reads_clause_by_clause() -> None:
    """111014: the whole body is one <table>, a clause per row (number | title | text)."""
    by = {s.locator: s for s in _real_sections("111014_tk.md")}
    assert len(by) >= 45
    assert by["1.3"].text.startswith("1.3 投保范围 本合同接受的被保险人的投保年龄范围为0周岁（须出生满28日）至75周岁")
    assert by["4.2"].heading_path[0] == "4. 如何支付保险费"
    assert "60日为宽限期" in by["4.2"].text
