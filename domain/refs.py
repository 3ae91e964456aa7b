"""Citations of regulation articles inside documents, and the keys that tie them to articles.

A law is identified by a normalised key so that 《中华人民共和国保险法》, 保险法 and 《保险法》 all
meet the same Article nodes, and 《最高人民法院关于适用〈中华人民共和国保险法〉若干问题的解释（二）》,
保险法司法解释（二） and 保险法解释二 meet theirs. Articles are keyed ``law_key#第十六条`` whether
the regulation or a citing document is ingested first.
"""

from __future__ import annotations

import re

from domain.numerals import cn_to_int, int_to_cn
from domain.types import Reference

_CN_NUM = "零〇一二三四五六七八九十百千"
ARTICLE_NO = rf"第([{_CN_NUM}\d]+)条(?:之([一二三四五六七八九十]+))?"
PREAMBLE = "题注"  # a regulation's text before its first article (promulgation line, preface)
_ARTICLE_LOCATOR = re.compile(rf"^(第[{_CN_NUM}\d]+条|\d{{1,2}}(\.\d{{1,2}}){{1,3}}$)")
_INTERPRETATION = re.compile(
    rf"关于适用[《〈<]?(.+?)[》〉>]?若干问题的解释\s*[（(]([{_CN_NUM}]+)[）)]"
)
_SHORT_INTERPRETATION = re.compile(rf"^(.+?)(?:司法)?解释\s*[（(]?([{_CN_NUM}]+)[）)]?$")
# 《…》第X条, possibly followed by 、第Y条 / 和第Z条 lists.
_QUOTED = re.compile(rf"《([^《》]{{2,80}}?)》\s*((?:{ARTICLE_NO}(?:第[{_CN_NUM}\d]+款)?[、，,和及与]?\s*)+)")
# A run of article numbers: 第十六条、第二十三条第二款 …
_ARTICLE_RUN = re.compile(rf"(?:{ARTICLE_NO}(?:第[{_CN_NUM}\d]+款)?(?:[、，,和及与]\s*(?=第))?)+")
_NAME_TAIL = re.compile(r"[\u4e00-\u9fff（）()]+$")
_LAW_END = re.compile(rf"(?:法|法典|条例|规定|办法|(?:司法)?解释\s*(?:[（(][{_CN_NUM}]+[）)]|[{_CN_NUM}]{{1,2}}))$")
# Words that end the text before a law's name in running prose (…被告违反保险法第十六条).
_BOUNDARY = re.compile(
    r".*(?:依据|根据|按照|依照|违反|适用|参照|援引|认为|符合|属于|不符|履行|尽到|同时|即|的|了|在|向|对|由|按|经|将|是|亦|被告|原告|法院|公司|规定|以及|和|与|及|或)"
)
_ARTICLE_IN_LIST = re.compile(ARTICLE_NO)


def normalize_article(number: str, sub: str | None = None) -> str:
    """'16' → '第十六条'; '一百零五' stays; 之一 suffix kept."""
    value = cn_to_int(number)
    printed = int_to_cn(value) if value is not None else number
    return f"第{printed}条" + (f"之{sub}" if sub else "")


def _short_name(name: str) -> str:
    name = re.sub(r"[《》〈〉<>\s]", "", name)
    return name.removeprefix("中华人民共和国")


def law_key(name: str) -> str:
    """Normalised key of a law's name or title (see module doc)."""
    clean = re.sub(r"\s", "", name)
    m = _INTERPRETATION.search(clean)
    if m:
        num = m.group(2)
        return f"{_short_name(m.group(1))}解释（{int_to_cn(cn_to_int(num) or 0) if num.isdigit() else num}）"
    short = _short_name(clean)
    m = _SHORT_INTERPRETATION.match(short)
    if m and m.group(1).endswith(("法", "条例")):
        return f"{m.group(1)}解释（{m.group(2)}）"
    return short


def law_aliases(title: str) -> list[str]:
    """Names brokers use for a regulation, for linking questions such as '保险法第十六条说什么'."""
    key = law_key(title)
    aliases = {title, key}
    m = re.match(r"^(.+?)解释（(.+)）$", key)
    if m:
        aliases |= {f"{m.group(1)}司法解释（{m.group(2)}）", f"{m.group(1)}解释{m.group(2)}", f"{m.group(1)}司法解释{m.group(2)}"}
    return sorted(a for a in aliases if a)


_CROSS_REF = re.compile(r"[（(]\s*(?:详\s*)?见\s*(\d{1,2}(?:\s*\.\s*\d{1,2}){1,2})\s*[）)]")


def find_cross_references(text: str) -> list[str]:
    """Clause numbers a wording's clause points to (（见 9.3）, (详见7.3)): mostly the definitions it uses."""
    return list(dict.fromkeys(re.sub(r"\s+", "", m.group(1)) for m in _CROSS_REF.finditer(text)))


def find_references(text: str, from_locator: str, self_key: str | None = None) -> list[Reference]:
    """All article citations in ``text``; 本法第X条 resolves to ``self_key`` when given."""
    refs: list[Reference] = []
    quoted_spans: list[tuple[int, int]] = []

    def add(law: str, articles: str) -> None:
        for m in _ARTICLE_IN_LIST.finditer(articles):
            refs.append(Reference(law, normalize_article(m.group(1), m.group(2)), from_locator))

    for m in _QUOTED.finditer(text):
        quoted_spans.append(m.span())
        add(law_key(m.group(1)), m.group(2))
    for m in _ARTICLE_RUN.finditer(text):
        if any(s <= m.start() < e for s, e in quoted_spans):
            continue
        tail = _NAME_TAIL.search(text[max(0, m.start() - 40) : m.start()])
        if not tail:
            continue
        name = tail.group(0)
        if re.fullmatch(r"本(?:法|条例|规定|解释|办法)", name[-3:]) or re.search(r"本(?:法|条例|规定|解释|办法)$", name):
            if self_key:
                add(self_key, m.group(0))
            continue
        name = _BOUNDARY.sub("", name)
        if len(name) >= 3 and _LAW_END.search(name):
            add(law_key(name), m.group(0))
    unique: dict[tuple[str, str, str], Reference] = {}
    for ref in refs:
        unique.setdefault((ref.law_key, ref.article, ref.from_locator), ref)
    return list(unique.values())


def article_key(law_key: str, article: str) -> str:
    """The graph key of an article: 中华人民共和国保险法#第十六条."""
    return f"{law_key}#{article}"


def clause_key(doc_id: str, locator: str) -> str:
    """The graph key of a clause: the wording's doc_id and the clause number."""
    return f"{doc_id}#{locator}"


def is_article_locator(locator: str) -> bool:
    """A citable unit of a regulation: 第X条, or a numbered section (2.1, 3.1.1) of a standard."""
    return bool(_ARTICLE_LOCATOR.match(locator))
