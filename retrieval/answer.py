"""Extractive answers: the few sentences of the top evidence that answer the question, each cited.

Sentences are quoted verbatim (numbers and units untouched) and followed by their ``[n]``.
A sentence that introduces a list (…下列行为：) brings the list's first items with it.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from domain.mask import mask_pii
from index.analyzer import Analyzer
from retrieval.types import Citation, Evidence, Flag

NO_ANSWER_MARK = "未找到依据"
NO_ANSWER = f"{NO_ANSWER_MARK}：现有法规、条款和案例中没有能回答这个问题的内容。"
_SENTENCE_SPLIT = re.compile(r"(?<=[。；！？!?])|\n")
_LEADING_NUMBER = re.compile(
    r"^\s*(?:第[零〇一二三四五六七八九十百千\d]+条(?:之[一二三四五六七八九十]+)?|\d{1,2}(?:\.\d{1,2}){1,3})[\s:：]*"
)
_QUANTITY = re.compile(r"(多久|多长|多少|几|比例|期限|年龄|金额|天|日|岁)")
_HAS_NUMBER = re.compile(r"[\d零一二三四五六七八九十百千万]+\s*(?:日|天|年|个月|月|周岁|岁|%|％|元|万元|倍|次|种)")
# a list's introduction, alone or with its first item on the same line (…以下规定的车辆： (1)…；)
_LIST_INTRO = re.compile(r"(?:下列|以下|如下)[^。；]*[:：](?:\s*[（(][一1][）)][^。]*)?$")
_LIST_ITEM = re.compile(r"^\s*[（(][一二三四五六七八九十\d]+[）)]")
_OUTCOME_SECTIONS = ("判决结果", "处理结果", "调解意见", "裁判结果")
_STATUS_WORD = {"on_sale": "在售", "discontinued": "已停售", "suspended": "暂停销售"}
MAX_LIST_ITEMS = 4
_HEADING = re.compile(r"[\d.]*\s*[\u4e00-\u9fffA-Za-z（）()、—]{1,14}")


def warning_lines(flags: list[Flag]) -> list[str]:
    """The red lines every answer starts with: one per product off sale (from the graph, never a model)."""
    return [f"⚠ 注意：{f.message}" for f in flags]


def numbered(evidence: list[Evidence]) -> list[Citation]:
    """Citations [1]…[n] in rank order."""
    return [Citation(n=i + 1, evidence=ev) for i, ev in enumerate(evidence)]


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_SPLIT.split(text) if len(s.strip()) >= 2]


def _source_label(ev: Evidence) -> str:
    title = str(ev.payload.get("title") or "")
    locator = ev.locator
    if ev.doc_type == "case":
        return f"案例《{title}》" + (f"（{locator}）" if locator else "")
    return f"《{title}》{locator}"


def _score_sentence(sentence: str, terms: set[str], wants_quantity: bool, unit: re.Pattern[str] | None) -> float:
    score = float(sum(min(len(t), 4) for t in terms if t in sentence))
    if unit is not None and unit.search(sentence):
        score += 4
    elif wants_quantity and _HAS_NUMBER.search(sentence):
        score += 2
    if _LIST_ITEM.match(sentence):
        score -= 1  # an item alone reads badly; its introduction brings it along
    return score


def _excepts(sentence: str, term: str) -> bool:
    """The sentence names ``term`` only to leave it out: 意外伤害以外的原因."""
    return term in sentence and _except_pattern(term).search(sentence) is not None


@functools.lru_cache(maxsize=4096)
def _except_pattern(term: str) -> re.Pattern[str]:
    # one pattern per term, compiled once: built per call, they crowded re's own cache of 512 (7 % of
    # the GIL's time under load went to compiling regular expressions)
    return re.compile(re.escape(term) + r"[^，。；]{0,6}以外")


def _quote(sentences: list[str], chosen: list[int]) -> str:
    """The chosen sentences in reading order; a list introduction brings its first items."""
    picked: list[int] = []
    for i in sorted(chosen):
        if i in picked:
            continue
        picked.append(i)
        if _LIST_INTRO.search(sentences[i]):
            j = i + 1
            while j < len(sentences) and _LIST_ITEM.match(sentences[j]) and j - i <= MAX_LIST_ITEMS:
                picked.append(j)
                j += 1
    text = ""
    for k, i in enumerate(picked):
        s = _LEADING_NUMBER.sub("", sentences[i]) if k == 0 else sentences[i]
        text += ("……" if k and i != picked[k - 1] + 1 else "") + s
    return text


def status_lines(rows: list[dict[str, Any]]) -> list[str]:
    """A product's sales status from the catalog, one line per product (flags add the warning)."""
    lines = []
    for row in rows:
        word = _STATUS_WORD.get(str(row.get("status")), str(row.get("status")))
        line = f"{row['name']}（{row['product_id']}）当前销售状态：{word}"
        if row.get("status") == "on_sale" and row.get("effective_date"):
            line += f"（{row['effective_date']}起销售）"
        elif row.get("discontinued_date"):
            line += f"（{row['discontinued_date']}起）"
        if row.get("successor_id"):
            line += f"，替代产品：{row['successor_name']}（{row['successor_id']}）"
        lines.append(line + "。")
    return lines


def _case_outcome(citations: list[Citation]) -> str | None:
    """When the answer rests on a case, how the case ended (its outcome section, if retrieved)."""
    top = citations[0].evidence
    if top.doc_type != "case" or top.locator in _OUTCOME_SECTIONS:
        return None
    for citation in citations[1:]:
        ev = citation.evidence
        if ev.doc_id == top.doc_id and ev.locator in _OUTCOME_SECTIONS:
            sentences = _sentences(ev.plain)
            if sentences:
                return f"{ev.locator}：{sentences[0]}[{citation.n}]"
    return None


def compose(
    question: str,
    evidence: list[Evidence],
    flags: list[Flag],
    analyzer: Analyzer,
    *,
    lead: list[str] | None = None,
    reason: str | None = None,
    unit: re.Pattern[str] | None = None,
    words: set[str] | None = None,
) -> tuple[str, list[Citation]]:
    """Return the answer text and its citations (all evidence, numbered in rank order).

    ``lead``: lines that go first (a product's status from the catalog); ``reason``: why there
    is no answer (the answer then cites nothing).
    """
    citations = numbered(evidence)
    warnings = warning_lines(flags)
    if not evidence:
        no_answer = NO_ANSWER if not reason else f"{NO_ANSWER_MARK}：{reason}。现有法规、条款和案例中没有能回答这个问题的内容。"
        return mask_pii("\n".join([*warnings, *(lead or []), no_answer])), []
    if lead:
        ev = citations[0].evidence
        return mask_pii("\n".join([*warnings, *lead, f"产品条款见{_source_label(ev)}[1]。"])), citations
    terms = set(analyzer.terms(question)) | (words or set())
    terms |= {t.replace("两", "二") for t in terms if "两" in t}  # 两年 asked, 二年 printed (statutes' numerals)
    wants_quantity = bool(_QUANTITY.search(question))
    lines: list[str] = []
    best_overall = 0.0
    for citation in citations[:3]:
        ev = citation.evidence
        sentences = _sentences(ev.plain)
        scored = sorted(
            ((_score_sentence(s, terms, wants_quantity, unit), i) for i, s in enumerate(sentences)),
            key=lambda item: (-item[0], item[1]),
        )
        if not scored:
            continue
        top_score = scored[0][0]
        if citation.n == 1:
            best_overall = top_score
            # The best sentence and, when it adds to it, the next best one.
            chosen = [scored[0][1]] + [i for s, i in scored[1:2] if s > 0 and s >= 0.6 * top_score]
            # 因为意外…赔不赔 where the best sentence says 意外伤害以外的原因: the sentence on 意外 itself
            excepted = [t for t in terms if _excepts(sentences[scored[0][1]], t)]
            chosen += [i for s, i in scored[1:] if s > 0 and i not in chosen and any(
                t in sentences[i] and not _excepts(sentences[i], t) for t in excepted)][:1]
            if unit is not None and not any(unit.search(sentences[i]) for i in chosen):
                # A quantity was asked: bring the best sentence that states one in the asked unit.
                chosen += [i for _, i in scored if unit.search(sentences[i])][:1]
            elif unit is None and wants_quantity and not any(_HAS_NUMBER.search(sentences[i]) for i in chosen):
                # 多少/几 with no unit named: the best sentence that states a number at all
                chosen += [i for s, i in scored if s > 0 and _HAS_NUMBER.search(sentences[i])][:1]
        elif top_score > 0 and top_score >= 0.7 * best_overall:
            chosen = [scored[0][1]]
        else:
            continue
        # a heading alone (私家车, 7.3's title) says nothing: its first sentence comes along
        chosen += [i + 1 for i in chosen if _HEADING.fullmatch(sentences[i]) and i + 1 < len(sentences)]
        lines.append(f"根据{_source_label(ev)}：{_quote(sentences, chosen)}[{citation.n}]")
    outcome = _case_outcome(citations)
    if outcome is not None:
        lines.append(outcome)
    if not lines:
        ev = citations[0].evidence
        sentences = _sentences(ev.plain) or [ev.plain]
        lines.append(f"根据{_source_label(ev)}：{_quote(sentences, [0])}[1]")
    return mask_pii("\n".join([*warnings, *lines])), citations
