"""Extractive answers: the few sentences of the top evidence that answer the question, each cited.

Sentences are quoted verbatim (numbers and units untouched) and followed by their ``[n]``.
"""

from __future__ import annotations

import re

from ingest.mask import mask_pii
from retrieval.text import Analyzer
from retrieval.types import Citation, Evidence, Flag

NO_ANSWER_MARK = "未找到依据"
NO_ANSWER = f"{NO_ANSWER_MARK}：现有法规、条款和案例中没有能回答这个问题的内容。"
_SENTENCE_SPLIT = re.compile(r"(?<=[。；！？!?])|\n")
_LEADING_NUMBER = re.compile(
    r"^\s*(?:第[零〇一二三四五六七八九十百千\d]+条(?:之[一二三四五六七八九十]+)?|\d{1,2}(?:\.\d{1,2}){1,3})[\s:：]*"
)
_QUANTITY = re.compile(r"(多久|多长|多少|几|比例|期限|年龄|金额|天|日|岁)")
_HAS_NUMBER = re.compile(r"[\d零一二三四五六七八九十百千万]+\s*(?:日|天|年|个月|月|周岁|岁|%|％|元|万元|倍|次|种)")


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_SPLIT.split(text) if len(s.strip()) >= 4]


def _source_label(ev: Evidence) -> str:
    title = str(ev.payload.get("title") or "")
    locator = ev.locator
    if ev.doc_type == "case":
        return f"案例《{title}》" + (f"（{locator}）" if locator else "")
    return f"《{title}》{locator}"


def _score_sentence(sentence: str, terms: set[str], wants_quantity: bool) -> float:
    score = sum(min(len(t), 4) for t in terms if t in sentence)
    if wants_quantity and _HAS_NUMBER.search(sentence):
        score += 3
    return score


def compose(question: str, evidence: list[Evidence], flags: list[Flag], analyzer: Analyzer) -> tuple[str, list[Citation]]:
    """Return the answer text and its citations (all evidence, numbered in rank order)."""
    citations = [Citation(n=i + 1, evidence=ev) for i, ev in enumerate(evidence)]
    warnings = [f"⚠ 注意：{f.message}" for f in flags]
    if not evidence:
        return "\n".join([*warnings, NO_ANSWER]), []
    terms = set(analyzer.terms(question))
    wants_quantity = bool(_QUANTITY.search(question))
    lines: list[str] = []
    best_overall = 0.0
    for citation in citations[:3]:
        ev = citation.evidence
        scored = sorted(
            ((_score_sentence(s, terms, wants_quantity), i, s) for i, s in enumerate(_sentences(ev.text))),
            key=lambda item: (-item[0], item[1]),
        )
        if not scored:
            continue
        top_score = scored[0][0]
        if citation.n == 1:
            best_overall = top_score
            # The best sentence and, when it adds to it, the next best one, in reading order.
            chosen = [scored[0]] + [s for s in scored[1:2] if s[0] > 0 and s[0] >= 0.6 * top_score]
        elif top_score > 0 and top_score >= 0.7 * best_overall:
            chosen = [scored[0]]
        else:
            continue
        quote = "".join(_LEADING_NUMBER.sub("", s) if k == 0 else s for k, (_, _, s) in enumerate(sorted(chosen, key=lambda c: c[1])))
        lines.append(f"根据{_source_label(ev)}：{quote}[{citation.n}]")
    if not lines:
        ev = citations[0].evidence
        lines.append(f"根据{_source_label(ev)}：{_LEADING_NUMBER.sub('', _sentences(ev.text)[0] if _sentences(ev.text) else ev.text)}[1]")
    return mask_pii("\n".join([*warnings, *lines])), citations
