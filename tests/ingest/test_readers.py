"""Each supported format reads into ordered blocks; bad files fail with the file named."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.errors import DocumentError, UnsupportedFileError
from ingest.readers import read_blocks
from ingest.structure import find_title

DEMO = Path(__file__).resolve().parents[2] / "demo"


@pytest.mark.parametrize(
    "path, title",
    [
        ("clauses/ak-ci-2021.md", "安康安享终身重大疾病保险条款"),
        ("clauses/hn-acc-2022.html", "恒宁畅行综合意外伤害保险（2022版）条款"),
        ("clauses/rh-ci-2023.docx", "瑞禾康宁终身重大疾病保险（2023版）条款"),
        ("clauses/rh-ci-2019.pdf", "瑞禾康宁终身重大疾病保险（2019版）条款"),
        ("cases/case-04-grace-period-shouhu.txt", "陈某诉鼎信人寿定期寿险合同纠纷案（宽限期内身故）"),
    ],
)
def test_each_format_yields_its_title_and_text(path: str, title: str) -> None:
    blocks, _ = read_blocks(DEMO / path)
    assert find_title(blocks, "fallback") == title
    assert sum(len(b.text) for b in blocks) > 500


@pytest.mark.parametrize("encoding", ["utf-8", "gbk", "gb18030"])
def test_text_encodings_are_detected(tmp_path: Path, encoding: str) -> None:
    text = "第一条 投保人应当如实告知。\n\n第二条 犹豫期为15日，㵘字检验。" if encoding == "gb18030" else "第一条 投保人应当如实告知。\n\n第二条 犹豫期为15日。"
    path = tmp_path / "law.txt"
    path.write_bytes(text.encode(encoding))
    blocks, detected = read_blocks(path)
    joined = "\n".join(b.text for b in blocks)
    assert "如实告知" in joined and "犹豫期为15日" in joined
    assert detected == ("utf-8" if encoding == "utf-8" else "gb18030")


def test_pdf_drops_running_header_and_page_numbers_and_joins_wrapped_lines() -> None:
    blocks, _ = read_blocks(DEMO / "clauses/rh-ci-2019.pdf")
    texts = [b.text for b in blocks]
    assert not any("第 1 页" in t or "第 2 页" in t for t in texts)
    assert not any(t.startswith("瑞禾人寿保险股份有限公司 ·") for t in texts)
    waiting = next(t for t in texts if t.startswith("2.2 等待期"))
    # the section was wrapped over several lines in the PDF; it comes back as one paragraph
    assert "自本合同生效日起180日内（含第180日）为等待期" in waiting and "本合同终止" in waiting


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.md", b"", "empty"),
        ("blank.txt", b"   \n\n", "empty"),
        ("binary.md", bytes(range(256)) * 4, "binary"),
        ("fake.pdf", b"this is not a pdf", "not a PDF"),
        ("truncated.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog", "PDF"),
        ("fake.docx", b"PK-not-really-a-zip", "DOCX"),
    ],
)
def test_bad_files_fail_with_the_file_named(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DocumentError) as info:
        read_blocks(path)
    assert name in str(info.value) and message in str(info.value)


def test_unsupported_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sheet.xlsx"
    path.write_bytes(b"x")
    with pytest.raises(UnsupportedFileError, match="sheet.xlsx"):
        read_blocks(path)
