"""Chinese document structure: blocks → title, document type and located sections.

- regulations: 编/章/节 headings and 第X条 articles (the article number is the locator);
- product clauses: numbered sections (2.1, 4.1.2) or 第X条, under part headings;
- claim cases: their named sections (基本案情, 争议焦点, 处理结果 …).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from domain.refs import PREAMBLE
from domain.types import Block, DocType, Section

_CN = "零〇一二三四五六七八九十百千"
ARTICLE = re.compile(rf"^(第[{_CN}\d]+条(?:之[一二三四五六七八九十]+)?)(?:[\s:：]+|(?=[^\s、，的款项])|$)(.*)$", re.S)
DIVISION = re.compile(rf"^(第[{_CN}\d]+)(编|章|节)(?:[\s:：]+(.*)|$)")
# "2.3 年金领取方式" or "2.3年金…", but not "1.5倍基本保险金额" (a number, not a section).
CLAUSE_SECTION = re.compile(
    r"^(\d{1,2}(?:\.\d{1,2}){1,3})(?:[\s:：]+|(?=[\u4e00-\u9fff（(【])(?![倍%‰万元岁日年个周月天份])|$)(.*)$", re.S
)
CLAUSE_PART = re.compile(rf"^(?:第[{_CN}\d]+部分|第[{_CN}\d]+章|[{_CN}]+、|\d{{1,2}}[\s、.．]+)\s*[\u4e00-\u9fff（）()A-Za-z0-9]{{2,24}}$")
CASE_SECTIONS = (
    "基本案情", "案情简介", "案情介绍", "案情", "案例背景", "争议焦点", "法院认为", "裁判理由", "裁判要旨", "处理结果",
    "裁判结果", "判决结果", "理赔结果", "调解结果", "处理依据", "法律依据", "案例评析", "案例点评", "律师点评",
    "专家点评", "风险提示", "经验启示", "启示", "典型意义", "理赔经过",
)
_CASE_HEADING = re.compile(
    r"^(?:[一二三四五六七八九十]+[、.．]|\d+[、.．]\s*|【)?\s*(" + "|".join(CASE_SECTIONS) + r")\s*(?:】)?\s*[:：]?\s*(.*)$",
    re.S,
)
_TITLE_MAX = 80


# Lines above a real wording's title that are not its title: the filing number
# (利安人寿[2024]疾病保险 043 号), the scan notice, the reading guide, conversion debris.
_FILING_NO = re.compile(r"^\S{2,12}\s*[\[［【〔(（]\s*(?:19|20)\d{2}\s*[\]］】〕)）]\s*\S{0,16}?\s*\d+\s*号$")
_NOT_TITLE = re.compile(r"请扫描|扫描二维码|查询验证|^阅\s*[．.]?\s*读|^目\s*录|^条款目录")
_INSURER_ONLY = re.compile(r"^\S{2,30}(?:股份有限公司|有限责任公司|有限公司|公司)$")


def filing_number(blocks: list[Block]) -> str | None:
    """The regulator's filing number printed above a wording's title, spaces removed."""
    for block in blocks[:6]:
        text = block.text.strip()
        if _FILING_NO.match(text):
            return re.sub(r"\s+", "", text)
    return None


def _title_candidates(blocks: list[Block]) -> list[Block]:
    out = []
    for block in blocks[:8]:
        text = block.text.strip()
        if (not text or len(text) > _TITLE_MAX or _FILING_NO.match(text) or _NOT_TITLE.search(text)
                or not re.search(r"[\u4e00-\u9fffA-Za-z]{2}", text) or ARTICLE.match(text)):
            continue
        out.append(block)
    return out


def find_title(blocks: list[Block], fallback: str) -> str:
    """The document's own title as printed: its first top-level heading, else its first short line,
    passing over a filing number, scan notice or reading guide; an insurer's name on a line of its
    own is joined to the wording's name below it (利安人寿保险股份有限公司 / 利安福重大疾病保险条款)."""
    candidates = _title_candidates(blocks)
    if not candidates:
        return fallback
    first = candidates[0]
    lines = [line.strip() for line in first.text.split("\n") if line.strip()]
    if len(lines) == 1 and _INSURER_ONLY.match(lines[0]) and len(candidates) > 1:
        title = lines[0] + candidates[1].text.strip()
    else:
        heading = next((b for b in candidates[:5] if b.kind == "heading" and (b.level or 0) <= 1), None)
        title = (heading or first).text.strip()
    # a line break or column gap inside a printed title is not part of it
    return re.sub(r"(?<=[\u4e00-\u9fff（）()])\s+|\s+(?=[\u4e00-\u9fff（）()])", "", title)


def guess_doc_type(title: str, blocks: list[Block]) -> DocType:
    """--type auto: cases by their section names, clauses by their wording, else regulations."""
    texts = [b.text for b in blocks]
    articles = sum(1 for t in texts if ARTICLE.match(t))
    regulation_title = re.search(r"(法|条例|规定|解释|办法|细则|通知|决定|规则|意见|指引)(（[一二三四五六七八九十]+）)?$", title)
    if "条款" in title:
        return "clause"
    if regulation_title and articles >= 2:
        return "regulation"
    case_hits = sum(1 for t in texts if _CASE_HEADING.match(t) and len(t) <= 40 or t.startswith(("【基本案情", "【争议焦点")))
    if case_hits >= 2 or re.search(r"(案例|案$|纠纷|判决书|理赔案)", title):
        return "case"
    joined = "\n".join(texts[:400])
    if "保险责任" in joined and ("责任免除" in joined or "除外责任" in joined):
        return "clause"
    if articles >= 2 or regulation_title:
        return "regulation"
    sections = sum(1 for t in texts if CLAUSE_SECTION.match(t))
    return "clause" if sections >= 2 else "regulation"


def split_sections(doc_type: DocType, title: str, blocks: list[Block]) -> list[Section]:
    body = _drop_title(title, blocks)
    if doc_type == "regulation":
        sections = _regulation_sections(body)
        if all(s.locator == PREAMBLE for s in sections) and _numbered(body) >= 2:
            # a standard or guideline numbered 2.1, 3.1.1 (疾病定义使用规范) instead of 第X条
            sections = _clause_sections(body, intro=PREAMBLE)
    elif doc_type == "clause":
        body, navigation = skip_navigation(body)
        sections = _with_navigation(_clause_sections(body, intro=PREAMBLE), navigation, title)
    else:
        sections = _case_sections(body)
    sections = [s for s in sections if s.text.strip()]
    if not sections:
        sections = _heading_sections(body)
    return sections


def _numbered(blocks: list[Block]) -> int:
    return sum(1 for block in blocks for para in _paragraphs(block) if CLAUSE_SECTION.match(para))


def _drop_title(title: str, blocks: list[Block]) -> list[Block]:
    for i, block in enumerate(blocks[:5]):
        if block.text == title:
            return blocks[:i] + blocks[i + 1 :]
    return blocks


def _paragraphs(block: Block) -> list[str]:
    return [p.strip() for p in block.text.split("\n") if p.strip()]


class _Path:
    """Heading path kept by level (编 0, 章 1, 节 2 / markdown depth)."""

    def __init__(self) -> None:
        self.levels: dict[int, str] = {}

    def set(self, level: int, text: str) -> None:
        self.levels = {k: v for k, v in self.levels.items() if k < level}
        self.levels[level] = text

    def get(self) -> list[str]:
        return [self.levels[k] for k in sorted(self.levels)]


def _regulation_sections(blocks: list[Block]) -> list[Section]:
    path = _Path()
    sections: list[Section] = []
    current: Section | None = None
    preamble = Section(PREAMBLE, [], [])
    for block in blocks:
        for para in _paragraphs(block):
            division = DIVISION.match(para)
            if division and len(para) <= 40:
                level = {"编": 0, "章": 1, "节": 2}[division.group(2)]
                path.set(level, para)
                current = None
                continue
            article = ARTICLE.match(para)
            if article:
                current = Section(article.group(1), path.get(), [para])
                sections.append(current)
            elif current is not None:
                current.paragraphs.append(para)
            elif block.kind == "heading":
                path.set(3 if sections else (block.level or 1) + 3, para)
            else:
                preamble.paragraphs.append(para)
    return ([preamble] if preamble.paragraphs else []) + sections


_APPENDIX = re.compile(r"^附\s*(?:件|表)\s*(\d{1,2}|[一二三四五六七八九十]{1,3})(?=[\s:：、.．]|$)")


_NUMBERS_ONLY = re.compile(r"^(?:\d{1,2}(?:\.\d{1,2}){0,2}\s*[.．、]?\s+)+\d{1,2}(?:\.\d{1,2}){0,2}\s*[.．、]?$")


def _split_numbers(paragraphs: list[str]) -> list[str]:
    """A line holding only numbers (``3． 3.1``, ``5.1 5.2``: a page's number column) is one line per number."""
    out: list[str] = []
    for para in paragraphs:
        out.extend(para.split() if _NUMBERS_ONLY.match(para.strip()) else [para])
    return out


def _clause_sections(blocks: list[Block], intro: str = PREAMBLE) -> list[Section]:
    path = _Path()
    sections: list[Section] = []
    current: Section | None = None
    intro_section = Section(intro, [], [])
    appendix: Section | None = None
    for block in blocks:
        for para in _split_numbers(_paragraphs(block)):
            attached = _APPENDIX.match(para)
            if attached and len(para) <= 60 and any(_is_body_section(x.text) for x in sections):
                # 附件1：重大疾病…的范围及定义: everything after it belongs to the appendix, numbered or not
                appendix = Section(f"附件{attached.group(1)}", [para], [para])
                sections.append(appendix)
                continue
            if appendix is not None:
                appendix.paragraphs.append(para)
                continue
            numbered = CLAUSE_SECTION.match(para) or ARTICLE.match(para)
            if numbered:
                current = Section(numbered.group(1), path.get(), [para])
                sections.append(current)
                continue
            is_part = (block.kind == "heading" and len(para) <= 40) or (
                CLAUSE_PART.match(para) and not para.endswith(("。", "；"))
            )
            if is_part:
                path.set(min(block.level or 1, 3) if block.kind == "heading" else 1, para)
                current = None
            elif current is not None:
                current.paragraphs.append(para)
            else:
                (sections[-1] if sections and not path.get() else intro_section).paragraphs.append(para)
                if intro_section.paragraphs and not intro_section.heading_path:
                    intro_section.heading_path = path.get()
    return ([intro_section] if intro_section.paragraphs else []) + sections


# Navigation before a real wording's body: the reading guide (阅读指引, lines led by dots to a
# clause number) and the table of contents (条款目录), each repeating clause numbers and titles.
_TOC_MARK = re.compile(r"^(?:条\s*款\s*)?目\s*录(?:\s|$)")
_TOC_MARK_END = re.compile(r"\s(?:条\s*款\s*)?目\s*录$")  # joined onto the reading guide's last line
_GUIDE_MARK = re.compile(r"阅\s*读\s*指\s*引|[…]{3,}|[．.·]{6,}|仔细阅读本.{0,4}条款")
_PART_NO = re.compile(r"^(\d{1,2})(?:\s*[.．、]\s*|\s+)([\u4e00-\u9fff（(][\u4e00-\u9fff（）()A-Za-z0-9、]{1,29})$")
_LONE_PART_NO = re.compile(r"^\d{1,2}\s*[.．、]$")
_PAGE_DEBRIS = re.compile(r"^\s*(?:第\s*\d+\s*页(?:\s*[/，,]?\s*共\s*\d+\s*页)?|-\s*\d+\s*-|\d+\s*/\s*\d+)\s*$")


def _toc_entry(para: str) -> bool:
    """A line of a table of contents: a numbered title, a part title, or a title's wrapped tail."""
    if para.startswith("附") and len(para) <= 40:  # 附件 1：重大疾病、中症疾病、轻症疾病
        return True
    if re.search(r"[。；，：:]", para):
        return False
    if len(para) <= 8:
        return True
    return len(para) <= 40 and bool(CLAUSE_SECTION.match(para) or _PART_NO.match(para) or para.startswith("附"))


@dataclass
class Navigation:
    """What the reading guide and table of contents say: clause titles and part titles by number."""

    titles: dict[str, str] = field(default_factory=dict)  # "1.2" → "合同成立与生效"
    parts: dict[str, str] = field(default_factory=dict)  # "1" → "您与我们订立的合同"
    paragraphs: int = 0  # how many paragraphs were navigation


def skip_navigation(blocks: list[Block]) -> tuple[list[Block], Navigation]:
    """Split a wording's front matter (reading guide, table of contents) from its body.

    The body starts after the last table-of-contents line, or, without a table of contents,
    after the last reading-guide line; a wording with neither is all body."""
    paras = [Block(p, b.kind, b.level) for b in blocks for p in _paragraphs(b)]
    nav = Navigation()
    limit = max(40, len(paras) // 2)  # front matter is at the front
    toc = next((i for i, b in enumerate(paras[:limit])
                if _TOC_MARK.match(b.text.strip()) or _TOC_MARK_END.search(b.text.strip())), None)
    end = 0
    if toc is not None:
        end = toc + 1
        while end < len(paras) and (
            _toc_entry(paras[end].text)
            # a title wrapped onto a line of its own, with entries after it
            or (len(paras[end].text) <= 24 and not re.search(r"[。；]", paras[end].text)
                and end + 1 < len(paras) and _toc_entry(paras[end + 1].text))
        ):
            end += 1
        if end - toc < 4:  # a word 目录 with no entries under it is not a table of contents
            end = 0
    if not end:
        guide = [i for i, b in enumerate(paras[:limit]) if _GUIDE_MARK.search(b.text)]
        first_body = next((i for i, b in enumerate(paras) if _is_body_section(b.text)), len(paras))
        guide = [i for i in guide if i < first_body]
        end = guide[-1] + 1 if guide else 0
    for block in paras[:end]:
        text = _TOC_MARK.sub("", block.text.strip()).strip()
        numbered = CLAUSE_SECTION.match(text)
        part = _PART_NO.match(text)
        if numbered and numbered.group(2).strip() and not re.search(r"[…．]{2}", text):
            nav.titles.setdefault(numbered.group(1), re.sub(r"\s+", "", numbered.group(2)))
        elif part:
            nav.parts.setdefault(part.group(1), re.sub(r"\s+", "", part.group(2)))
    nav.paragraphs = end
    return paras[end:], nav


def _is_body_section(text: str) -> bool:
    numbered = CLAUSE_SECTION.match(text) or ARTICLE.match(text)
    return bool(numbered) and len(text) > 40 and "。" in text


def _compact(text: str) -> str:
    """Compared as printed: full-width folded, no spaces (（B 款） and (B款) are the same)."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def _heading_only(section: Section) -> bool:
    rest = section.text.strip()[len(section.locator):].strip()
    return len(rest) <= 30 and not re.search(r"[。；]", rest)


def _with_navigation(sections: list[Section], nav: Navigation, title: str) -> list[Section]:
    """One section per locator (a heading-only repeat is dropped, a split one merged), debris of
    the page layout (a lone part number, the repeated title) removed, and each section placed
    under its part and titled as the table of contents titles it."""
    sections = _unstack_definitions(_unstack(sections, nav))
    by_locator: dict[str, Section] = {}
    out: list[Section] = []
    compact_title = _compact(title)
    part_titles = set(nav.parts.values())
    for section in sections:
        section.paragraphs = [
            p for p in section.paragraphs
            if not _LONE_PART_NO.match(p) and not _PAGE_DEBRIS.match(p)
            # the title repeated: at the body's start, or as a running header between pages
            and not (len(p) <= 60 and len(_compact(p)) >= 6 and _compact(p) in compact_title)
        ]
        if section.locator != PREAMBLE:
            section.paragraphs = [p for p in section.paragraphs if re.sub(r"\s+", "", p) not in part_titles]
        seen = by_locator.get(section.locator)
        if seen is None:
            by_locator[section.locator] = section
            out.append(section)
        elif _heading_only(seen) and not _heading_only(section):
            out.remove(seen)
            out.append(section)
            by_locator[section.locator] = section
        elif not _heading_only(section):
            seen.paragraphs.extend(section.paragraphs)
    # a clause number left alone by the page layout, its text printed elsewhere, is no section
    out = [s for s in out if s.locator == PREAMBLE or len(s.text.strip()) - len(s.locator) >= 2]
    for section in out:
        top = section.locator.split(".")[0]
        if "." in section.locator and top in nav.parts:
            path = [f"{top}. {nav.parts[top]}"]
            if section.locator in nav.titles:
                path.append(f"{section.locator} {nav.titles[section.locator]}")
            section.heading_path = path
    return out


def _bare(section: Section) -> bool:
    return all(p.strip() == section.locator or _LONE_PART_NO.match(p) for p in section.paragraphs)


# What a stack of sections becomes: the paragraphs that end the section before it, and each
# member's new paragraphs; None leaves the stack as it is.
_Split = Callable[[list[Section]], tuple[list[str], list[list[str]]] | None]


def _regroup(sections: list[Section], stacked: Callable[[Section], bool], split: _Split) -> list[Section]:
    """Each run of ``stacked`` sections with the section after it (the host, which printed all
    their texts) is handed to ``split``, which deals the host's paragraphs out."""
    out: list[Section] = []
    i = 0
    while i < len(sections):
        j = i
        while j < len(sections) and stacked(sections[j]):
            j += 1
        group = sections[i: j + 1]
        parts = split(group) if j < len(sections) else None
        if parts is not None:
            lead, texts = parts
            if out and lead:
                out[-1].paragraphs.extend(lead)
            for section, text in zip(group, texts, strict=True):
                section.paragraphs = text
        out.extend(group)
        i = j + 1
    return out


def _pieces(body: list[str], starts: list[int]) -> list[list[str]]:
    return [body[start: starts[k + 1] if k + 1 < len(starts) else len(body)] for k, start in enumerate(starts)]


def _unstack(sections: list[Section], nav: Navigation) -> list[Section]:
    """Clause numbers a two-column page printed apart from their text: one number or a stack of
    them (``5.1 5.2 6. 6.1``), then the titles and texts. Each number gets the text that follows
    its title (known from the table of contents), in order; what comes before the first title
    ends the section before the number."""

    def split(group: list[Section]) -> tuple[list[str], list[list[str]]] | None:
        host = group[-1]
        titles = [nav.titles.get(s.locator) for s in group]
        body = host.paragraphs[1:] if host.paragraphs and host.paragraphs[0].strip() == host.locator else []
        starts: list[int] = []
        for t in titles:
            at = next((k for k in range(starts[-1] + 1 if starts else 0, len(body)) if t and _is_title(body[k], t)), None)
            if at is None:
                return None
            starts.append(at)
        texts = []
        for section, title, (line, *text) in zip(group, titles, _pieces(body, starts), strict=True):
            # the title alone (or its first half, wrapped by the column), or the title with its text
            first = f"{section.locator} {title}" if len(_compact(line)) <= len(_compact(title or "")) else f"{section.locator} {line}"
            texts.append([first, *text])
        return body[: starts[0]], texts

    return _regroup(sections, _bare, split)


_DEFINES = re.compile(r"^\s*指")


def _unstack_definitions(sections: list[Section]) -> list[Section]:
    """Definitions printed as a column of numbered terms beside a column of texts: terms with no
    text (7.3 私家车), then the next term with every text (指符合以下规定的车辆… 指遭受外来的…).
    When the texts that start with 指 are exactly one per term, each term gets its own, in order."""

    def stacked(section: Section) -> bool:
        return section.locator != PREAMBLE and _heading_only(section) and not _bare(section)

    def split(group: list[Section]) -> tuple[list[str], list[list[str]]] | None:
        host = group[-1]
        head = 1 if len(host.paragraphs) > 1 and _heading_only(Section(host.locator, [], host.paragraphs[:1])) else 0
        if head and host.paragraphs[0].strip() == host.locator and len(host.paragraphs) > 2 and not _DEFINES.match(host.paragraphs[1]):
            head = 2  # "7.4" then "意外伤害" on lines of their own
        body = host.paragraphs[head:]
        starts = [k for k, p in enumerate(body) if _DEFINES.match(p)]
        if len(group) < 2 or len(starts) != len(group) or not head:
            return None
        headings = [s.paragraphs for s in group[:-1]] + [host.paragraphs[:head]]
        return body[: starts[0]], [[*h, *text] for h, text in zip(headings, _pieces(body, starts), strict=True)]

    return _regroup(sections, stacked, split)


def _is_title(para: str, title: str) -> bool:
    """``para`` prints ``title``: as a line of its own, its first part wrapped by a narrow column
    (明确说明与如 … 实告知), or followed by the clause's text (保险费的支付 本合同…)."""
    line, want = _compact(para), _compact(title)
    if line == want or (len(line) >= 4 and want.startswith(line)):
        return True
    return len(want) >= 2 and para.strip().startswith(title) and para.strip()[len(title): len(title) + 1].isspace()


def _case_sections(blocks: list[Block]) -> list[Section]:
    sections: list[Section] = []
    current: Section | None = None
    intro = Section("案例概要", [], [])
    for block in blocks:
        for para in _paragraphs(block):
            heading = _CASE_HEADING.match(para)
            if heading and (len(para) <= 40 or para.startswith("【") or block.kind == "heading"):
                current = Section(heading.group(1), [], [])
                sections.append(current)
                rest = heading.group(2).strip()
                if rest:
                    current.paragraphs.append(rest)
            elif block.kind == "heading" and len(para) <= 40:
                current = Section(para, [], [])
                sections.append(current)
            elif current is not None:
                current.paragraphs.append(para)
            else:
                intro.paragraphs.append(para)
    return ([intro] if intro.paragraphs else []) + sections


def _heading_sections(blocks: list[Block]) -> list[Section]:
    """Fallback for documents without recognised numbering: one section per heading (or 全文)."""
    sections: list[Section] = []
    current = Section("全文", [], [])
    for block in blocks:
        if block.kind == "heading" and len(block.text) <= 40:
            current = Section(block.text, [], [])
            sections.append(current)
        else:
            if not sections:
                sections.append(current)
            current.paragraphs.extend(_paragraphs(block))
    return [s for s in sections if s.paragraphs]
