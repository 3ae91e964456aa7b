"""Sentences and clauses of a sales text, with their offsets (the spans findings point at)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

_SENTENCE_END = re.compile(r"[。！？!?；;\n]+|……|\.{3,}")
_CLAUSE_END = re.compile(r"[，,、：:~～]+|\s{2,}")
# Negation right before a phrase (不保本, 并非零风险, 没有停售计划): the phrase is denied, not claimed.
_NEGATION = re.compile(r"(?:不(?![如然过管少止仅但论光单])|非|无|没|未|别|勿|禁止|并不|绝不|不会|不能|不是|不得|不可|谈不上|算不上|不代表|不等于|"
                       r"不意味着|并非|而非|谨防|警惕|小心|不存在|没有所谓的?|袂使?|冇|唔(?!该)|"
                       r"(?:别|不要|不能|不许|不准)让(?:别?人)?)[\u4e00-\u9fff]{0,1}$")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str


def _pieces(text: str, start: int, end: int, boundary: re.Pattern[str]) -> list[Span]:
    out: list[Span] = []
    pos = start
    for m in boundary.finditer(text, start, end):
        _add(out, text, pos, m.start())
        pos = m.end()
    _add(out, text, pos, end)
    return out


def _add(out: list[Span], text: str, start: int, end: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start and re.search(r"\w", text[start:end]):
        out.append(Span(start, end, text[start:end]))


def sentences(text: str) -> list[Span]:
    return _pieces(text, 0, len(text), _SENTENCE_END)


def clauses(text: str, sentence: Span) -> list[Span]:
    return _pieces(text, sentence.start, sentence.end, _CLAUSE_END)


def clause_at(text: str, sentence: Span, start: int, end: int) -> Span:
    """The clause (comma-bounded) around ``start..end``, widened to cover the whole match."""
    parts = clauses(text, sentence)
    inside = [c for c in parts if c.start < end and start < c.end] or [sentence]
    lo, hi = min(c.start for c in inside), max(c.end for c in inside)
    return Span(lo, hi, text[lo:hi])


def negated(text: str, start: int) -> bool:
    """Whether the words right before ``start`` deny what follows (不 / 并非 / 没有 …)."""
    before = re.sub(r"[“”\"'‘’「」『』]", "", text[max(0, start - 8) : start])  # 没有“稳赚”一说
    return bool(_NEGATION.search(before[-6:]))


def windows(text: str, sentence: Span, size: int = 2) -> list[Span]:
    """The units compared with a rule's examples: the sentence, each clause and each run of
    ``size`` neighbouring clauses (a paraphrase can sit in one clause of a long sentence)."""
    parts = clauses(text, sentence)
    out = [sentence]
    if len(parts) > 1:
        out += [p for p in parts if len(p.text) >= 4]
        for i in range(len(parts) - size + 1):
            lo, hi = parts[i].start, parts[i + size - 1].end
            if (lo, hi) != (sentence.start, sentence.end):
                out.append(Span(lo, hi, text[lo:hi]))
    return list({(s.start, s.end): s for s in out}.values())


@cache
def _t2s() -> dict[int, str]:
    table = resources.files("retrieval").joinpath("data/t2s.txt").read_text(encoding="utf-8")
    return {ord(line[0]): line[1] for line in table.splitlines() if len(line) == 2 and not line.startswith("#")}


def simplified(text: str) -> str:
    """Traditional characters read as simplified (轉過嚟 → 转过嚟), character for character: the
    offsets of the result are the offsets of ``text``."""
    return text.translate(_t2s())
