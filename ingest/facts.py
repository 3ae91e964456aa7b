"""Product facts: typed values read from a policy wording's clauses, each with its source.

Rule-based and dictionary-driven (no model): every fact type has patterns written against
how Chinese policy wordings state it ("本合同接受的投保年龄为出生满28日至55周岁",
"自本合同生效日起90日内…为等待期", "按基本保险金额的30%给付轻症疾病保险金"). A fact keeps
its unit, the sentence it came from and the clause (locator, chunk) that says it, so that
every value shown to a broker or used for matching can be cited.

The fact types themselves (keys, labels, units, matching criteria) are the table in
``domain/facts.py``; this module only reads wordings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from domain.facts import FACT_TYPES, Fact
from domain.numerals import cn_to_int
from domain.text import join_spread

_NUM = r"(\d+(?:\.\d+)?|[零〇一二两三四五六七八九十百千]+)"


def _number(text: str) -> float:
    text = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        value = float(text)
    else:
        parsed = cn_to_int(text)
        if parsed is None:
            raise ValueError(text)
        value = float(parsed)
    return value


def _int(text: str) -> int:
    return int(_number(text))


def _amount(number: str, unit: str) -> float | int:
    scale = {"元": 1, "万元": 10_000, "万": 10_000, "亿元": 100_000_000}[unit]
    value = _number(number) * scale
    return int(value) if value == int(value) else value


def _yuan(value: float) -> str:
    if value >= 10_000 and value % 10_000 == 0:
        return f"{int(value // 10_000)}万元"
    return f"{int(value) if value == int(value) else value}元"


def _sentence(text: str, start: int, end: int) -> str:
    """The sentence around a match (。；; bounded), for the fact's raw text."""
    left = max(text.rfind(p, 0, start) for p in "。；;：:\n") + 1
    heading = re.match(r"\s*\d+(?:\.\d+)+\s+\S+\s+", text[left:start])  # "1.3 投保年龄 " before the sentence
    if heading:
        left += heading.end()
    rights = [i for i in (text.find(p, end) for p in "。；;\n") if i != -1]
    right = min(rights) + 1 if rights else len(text)
    return text[left:right].strip()


_CJK = "\u4e00-\u9fff"


def _normalise(text: str) -> str:
    """The clause as read for values (see ``domain.text.join_spread``); a fact's ``raw`` sentence is cut from it."""
    return re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", join_spread(text))  # 10,000元 → 10000元


# A rule yields (fact type, canonical value, display, extra Fact fields, the match) for one section's text.
Found = Iterable[tuple[str, Any, str, dict[str, Any], re.Match[str]]]
Rule = Callable[[str], Found]
RULES: list[Rule] = []


def rule(fn: Rule) -> Rule:
    RULES.append(fn)
    return fn


def _n(name: str) -> str:
    return rf"(?P<{name}>\d+|[零〇一二两三四五六七八九十百千]+)"


# An entry-age range however it is phrased: 投保年龄为出生满28日至55周岁 / 投保年龄范围为0周岁（须出生满28日）
# 至70周岁 / 凡出生满28日至60周岁者 / 年满18周岁至70周岁 / 年龄在18周岁至50周岁之间.
_AGE_RANGE = re.compile(
    rf"(?:投保年龄|年龄|凡|年满)[^。；]{{0,16}}?"
    rf"(?:出生满?{_n('d1')}(?:日|天)|{_n('y1')}周岁(?:（须?出生满?{_n('d2')}(?:日|天)）)?)"
    rf"(?:（含）)?(?:至|到|－|—|-|~){_n('y2')}周岁"
)


@rule
def _age(text: str) -> Found:
    m = _AGE_RANGE.search(text)
    if m:
        days = m.group("d1") or m.group("d2")
        if days:
            yield "age_min", _int(days), f"出生满{_int(days)}日", {}, m
        else:
            years = _int(m.group("y1"))
            yield "age_min", years * 365, f"{years}周岁", {"qualifier": "周岁"}, m
        top = _int(m.group("y2"))
        yield "age_max", top, f"{top}周岁", {}, m


# Facts stated as one number: (fact, pattern — its first matched group is the number, display).
NUMBER_RULES: tuple[tuple[str, str, str], ...] = (
    ("waiting_period", rf"(?:生效|复效)[^。；]{{0,24}}?起[^。；\d]{{0,6}}{_NUM}(?:日|天)(?:内|以内)?(?:（含第?{_NUM}(?:日|天)）)?[^。；\d]{{0,12}}?为等待期"
                       rf"|起[^。；\d]{{0,6}}{_NUM}(?:日|天)（[^）]{{0,20}}(?:等待期|观察期)|(?:等待期|观察期)为{_NUM}(?:日|天)"
                       rf"|(?:等待期|观察期)为[^。；\d]{{0,16}}?起{_NUM}(?:日|天)"
                       rf"|{_NUM}(?:日|天)[^。；\d]{{0,8}}?(?:称为|即为|即|为)(?:等待期|观察期)", "{n}日"),
    ("cooling_off", rf"有{_NUM}(?:日|天)的(?:犹豫期|冷静期)|(?:犹豫期|冷静期)为{_NUM}(?:日|天)|{_NUM}(?:日|天)（即(?:犹豫期|冷静期)）"
                    rf"|{_NUM}(?:日|天)(?:内|以内)?为(?:犹豫期|冷静期)", "{n}日"),
    ("grace_period", rf"{_NUM}(?:日|天)为宽限期|宽限期为{_NUM}(?:日|天)", "{n}日"),
    ("mild_payout", r"按[^。；，]{0,10}?基本保险金额的(\d+)%给付轻症疾病保险金", "基本保险金额的{n}%"),
    ("mild_times", rf"轻症疾病保险金累计给付以{_NUM}次为限", "{n}次"),
    ("mild_kinds", rf"约定的轻症疾病共{_NUM}种|所附{_NUM}种轻症疾病", "{n}种"),
    ("moderate_payout", r"按[^。；，]{0,10}?基本保险金额的(\d+)%给付中症疾病保险金", "基本保险金额的{n}%"),
    ("moderate_times", rf"中症疾病保险金累计给付以{_NUM}次为限", "{n}次"),
    ("moderate_kinds", rf"约定的中症疾病共{_NUM}种|所附{_NUM}种中症疾病", "{n}种"),
    ("ci_kinds", rf"约定的重大疾病共{_NUM}种|所附{_NUM}种重大疾病", "{n}种"),
    ("annuity_ratio", r"每年按[^。；，]{0,10}?保险金额的(\d+)%给付(?:一次)?(?:年金|养老保险金|养老金)", "每年保险金额的{n}%"),
    ("policy_loan", r"贷款金额不得超过[^。；]*?的(\d+)%", "现金价值净额的{n}%"),
)


@rule
def _numbers(text: str) -> Found:
    for key, pattern, display in NUMBER_RULES:
        m = re.search(pattern, text)
        if m:
            n = _int(next(g for g in m.groups() if g))
            yield key, n, display.format(n=n), {}, m


@rule
def _term(text: str) -> Found:
    m = re.search(rf"保险期间[^。；]{{0,30}}?最长不超过{_NUM}年", text)
    if m:
        n = _int(m.group(1))
        yield "term", f"最长不超过{n}年", f"最长不超过{n}年", {}, m
        return
    m = re.search(r"保险期间(?:为|是|有|分为|自[^，。；]{0,20}?生效日的?零时起[，,]?至|(?=\d))([^，。；]+)", text)
    if not m:
        return
    phrase = m.group(1)
    if phrase.startswith("被保险人终身"):
        yield "term", "终身", "终身", {}, m
        return
    years = list(dict.fromkeys(int(y) for y in re.findall(r"(\d+)年", phrase)))
    ages = list(dict.fromkeys(int(a) for a in re.findall(r"(\d+)周岁", phrase)))
    if len(years) + len(ages) > 1:
        options = tuple([f"{y}年" for y in years] + [f"至{a}周岁" for a in ages])
        yield "term", "/".join(options), "、".join(options) + "（投保时选择）", {"options": options}, m
    elif years:
        yield "term", f"{years[0]}年", f"{years[0]}年", {}, m
    elif ages:
        yield "term", f"至{ages[0]}周岁", f"至被保险人{ages[0]}周岁", {}, m


@rule
def _medical(text: str) -> Found:
    m = re.search(rf"年度保险金额为{_NUM}(万元|元)", text)
    if m:
        value = _amount(m.group(1), m.group(2))
        yield "annual_limit", value, _yuan(value), {}, m
    m = re.search(rf"(年|每次事故)免赔额为{_NUM}(万元|元)", text) or re.search(rf"免赔额为(每年|每次事故)?{_NUM}(万元|元)", text)
    if m:
        value = _amount(m.group(2), m.group(3))
        qualifier = "每次事故" if m.group(1) == "每次事故" else "每年"
        yield "deductible", value, f"{qualifier}{_yuan(value)}", {"qualifier": qualifier}, m
    found = list(re.finditer(r"赔付比例为(\d+)%", text))
    if found:
        m = found[0]
        ratios = [int(f.group(1)) for f in found]
        low, high = min(ratios), max(ratios)
        display = f"{high}%" if low == high else f"{low}%–{high}%（视是否以社保身份投保和结算）"
        yield "payout_ratio", high if low == high else f"{low}-{high}", display, {"min": low, "max": high}, m
    m = re.search(r"扣除[^，。；]*免赔额后，按(\d+)%的比例给付意外医疗保险金", text)
    if m:
        value = int(m.group(1))
        yield "payout_ratio", value, f"{value}%（意外医疗）", {"min": value, "max": value, "qualifier": "意外医疗"}, m
    m = re.search(r"合同为不保证续保合同|不保证续保(?!费率|保费|的费率)", text)
    if m:
        yield "guaranteed_renewal", False, "不保证续保", {}, m
    m = re.search(rf"保证续保期间为{_NUM}年", text)
    if m:
        years = _int(m.group(1))
        yield "guaranteed_renewal", True, f"保证续保{years}年", {}, m
        yield "renewal_years", years, f"{years}年", {}, m


@rule
def _annuity(text: str) -> Found:
    m = re.search(rf"自被保险人年满{_NUM}周岁后的首个保单周年日起(?:（年金领取起始年龄也可选择{_NUM}周岁)?", text)
    if m and "年金" in text[m.start(): m.end() + 80]:
        start = _int(m.group(1))
        options = (start, _int(m.group(2))) if m.group(2) else ()
        display = f"{start}周岁" + (f"（可选{options[1]}周岁）" if options else "")
        yield "annuity_start_age", start, display, {"options": options}, m


@rule
def _no_loan(text: str) -> Found:
    m = re.search(r"不提供保单贷款", text)
    if m:
        yield "policy_loan", 0, "不提供保单贷款", {}, m


def extract_facts(sections: Iterable[Any], chunk_of: dict[str, str] | None = None) -> list[Fact]:
    """Facts of one policy wording. ``sections``: objects with ``locator`` and ``text``;
    ``chunk_of``: locator → the chunk id to cite. The first statement of a fact wins."""
    found: dict[str, Fact] = {}
    for section in sections:
        text = _normalise(section.text)
        for extract in RULES:
            for key, value, display, extra, match in extract(text):
                if key in found:
                    continue
                found[key] = Fact(
                    type=key, value=value, display=display, raw=_sentence(text, match.start(), match.end()),
                    locator=section.locator, chunk_id=(chunk_of or {}).get(section.locator), **extra,
                )
    return [found[t.key] for t in FACT_TYPES if t.key in found]
