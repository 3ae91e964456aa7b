"""Read a file into paragraph-level blocks: text formats through unstructured, PDF through pdfminer.

Everything here runs offline: unstructured's English spaCy model is replaced by the
``en_core_web_sm`` stand-in in ``vendor/`` and its telemetry is switched off before import.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path

from domain.errors import DocumentError, UnsupportedFileError
from domain.types import SUPPORTED_SUFFIXES, Block

logger = logging.getLogger(__name__)

# unstructured phones home (scarf analytics) and prints a banner unless told not to.
os.environ.setdefault("SCARF_NO_ANALYTICS", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

_PAGE_NUMBER = re.compile(
    r"^\s*(?:第\s*\d+\s*页(?:\s*[/，,]?\s*共\s*\d+\s*页)?|-\s*\d+\s*-|\d+\s*/\s*\d+|page\s*\d+(?:\s*of\s*\d+)?|\d{1,3})\s*$",
    re.IGNORECASE,
)
_SENTENCE_END = tuple("。；：！？!?;:」』）)】")
_STRUCTURE_START = re.compile(
    r"^\s*(?:第[零〇一二三四五六七八九十百千\d]+[编章节条部分]|\d+(?:\.\d+)+|\d+[\s　、]|[（(][一二三四五六七八九十\d]+[）)]|[一二三四五六七八九十]+、|[•·\-–—]\s)"
)


def decode_text(data: bytes, name: str) -> tuple[str, str]:
    """Decode bytes of a text file: UTF-8 (with or without BOM), else GB18030 (a superset of GBK)."""
    if not data.strip():
        raise DocumentError(f"{name}: file is empty")
    if b"\x00" in data[:4096]:
        raise DocumentError(f"{name}: looks like a binary file, not text (contains NUL bytes)")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return text, "utf-8" if encoding == "utf-8-sig" else "gb18030"
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise DocumentError(f"{name}: cannot detect the text encoding (tried UTF-8, GBK/GB18030)")
    return str(best), best.encoding


def read_blocks(path: Path) -> tuple[list[Block], str | None]:
    """Return the file's blocks in reading order and the detected text encoding (text formats only)."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedFileError(
            f"{path}: unsupported file type '{suffix or '(none)'}'; supported: {', '.join(SUPPORTED_SUFFIXES)}"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"{path}: cannot read file ({exc.strerror})") from exc
    if not data:
        raise DocumentError(f"{path}: file is empty")
    try:
        if suffix in (".pdf", ".docx"):
            return _isolated(path, data, suffix), None
        text, encoding = decode_text(data, str(path))
        if suffix in (".html", ".htm"):
            return _read_html(text), encoding
        if suffix in (".md", ".markdown"):
            return _read_markdown(text), encoding
        return _read_plain(text), encoding
    except DocumentError:
        raise
    except Exception as exc:  # parser internals: translate, name the file
        raise DocumentError(f"{path}: cannot parse {suffix[1:].upper()} ({type(exc).__name__}: {exc})") from exc


# Container formats are parsed in a child process with a time and a memory limit: a PDF bomb
# or a pathological file fails with a named error instead of taking the server down.
PARSE_TIMEOUT_S = 120.0
PARSE_MEMORY_BYTES = 2 * 1024**3
MAX_PDF_PAGES = 3000
MAX_UNPACKED_BYTES = 200 * 1024**2
MAX_ZIP_RATIO = 200


def _isolated(path: Path, data: bytes, suffix: str) -> list[Block]:
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_parse_child, args=(child, path, data, suffix), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(PARSE_TIMEOUT_S):
            raise DocumentError(f"{path}: parsing took longer than {PARSE_TIMEOUT_S:.0f} s; refused")
        ok, payload = parent.recv()
    except EOFError:
        raise DocumentError(f"{path}: the parser stopped (file too large when unpacked, or malformed)") from None
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        parent.close()
    if not ok:
        raise DocumentError(payload)
    return [Block(*b) for b in payload]


def _parse_child(conn: object, path: Path, data: bytes, suffix: str) -> None:
    import resource

    try:
        # On top of what the forked process already maps (models, thread stacks): the parse's own budget.
        limit = _mapped_bytes() + PARSE_MEMORY_BYTES
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError):
        pass
    try:
        blocks = _read_pdf(path, data) if suffix == ".pdf" else _read_docx(path, data)
        result: tuple[bool, object] = (True, [(b.text, b.kind, b.level) for b in blocks])
    except DocumentError as exc:
        result = (False, str(exc))
    except MemoryError:
        result = (False, f"{path}: needs more than {PARSE_MEMORY_BYTES // 1024**3} GB to parse (decompression bomb?); refused")
    except Exception as exc:  # noqa: BLE001 (parser internals: translate, name the file)
        result = (False, f"{path}: cannot parse {suffix[1:].upper()} ({type(exc).__name__}: {exc})")
    try:
        conn.send(result)  # type: ignore[attr-defined]
    finally:
        conn.close()  # type: ignore[attr-defined]


def _mapped_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _check_zip(path: Path) -> None:
    """A DOCX is a ZIP: refuse path tricks (zip-slip names) and decompression bombs before parsing."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            total = 0
            for info in zf.infolist():
                name = info.filename
                if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/") or ":" in name:
                    raise DocumentError(f"{path}: unsafe entry name in the DOCX container ({name!r}); refused")
                total += info.file_size
                if info.compress_size and info.file_size / info.compress_size > MAX_ZIP_RATIO and info.file_size > 10 * 1024**2:
                    raise DocumentError(f"{path}: entry {name!r} expands {info.file_size // info.compress_size}× (zip bomb?); refused")
            if total > MAX_UNPACKED_BYTES:
                raise DocumentError(f"{path}: unpacks to {total / 1e6:.0f} MB, over {MAX_UNPACKED_BYTES / 1e6:.0f} MB; refused")
    except zipfile.BadZipFile as exc:
        raise DocumentError(f"{path}: not a valid DOCX file ({exc})") from exc


def _from_elements(elements: Sequence[object]) -> list[Block]:
    blocks: list[Block] = []
    for el in elements:
        text = _clean(getattr(el, "text", "") or "")
        if not text:
            continue
        category = getattr(el, "category", "")
        depth = getattr(getattr(el, "metadata", None), "category_depth", None)
        if category == "Title":
            blocks.append(Block(text, "heading", depth if depth is not None else 1))
        elif category == "ListItem":
            blocks.append(Block(text, "list"))
        elif category == "Table":
            html = getattr(getattr(el, "metadata", None), "text_as_html", None)
            rows = table_rows(html) if html else []
            blocks.extend(Block(row, "table") for row in rows) if rows else blocks.append(Block(text, "table"))
        else:
            blocks.append(Block(text, "text"))
    return blocks


_CELL_NUMBER = re.compile(r"^\d{1,2}(?:\.\d{1,2}){0,3}[.．]?$")


class _Rows(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.rows = []
            self.tables.append(self.rows)
        elif tag == "tr":
            if not self.tables:
                self.tables.append(self.rows)
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            if not self.rows:
                self.rows.append([])
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_cells(html: str) -> list[list[list[str]]]:
    """Every table in ``html`` as rows of cell texts."""
    parser = _Rows()
    parser.feed(html)
    return [[[_clean(c) for c in row] for row in table] for table in parser.tables]


def table_rows(html: str) -> list[str]:
    """An HTML table as one line per row. A row led by a clause number (a wording laid out as a
    table: 1.1 | 合同构成 | 本合同…) reads as that clause; other rows keep their cells apart with ``|``."""
    parser = _Rows()
    parser.feed(html)
    out = []
    for row in parser.rows:
        cells = [_clean(c) for c in row if _clean(c)]
        if not cells:
            continue
        sep = " " if _CELL_NUMBER.match(cells[0]) else " | "
        out.append(sep.join(cells))
    return out


# A hard line break in Markdown (two trailing spaces) ends a line the author meant as its own.
_HARD_BREAK = re.compile(r"[ \t]{2,}\n")


def _read_markdown(text: str) -> list[Block]:
    from unstructured.partition.md import partition_md

    return _from_elements(partition_md(text=_HARD_BREAK.sub("\n\n", text), languages=["zho"]))


def _read_html(text: str) -> list[Block]:
    from unstructured.partition.html import partition_html

    return _from_elements(partition_html(text=text, languages=["zho"]))


def _read_plain(text: str) -> list[Block]:
    # unstructured's partition_text guesses titles with English heuristics; for Chinese the
    # paragraph split is what matters, so every element is kept as text and structure is
    # recognised later from the numbering (第X条, 2.1, 基本案情).
    from unstructured.partition.text import partition_text

    blocks = _from_elements(partition_text(text=text))
    return [Block(b.text, "text") for b in blocks]


def _read_docx(path: Path, data: bytes) -> list[Block]:
    import zipfile

    if not zipfile.is_zipfile(path):
        raise DocumentError(f"{path}: not a valid DOCX file (not a ZIP container)")
    _check_zip(path)
    from unstructured.partition.docx import partition_docx

    return _from_elements(partition_docx(filename=str(path)))


_PRIVATE_USE = re.compile("[\ue000-\uf8ff]")  # symbol-font glyphs a PDF conversion leaves behind


# PDF-to-Markdown tools write percentages as inline LaTeX ($80\%$, $8.50 \%$)
_LATEX_INLINE = re.compile(r"\$\s*([^$\n]{1,24}?)\s*\$")


def _latex(match: re.Match[str]) -> str:
    return re.sub(r"\\%", "%", match.group(1)).replace("\\", "").replace(" ", "")


def _clean(text: str) -> str:
    text = _PRIVATE_USE.sub("", text.replace("\u3000", " ").replace("\xa0", " "))
    if "$" in text:
        text = _LATEX_INLINE.sub(_latex, text)
    return re.sub(r"[ \t]+", " ", text).strip()


def _read_pdf(path: Path, data: bytes) -> list[Block]:
    """Extract text lines per page, drop running headers/footers and page numbers, join hard wraps."""
    from io import BytesIO

    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams, LTChar, LTTextContainer, LTTextLine
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
    from pdfminer.pdfparser import PDFSyntaxError

    if not data.lstrip().startswith(b"%PDF"):
        raise DocumentError(f"{path}: not a PDF file (no %PDF header)")
    pages: list[list[tuple[str, float]]] = []  # per page: (line text, font size), top to bottom
    try:
        for number, page in enumerate(extract_pages(BytesIO(data), laparams=LAParams(line_margin=0.3)), 1):
            if number > MAX_PDF_PAGES:
                raise DocumentError(f"{path}: more than {MAX_PDF_PAGES} pages; refused")
            lines: list[tuple[float, str, float]] = []
            for element in page:
                if isinstance(element, LTTextContainer):
                    for line in element:
                        if isinstance(line, LTTextLine):
                            text = _clean(line.get_text())
                            if text:
                                sizes = sorted(c.size for c in line if isinstance(c, LTChar))
                                lines.append((-line.y1, text, sizes[len(sizes) // 2] if sizes else 0.0))
            lines.sort(key=lambda item: item[0])
            pages.append([(text, size) for _, text, size in lines])
    except (PDFEncryptionError, PDFPasswordIncorrect) as exc:
        raise DocumentError(f"{path}: PDF is encrypted; provide an unencrypted copy") from exc
    except PDFSyntaxError as exc:
        raise DocumentError(f"{path}: PDF is corrupt or truncated ({exc})") from exc
    if not any(pages):
        raise DocumentError(f"{path}: PDF has no extractable text (scanned image? OCR is not supported)")
    return _join_pdf_lines(_drop_running_lines(pages))


def _drop_running_lines(pages: list[list[tuple[str, float]]]) -> list[tuple[str, float]]:
    """Remove page numbers, and headers/footers: edge lines repeated on most pages or set in small type."""
    all_sizes = sorted(size for lines in pages for _, size in lines if size)
    body = all_sizes[len(all_sizes) // 2] if all_sizes else 0.0
    edge_counts: Counter[str] = Counter()
    for lines in pages:
        for text in {t for t, _ in lines[:2] + lines[-2:]}:
            edge_counts[re.sub(r"\d+", "#", text)] += 1
    threshold = max(2, (len(pages) + 1) // 2)
    kept: list[tuple[str, float]] = []
    for lines in pages:
        for i, (text, size) in enumerate(lines):
            at_edge = i < 2 or i >= len(lines) - 2
            if _PAGE_NUMBER.match(text):
                continue
            if at_edge and len(pages) > 1 and edge_counts[re.sub(r"\d+", "#", text)] >= threshold:
                continue
            if at_edge and body and size and size < 0.85 * body:
                continue
            kept.append((text, size))
    return kept


def _join_pdf_lines(lines: list[tuple[str, float]]) -> list[Block]:
    """Join lines that a PDF wrapped mid-sentence.

    A line ends its paragraph when it ends with 。；： etc., or is clearly shorter than a full
    line (a heading, the last line of a paragraph); a line starting with numbering (第X条,
    2.1, （一）) always starts a new one. The document title is the largest type at the start.
    """
    lengths = sorted(len(t) for t, _ in lines)
    full = lengths[int(len(lengths) * 0.8)] if lengths else 0
    sizes = sorted(size for _, size in lines if size)
    body = sizes[len(sizes) // 2] if sizes else 0.0
    paragraphs: list[tuple[str, float]] = []
    prev_complete = True
    for text, size in lines:
        if paragraphs and not prev_complete and not _STRUCTURE_START.match(text) and size <= paragraphs[-1][1] + 0.5:
            prev, prev_size = paragraphs[-1]
            sep = " " if prev[-1:].isascii() and text[:1].isascii() and prev[-1:].isalnum() else ""
            paragraphs[-1] = (prev + sep + text, prev_size)
        else:
            paragraphs.append((text, size))
        prev_complete = text.endswith(_SENTENCE_END) or len(text) < 0.75 * full or (body > 0 and size > body * 1.15)
    blocks: list[Block] = []
    head = paragraphs[:5]
    title_size = max((size for _, size in head), default=0.0)
    title_done = False
    for text, size in paragraphs:
        if not title_done and body and size >= title_size and size > body * 1.15 and len(text) <= 80:
            blocks.append(Block(text, "heading", 0))
            title_done = True
        else:
            blocks.append(Block(text, "text"))
    if not title_done and blocks and len(blocks[0].text) <= 60:
        blocks[0] = Block(blocks[0].text, "heading", 0)
    return blocks
