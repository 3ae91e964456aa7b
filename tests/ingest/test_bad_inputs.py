"""Bad inputs, each kind several times: a clear error naming the input, the server up, nothing left behind."""

from __future__ import annotations

import io
import os
import shutil
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from brokerkg.doctor import check
from brokerkg.settings import load_settings
from brokerkg.stack import Stack
from tests.conftest import DEMO


def _bad_files(folder: Path) -> dict[str, str]:
    """file name → what the error must say."""
    folder.mkdir()
    pdf = (DEMO / "clauses" / "rh-ci-2019.pdf").read_bytes()
    out: dict[str, str] = {}
    for i in range(3):
        (folder / f"truncated-{i}.pdf").write_bytes(pdf[: len(pdf) // (i + 2)])
        out[f"truncated-{i}.pdf"] = "PDF"
        corrupt = bytearray(pdf)
        corrupt[200 + i * 50 : 4000 + i * 50] = os.urandom(3800)
        (folder / f"corrupt-{i}.pdf").write_bytes(bytes(corrupt))
        out[f"corrupt-{i}.pdf"] = "PDF"
        (folder / f"binary-{i}.md").write_bytes(os.urandom(5000) + b"\x00")
        out[f"binary-{i}.md"] = "binary"
        (folder / f"nul-{i}.txt").write_bytes("第一条 正文".encode() + b"\x00" * 10)
        out[f"nul-{i}.txt"] = "NUL"
        (folder / f"empty-{i}.md").write_bytes(b"")
        out[f"empty-{i}.md"] = "empty"
        (folder / f"notpdf-{i}.pdf").write_bytes(b"hello" * 10)
        out[f"notpdf-{i}.pdf"] = "not a PDF"
    from pypdf import PdfReader, PdfWriter

    for i in range(2):
        writer = PdfWriter()
        for page in PdfReader(io.BytesIO(pdf)).pages:
            writer.add_page(page)
        writer.encrypt(user_password=f"secret{i}", owner_password=None)
        buffer = io.BytesIO()
        writer.write(buffer)
        (folder / f"encrypted-{i}.pdf").write_bytes(buffer.getvalue())
        out[f"encrypted-{i}.pdf"] = "encrypted"
    docx = (DEMO / "clauses" / "rh-ci-2023.docx").read_bytes()
    for i in range(2):
        with zipfile.ZipFile(folder / f"zipbomb-{i}.docx", "w", zipfile.ZIP_DEFLATED) as zf:
            with zipfile.ZipFile(io.BytesIO(docx)) as src:
                for item in src.infolist():
                    zf.writestr(item, src.read(item.filename))
            zf.writestr("word/media/padding.bin", b"\x00" * (210 * 1024 * 1024))
        out[f"zipbomb-{i}.docx"] = "refused"
        with zipfile.ZipFile(folder / f"zipslip-{i}.docx", "w") as zf:
            with zipfile.ZipFile(io.BytesIO(docx)) as src:
                for item in src.infolist():
                    zf.writestr(item, src.read(item.filename))
            zf.writestr(f"../../evil-{i}.xml", "<x/>")
        out[f"zipslip-{i}.docx"] = "unsafe entry name"
    # a PDF bomb: a content stream that inflates to gigabytes
    for i in range(2):
        bomb = zlib.compress(b"0 0 m " * (60_000_000 + i), 9)
        body = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
                b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Contents 4 0 R>>endobj\n"
                b"4 0 obj<</Length " + str(len(bomb)).encode() + b"/Filter/FlateDecode>>stream\n" + bomb +
                b"\nendstream endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
        (folder / f"bomb-{i}.pdf").write_bytes(body)
        out[f"bomb-{i}.pdf"] = "PDF"
    return out


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("bad")
    with Stack(load_settings(data_dir=root / "data", max_file_mb=50)) as st:
        good = root / "good"
        good.mkdir()
        shutil.copy(DEMO / "cases" / "case-04-grace-period-shouhu.txt", good)
        assert not st.ingestor.ingest([good]).failed
        yield st


def test_bad_files_are_named_and_leave_nothing_behind(stack: Any, tmp_path: Path) -> None:
    import ingest.readers as readers

    readers.PARSE_TIMEOUT_S = 20.0  # the bomb must be refused quickly in a test
    expected = _bad_files(tmp_path / "bad")
    big = tmp_path / "big" / "huge.md"
    big.parent.mkdir()
    with big.open("wb") as fh:
        fh.truncate(100 * 1024 * 1024)
    points_before = stack.index.count()
    client = TestClient(create_app(stack))
    for _ in range(2):  # each kind several times, and again on the second pass
        report = client.post("/v1/ingest", json={"paths": [str(tmp_path / "bad"), str(big)]})
        assert report.status_code == 200
        failed = report.json()["failed"]
        assert len(failed) == len(expected) + 1, failed
        for name, words in expected.items():
            line = next((f for f in failed if name in f), None)
            assert line is not None and words.lower() in line.lower(), (name, line)
        assert any("huge.md" in f and "MB" in f for f in failed)
        assert client.get("/healthz").status_code == 200  # the server is up
    assert stack.index.count() == points_before  # no residue in the index
    doctor = check(stack.graph, stack.index)
    assert doctor.consistent and doctor.done == 1 and doctor.failed == len(expected) + 1


def test_bad_requests_get_a_clear_4xx(stack: Any) -> None:
    client = TestClient(create_app(stack))
    cases = [
        ("/v1/ask", {"question": "问" * 100_000}, 400),
        ("/v1/ask", {"question": 123}, 400),
        ("/v1/ask", {"question": "等待期", "top_k": "five"}, 400),
        ("/v1/search", {"query": ["a"]}, 400),
        ("/v1/ask", "[" * 5000 + "]" * 5000, 400),
        ("/v1/ask", {"question": "x" * 2_000_000}, 413),
    ]
    for path, body, status in cases * 2:
        if isinstance(body, str):
            r = client.post(path, content=body, headers={"content-type": "application/json"})
        else:
            r = client.post(path, json=body)
        assert r.status_code == status, (path, str(body)[:40], r.text[:200])
        assert set(r.json()) == {"error"} and r.json()["error"]["message"]
    assert client.post("/v1/ask", json={"question": "宽限期内身故赔吗"}).status_code == 200
