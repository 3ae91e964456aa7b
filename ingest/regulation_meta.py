"""A regulation's metadata: level, document number, dates, amendments and the rules it repeals.

Two sources. A folder's ``manifest.json`` (a list of {file, title, level, published, effective,
status, amended, source}) wins for the fields it gives. The text gives the rest, read by structure:
the head lines before the first 第一章/第一条 (the promulgation line in brackets, dated lines ending
in 公布/通过/修订/修正/施行, an order's name above its number, the announcement 现予公布，自…起施行 and
the signature date under it) and the 施行 article (本办法自2021年7月1日起施行，《…》（…令…号）同时废止).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from domain.refs import ARTICLE_NO
from domain.regulations import LEGAL_STATUSES, RegulationMeta, RepealedRule
from domain.types import Block, Section

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"

_D = r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日"
_DATE = re.compile(_D)
_BODY_START = re.compile(rf"^\s*(?:#+\s*)?(?:{ARTICLE_NO}|第[零〇一二三四五六七八九十百]+[编章节])")
_BRACKETED = re.compile(r"^[（(](.+)[)）]$", re.S)
# 国家金融监督管理总局令2023年第2号, 国务院令第629号, 主席令第十五号, 保监会令〔2018〕3号
_ORDER_NO = re.compile(
    r"(?:[\u4e00-\u9fff]{2,24}?)?令\s*(?:[〔\[［(（]\s*\d{4}\s*[〕\]］)）]\s*第?\s*\d+\s*号"
    r"|\d{4}\s*年\s*第\s*\d+\s*号|第\s*[\d零〇一二三四五六七八九十百]+\s*号)"
)
_PROMULGATION_START = re.compile(r"\s*(?=[（(]\s*\d{4}\s*年)")
_PROMULGATION_TAIL = re.compile(r"\s*[（(]\s*\d{4}\s*年[^（）()]*(?:公布|发布|施行|通过)[^（）()]*[)）]$")
_ORDER_HEADER = re.compile(r"^[\u4e00-\u9fff]{2,24}令$")
_ORDER_NUMBER = re.compile(r"^[（(]?\s*(\d{4}\s*年\s*第\s*\d+\s*号)\s*[)）]?$")
_EFFECTIVE = re.compile(rf"自\s*{_D}\s*起\s*(?:施行|实施|生效)")
_FROM_PUBLICATION = re.compile(r"自\s*(?:颁布|公布|发布)之日起\s*(?:施行|实施|生效)")
_SELF_EFFECTIVE = re.compile(r"本(?:法|条例|办法|规定|解释|规范|细则|决定|规则|通知|准则|指引)[^。；]{0,12}?自")
# a sentence that repeals: …同时废止 / 予以废止 / 废止 / 不再执行 / 停止执行
_REPEAL_VERB = re.compile(r"(?:同时|予以|一并)?(?:废止|不再执行|停止执行)")
_NAMED_RULE = re.compile(r"《([^《》]{2,80})》\s*(?:[（(]([^（）()]{2,40})[)）])?")



def _iso(m: re.Match[str]) -> str | None:
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
    except ValueError:
        return None


def _squash(text: str) -> str:
    """Spaces a conversion put between characters (2022 年 第 8 号, 主 席) are not part of the text."""
    return re.sub(r"(?<=[\d\u4e00-\u9fff])\s+(?=[\d\u4e00-\u9fff])", "", text.strip())


def head_lines(blocks: list[Block]) -> list[str]:
    """The lines before the body's first chapter or article: title, promulgation, amendments."""
    lines: list[str] = []
    for block in blocks:
        for line in block.text.split("\n"):
            if _BODY_START.match(line):
                return lines
            # a title and its promulgation line read as one paragraph: two lines
            lines += [_squash(part) for part in _PROMULGATION_START.split(line) if part.strip()]
    return lines[:12]


def read_head(lines: list[str]) -> RegulationMeta:
    """Metadata from a regulation's head lines (see the module doc for the phrasings)."""
    meta = RegulationMeta()
    adopted: list[str] = []
    amendments: list[str] = []
    signature: str | None = None
    for i, raw in enumerate(lines):
        bracket = _BRACKETED.match(raw)
        line = bracket.group(1) if bracket else raw
        if _ORDER_HEADER.match(line) and i + 1 < len(lines):  # 中国银行保险监督管理委员会令 / （2020年第11号）
            number = _ORDER_NUMBER.match(lines[i + 1])
            if number:
                meta.doc_no = meta.doc_no or line + re.sub(r"\s", "", number.group(1))
            continue
        if _ORDER_HEADER.match(line) is None and re.fullmatch(_ORDER_NO.pattern, line):  # 保监会令〔2018〕3号
            meta.doc_no = meta.doc_no or line
            continue
        if bracket or _DATE.match(line):  # not a preamble's prose (…适用2009年2月28日…修订的《保险法》)
            amendments += _amendment_dates(line)
        effective = _EFFECTIVE.search(line)
        if effective and (day := _iso(effective)):
            meta.effective = meta.effective or day
        first = _DATE.match(line)
        if first and (day := _iso(first)):
            rest = line[first.end():]
            head = re.split(r"根据|自", rest)[0]
            if re.search(r"(?:公布|发布)", head):
                meta.published = meta.published or day
                order = _ORDER_NO.search(head)
                if order:  # the issuer's name starts after what the meeting did (…会议通过中华人民共和国主席令…)
                    printed = re.split(r"通过|会议|决定|[，,、；]", re.sub(r"\s", "", order.group(0)))[-1]
                    meta.doc_no = meta.doc_no or printed
            elif re.search(r"(?:修订|修正)$", rest.strip()):
                pass  # an amendment: read by _amendment_dates above
            elif rest.strip().endswith("通过"):
                adopted.append(day)
            elif re.fullmatch(r"\s*(?:起)?(?:施行|实施)\s*", rest):
                meta.effective = meta.effective or day
            elif not rest.strip():
                signature = signature or day  # the date under the signature of an order
        if _FROM_PUBLICATION.search(line):
            meta.effective = meta.effective or "publication"
    if meta.published is None:
        meta.published = adopted[0] if adopted else signature
    later = sorted({*amendments, *adopted[1:]})
    meta.amended = later[-1] if later else None
    if meta.effective == "publication":
        meta.effective = meta.published
    return meta


def _amendment_dates(line: str) -> list[str]:
    """Dates whose part of the line (up to the next date) says 修订/修正 and not 公布/发布."""
    dates = list(_DATE.finditer(line))
    out: list[str] = []
    for m, nxt in zip(dates, [*dates[1:], None][: len(dates)], strict=True):
        part = line[m.end(): nxt.start() if nxt else len(line)]
        if re.search(r"修订|修正", part) and not re.search(r"公布|发布", part) and (day := _iso(m)):
            out.append(day)
    return out


def read_body(sections: list[Section]) -> tuple[str | None, bool, list[RepealedRule]]:
    """(effective date of its 施行 article, whether it takes effect on publication, the rules it repeals)."""
    effective: str | None = None
    on_publication = False
    repeals: list[RepealedRule] = []
    for section in sections:
        for sentence in re.split(r"(?<=。)", section.text):
            own = _SELF_EFFECTIVE.search(sentence)
            if own:
                m = _EFFECTIVE.search(sentence, own.start())
                if m and effective is None:
                    effective = _iso(m)
                if _FROM_PUBLICATION.search(sentence, own.start()):
                    on_publication = True
            repeals += repealed_rules(sentence)
    return effective, on_publication, list(dict.fromkeys(repeals))


def repealed_rules(sentence: str) -> list[RepealedRule]:
    """The rules a sentence repeals: each 《title》（doc_no） before its 废止/不再执行 verb."""
    verb = _REPEAL_VERB.search(sentence)
    if not verb or "《" not in sentence[: verb.start()]:
        return []
    if re.search(r"(?:应当|可以|不得|依法|责令)[^，。]*$", sentence[: verb.start()]):
        return []  # an obligation to repeal something, not this rule repealing it
    named = sentence[: verb.start()]
    own = _SELF_EFFECTIVE.search(named)
    if own:  # 本办法自…起施行，《A》…同时废止: the rules come after the effective clause
        named = named[own.end():]
    out: list[RepealedRule] = []
    for m in _NAMED_RULE.finditer(named):
        number = re.match(r".*?号", re.sub(r"\s", "", m.group(2) or ""))
        out.append(RepealedRule(m.group(1).strip(), number.group(0) if number else None))
    return out


def read_metadata(blocks: list[Block], sections: list[Section]) -> RegulationMeta:
    """What the text says: the head lines first, the 施行 article for what they leave open."""
    meta = read_head(head_lines(blocks))
    effective, on_publication, meta.repeals = read_body(sections)
    if meta.effective is None:
        meta.effective = effective or (meta.published if on_publication else None)
    return meta


def regulation_title(title: str, blocks: list[Block], manifest_title: str | None = None) -> str:
    """The found title, unless it is a promulgation or order line (…令, (…公布 自…施行)): then the
    first head line that reads as a rule's name, else the manifest's title."""
    if not (_BRACKETED.match(title) or _ORDER_HEADER.match(title) or _DATE.match(title)):
        return _PROMULGATION_TAIL.sub("", title) or title  # 保险许可证管理办法（2007年…公布 自…起施行）
    return _head_title(blocks) or manifest_title or title


def _head_title(blocks: list[Block]) -> str | None:
    for line in head_lines(blocks):
        if (not _BRACKETED.match(line) and not _DATE.search(line) and not _ORDER_HEADER.match(line)
                and re.search(r"(?:法|条例|办法|规定|解释|规范|细则|决定|规则|通知)(?:（[^）]*）)?$", line)
                and len(line) <= 60 and "《" not in line):
            return line
    return None


# --- the manifest ---------------------------------------------------------------------------


@dataclass
class Manifest:
    """A folder's manifest: entries by file name, and what was wrong with it (named by entry)."""

    path: Path
    entries: dict[str, RegulationMeta] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)  # file → the entry as JSON (part of the content hash)
    errors: list[str] = field(default_factory=list)


_FIELDS = ("file", "title", "level", "published", "effective", "status", "amended", "source", "doc_no", "repealed_by")


def load_manifest(path: Path) -> Manifest:
    """Read ``manifest.json``; a bad file or entry is an error naming the manifest and the entry,
    and that entry (or the whole file, when it is not JSON) is not applied."""
    manifest = Manifest(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as exc:
        manifest.errors.append(f"{path}: not UTF-8 ({exc.reason}); its metadata was not applied")
        return manifest
    except json.JSONDecodeError as exc:
        manifest.errors.append(
            f"{path}: bad JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}; its metadata was not applied"
        )
        return manifest
    if not isinstance(data, list):  # another tool's manifest, not a list of regulations: nothing to apply
        logger.info("%s is not a list of regulation entries; not read as metadata", path)
        return manifest
    for n, entry in enumerate(data, start=1):
        where = f"{path}: entry {n}" + (f" ({entry.get('file')})" if isinstance(entry, dict) and entry.get("file") else "")
        try:
            meta, name = _entry(entry)
        except ValueError as exc:
            manifest.errors.append(f"{where}: {exc}; this entry was not applied")
            continue
        manifest.entries[name] = meta
        manifest.raw[name] = json.dumps(entry, ensure_ascii=False, sort_keys=True)
    return manifest


def _entry(entry: Any) -> tuple[RegulationMeta, str]:
    if not isinstance(entry, dict):
        raise ValueError(f"expected an object, got {type(entry).__name__}")
    name = entry.get("file")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("'file' is missing (the file name this entry describes)")
    for key in _FIELDS:
        value = entry.get(key)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"'{key}' must be a string or null, got {json.dumps(value, ensure_ascii=False)}")
    for key in ("published", "effective", "amended"):
        value = entry.get(key)
        if value:
            try:
                date.fromisoformat(value)
            except ValueError:
                raise ValueError(f"'{key}' is not an ISO date (YYYY-MM-DD): {value!r}") from None
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                raise ValueError(f"'{key}' is not an ISO date (YYYY-MM-DD): {value!r}")
    status = entry.get("status")
    if status and status not in LEGAL_STATUSES:
        raise ValueError(f"'status' must be one of {', '.join(LEGAL_STATUSES)}, not {status!r}")
    meta = RegulationMeta(
        level=entry.get("level") or None, doc_no=entry.get("doc_no") or None,
        published=entry.get("published") or None, effective=entry.get("effective") or None,
        amended=entry.get("amended") or None, declared_status=status or None, title=entry.get("title") or None,
        repealed_by=entry.get("repealed_by") or None,
    )
    return meta, name.strip()


class Manifests:
    """The manifests beside the files of one ingest, read once per folder."""

    def __init__(self) -> None:
        self._by_folder: dict[Path, Manifest | None] = {}

    def for_file(self, path: Path) -> Manifest | None:
        folder = path.resolve().parent
        if folder not in self._by_folder:
            candidate = folder / MANIFEST
            self._by_folder[folder] = load_manifest(candidate) if candidate.is_file() else None
        return self._by_folder[folder]

    def errors(self) -> list[str]:
        return [e for m in self._by_folder.values() if m for e in m.errors]
