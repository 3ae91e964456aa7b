"""A regulation's metadata, read from its folder's manifest and from its own head lines and 施行 article."""

from __future__ import annotations

import json
from pathlib import Path

from domain.regulations import (
    IN_FORCE,
    NOT_YET_EFFECTIVE,
    REPEALED,
    RepealedRule,
    doc_no_key,
    legal_status,
    title_keys,
)
from domain.types import Block
from ingest.parse import DocumentParser
from ingest.readers import read_blocks
from ingest.regulation_meta import load_manifest, read_metadata, regulation_title
from ingest.structure import find_title, split_sections


class _NoProducts:
    def products_named(self, text: str) -> list[str]:
        return []

    def invalidate(self) -> None:
        pass


def _meta(text: str):  # type: ignore[no-untyped-def]
    blocks = [Block(p[2:], "heading", 0) if p.startswith("# ") else Block(p) for p in text.strip().split("\n\n")]
    title = regulation_title(find_title(blocks, "rule"), blocks)
    return title, read_metadata(blocks, split_sections("regulation", title, blocks))


def test_manifest_of_the_real_folder_is_applied(regulations_dir: Path) -> None:
    manifest = load_manifest(regulations_dir / "manifest.json")
    assert not manifest.errors and len(manifest.entries) == 20
    path = regulations_dir / "insurance-sales-conduct-measures-2023.md"
    entry = manifest.entries[path.name]
    doc = DocumentParser(_NoProducts(), "test", 10_000_000).parse(
        path, "regulation", "public", None, manifest=entry, manifest_entry=manifest.raw[path.name])
    meta = doc.regulation
    assert meta is not None and doc.title == "保险销售行为管理办法"
    assert (meta.level, meta.published, meta.effective) == ("部门规章", "2023-09-20", "2024-03-01")
    assert meta.doc_no == "国家金融监督管理总局令2023年第2号"  # not in the manifest: from the text
    # the license measures print no title of their own: the manifest's names the document
    path = regulations_dir / "banking-insurance-license-measures-2021.md"
    doc = DocumentParser(_NoProducts(), "test", 10_000_000).parse(
        path, "regulation", "public", None, manifest=manifest.entries[path.name])
    assert doc.title == "银行保险机构许可证管理办法" and doc.law_key == "银行保险机构许可证管理办法"
    assert doc.regulation is not None and [r.title for r in doc.regulation.repeals] == ["金融许可证管理办法", "保险许可证管理办法"]
    assert doc.regulation.repeals[1].doc_no == "保监会令2007年第1号"


def test_text_reader_agrees_with_the_manifest_on_all_20_files(regulations_dir: Path) -> None:
    """Rules (部门规章) print their promulgation and effective dates: the reader finds the manifest's.
    Laws, regulations and interpretations print their history: the reader finds the first
    promulgation, the effective date of the 施行 article and the last amendment, where the manifest
    dates the current version (保险法: published 1995-06-30, amended 2015-04-24; manifest 2015-04-24)."""
    entries = {e["file"]: e for e in json.loads((regulations_dir / "manifest.json").read_text(encoding="utf-8"))}
    read = {}
    for path in sorted(regulations_dir.glob("*.md")):
        blocks, _ = read_blocks(path)
        title = regulation_title(find_title(blocks, path.stem), blocks, entries[path.name]["title"])
        read[path.name] = (title, read_metadata(blocks, split_sections("regulation", title, blocks)))
    assert len(read) == 20
    for name, entry in entries.items():
        title, meta = read[name]
        if entry["level"] == "部门规章":
            assert (meta.published, meta.effective) == (entry["published"], entry["effective"]), name
            assert meta.doc_no and doc_no_key(meta.doc_no), name
        assert set(title_keys(title)) & set(title_keys(entry["title"])), (name, title)
    assert read["life-insurer-policy-terms-rates-measures-2015.md"][1].amended == "2015-10-19"
    assert read["agricultural-insurance-regulation.md"][1].doc_no == "中华人民共和国国务院令第629号"
    assert read["agricultural-insurance-regulation.md"][1].effective == "2013-03-01"  # 本条例自2013年3月1日起施行
    law = read["insurance-law-2015.md"][1]
    assert (law.published, law.effective, law.amended) == ("1995-06-30", "2009-10-01", "2015-04-24")
    assert read["insurance-broker-regulation-2018.md"][1].doc_no == "保监会令〔2018〕3号"
    assert read["life-insurance-product-disclosure-measures-2022.md"][0] == "人身保险产品信息披露管理办法"
    health = read["health-insurance-measures-2019.md"][1]
    assert health.repeals == [RepealedRule("健康保险管理办法", "保监会令2006年第8号")]


def test_head_lines_phrased_differently() -> None:
    title, meta = _meta("""
示例保险代理管理办法

中国银保监会令

（2020年第9号）

《示例保险代理管理办法》已经中国银保监会2020年第5次委务会议通过。现予公布，自2021年3月1日起施行。

主席 某某

2020年12月30日

第一条 为了规范保险代理，制定本办法。

第二十条 本办法自2021年3月1日起施行。《示例兼业代理暂行办法》（保监发〔2000〕144号）予以废止。
""")
    assert title == "示例保险代理管理办法"
    assert (meta.doc_no, meta.published, meta.effective) == ("中国银保监会令2020年第9号", "2020-12-30", "2021-03-01")
    assert meta.repeals == [RepealedRule("示例兼业代理暂行办法", "保监发〔2000〕144号")]

    title, meta = _meta("""
# 示例保险公估监管规定

(2009年9月25日中国保监会令2009年第7号发布 根据2015年10月19日中国保险监督管理委员会令2015年第3号《关于修改部分规章的决定》修正)

第一条 为了规范公估，制定本规定。

第三十条 本规定自颁布之日起施行。原《示例公估机构管理规定》（中国保监会令2001年第2号）不再执行。
""")
    assert title == "示例保险公估监管规定"
    assert (meta.doc_no, meta.published, meta.effective, meta.amended) == (
        "中国保监会令2009年第7号", "2009-09-25", "2009-09-25", "2015-10-19")
    assert meta.repeals == [RepealedRule("示例公估机构管理规定", "中国保监会令2001年第2号")]
    assert doc_no_key(meta.repeals[0].doc_no) == doc_no_key("中国保险监督管理委员会令2001年第2号")

    title, meta = _meta("""
# 中华人民共和国示例保险法

2019年4月23日 第十三届全国人民代表大会常务委员会第十次会议通过 中华人民共和国主席令第二十九号公布

2021年4月29日 第十三届全国人民代表大会常务委员会第二十八次会议修正

第一章 总则

第一条 为了规范示例保险活动，制定本法。

第九十条 本法自2019年10月1日起施行。
""")
    assert (meta.doc_no, meta.published, meta.effective, meta.amended) == (
        "中华人民共和国主席令第二十九号", "2019-04-23", "2019-10-01", "2021-04-29")

    _, meta = _meta("""
# 示例保险条例

2030年1月6日 中华人民共和国国务院令第800号公布

第一条 为了示例，制定本条例。

第二条 保险机构应当依法废止不合规的内部制度。

第三十条 本条例自2031年1月1日起施行。
""")
    assert (meta.doc_no, meta.published, meta.effective) == ("中华人民共和国国务院令第800号", "2030-01-06", "2031-01-01")
    assert meta.repeals == []  # 应当…废止 is an obligation, and names no rule
    assert doc_no_key("国务院令第800号") == doc_no_key(meta.doc_no)


def test_status_is_computed_on_the_day_it_is_read() -> None:
    from datetime import date

    assert legal_status(None, "2031-01-01", None, date(2030, 6, 1)) == NOT_YET_EFFECTIVE
    assert legal_status(None, "2031-01-01", None, date(2031, 1, 1)) == IN_FORCE
    assert legal_status("repealed", "2001-01-01", None) == REPEALED
    assert legal_status(None, None, "银行保险机构许可证管理办法") == REPEALED
    assert set(title_keys("《中华人民共和国保险法》")) & set(title_keys("保险法"))
    assert "人身保险公司保险条款和保险费率管理办法" in title_keys("人身保险公司保险条款和保险费率管理办法（2015年修订）")


def test_bad_manifest_entries_are_named(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps([
        {"file": "a.md", "title": "甲办法", "level": "部门规章", "effective": "2024-02-30"},
        {"file": "b.md", "title": "乙办法", "status": "abolished"},
        {"file": "c.md", "title": "丙办法", "published": "2020-01-01"},
    ], ensure_ascii=False), encoding="utf-8")
    manifest = load_manifest(tmp_path / "manifest.json")
    assert list(manifest.entries) == ["c.md"]
    assert len(manifest.errors) == 2
    assert "manifest.json: entry 1 (a.md): 'effective' is not an ISO date" in manifest.errors[0]
    assert "entry 2 (b.md): 'status' must be one of" in manifest.errors[1]
    (tmp_path / "manifest.json").write_text('[{"file": "a.md",}]', encoding="utf-8")
    broken = load_manifest(tmp_path / "manifest.json")
    assert not broken.entries and "manifest.json: bad JSON at line 1" in broken.errors[0]
