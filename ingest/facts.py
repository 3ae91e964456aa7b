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

from domain import quantities as q
from domain.facts import FACT_TYPES, Fact
from domain.text import join_spread

_NUM = rf"({q.NUM})"  # the number a template captures


def _amount(number: str, unit: str) -> float | int:
    scale = {"元": 1, "万元": 10_000, "万": 10_000, "亿元": 100_000_000}[unit]
    return q.exact(q.number(number) * scale)


def _yuan(value: float) -> str:
    if value >= 10_000 and value % 10_000 == 0:
        return f"{int(value // 10_000)}万元"
    return f"{q.exact(value)}元"


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


def normalise(text: str) -> str:
    """The clause as read for values (see ``domain.text.join_spread``); a fact's ``raw`` sentence is cut from it."""
    return re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", join_spread(text))  # 10,000元 → 10000元


# A rule yields (fact type, canonical value, display, extra Fact fields, the match) for one section's
# text; it is given the section's heading too (``1.3 投保年龄``), which says what the clause is about.
Found = Iterable[tuple[str, Any, str, dict[str, Any], re.Match[str]]]
Rule = Callable[[str, str], Found]
RULES: list[Rule] = []
# Rules of the general grammar (domain.quantities): they read a value next to its topic word,
# whatever the sentence around it; a template above wins where both read the same fact.
GENERAL: list[Rule] = []

# The clause headings that state each fact: a value read in its own clause wins over one read
# in passing elsewhere (a benefit clause mentioning an age, a definition mentioning a period).
TOPICS: dict[str, str] = {
    "age_min": r"投保年龄|投保范围|投保条件|被保险人范围|承保年龄",
    "age_max": r"投保年龄|投保范围|投保条件|被保险人范围|承保年龄",
    "term": r"保险期间|保障期间|保险期限",
    "cooling_off": r"犹豫期|冷静期",
    "waiting_period": r"等待期|观察期",
    "grace_period": r"宽限期|保险费的?(?:支付|交纳|交付)",
    "policy_loan": r"贷款|借款",
    "annuity_start_age": r"领取年龄|开始领取|年金|养老保险金",
    "annuity_ratio": r"年金|养老保险金|生存保险金",
}


def rule(fn: Rule) -> Rule:
    RULES.append(fn)
    return fn


def general(fn: Rule) -> Rule:
    GENERAL.append(fn)
    return fn


# Facts stated as one number: (fact, pattern — its first matched group is the number, display).
NUMBER_RULES: tuple[tuple[str, str, str], ...] = (
    ("waiting_period", rf"(?:生效|复效)[^。；]{{0,24}}?起[^。；\d]{{0,6}}{_NUM}(?:日|天)(?:内|以内)?(?:（含第?{_NUM}(?:日|天)）)?[^。；\d]{{0,12}}?为等待期"
                       rf"|起[^。；\d]{{0,6}}{_NUM}(?:日|天)（[^）]{{0,20}}(?:等待期|观察期)|(?:等待期|观察期)为{_NUM}(?:日|天)"
                       rf"|(?:等待期|观察期)为[^。；\d]{{0,16}}?起{_NUM}(?:日|天)"
                       rf"|{_NUM}(?:日|天)[^。；\d]{{0,10}}?(?:称为|即为|即|为)[“\"]?(?:等待期|观察期)", "{n}日"),
    ("cooling_off", rf"有{_NUM}(?:日|天)的(?:犹豫期|冷静期)|(?:犹豫期|冷静期)为{_NUM}(?:日|天)|{_NUM}(?:日|天)（即(?:犹豫期|冷静期)）"
                    rf"|{_NUM}(?:日|天)(?:内|以内)?为(?:犹豫期|冷静期)", "{n}日"),
    ("grace_period", rf"{_NUM}(?:日|天)为宽限期|宽限期为{_NUM}(?:日|天)", "{n}日"),
    ("mild_payout", r"按[^。；，]{0,10}?基本保险金额的(\d+)%给付轻症疾病保险金", "基本保险金额的{n}%"),
    ("mild_times", rf"轻症疾病保险金累计给付(?:次数)?以{_NUM}次为限", "{n}次"),
    ("mild_kinds", rf"约定的轻症疾病共{_NUM}种|所附{_NUM}种轻症疾病", "{n}种"),
    ("moderate_payout", r"按[^。；，]{0,10}?基本保险金额的(\d+)%给付中症疾病保险金", "基本保险金额的{n}%"),
    ("moderate_times", rf"中症疾病保险金累计给付(?:次数)?以{_NUM}次为限", "{n}次"),
    ("moderate_kinds", rf"约定的中症疾病共{_NUM}种|所附{_NUM}种中症疾病", "{n}种"),
    ("ci_kinds", rf"约定的重大疾病共{_NUM}种|所附{_NUM}种重大疾病", "{n}种"),
    ("annuity_ratio", r"每年按[^。；，]{0,10}?保险金额的(\d+)%给付(?:一次)?(?:年金|养老保险金|养老金)", "每年保险金额的{n}%"),
    ("policy_loan", r"贷款金额不得超过[^。；]*?的(\d+)%", "现金价值净额的{n}%"),
)


@rule
def _numbers(text: str, heading: str = "") -> Found:
    for key, pattern, display in NUMBER_RULES:
        m = re.search(pattern, text)
        if m:
            n = q.integer(next(g for g in m.groups() if g))
            yield key, n, display.format(n=n), {}, m


@rule
def _term(text: str, heading: str = "") -> Found:
    m = re.search(rf"保险期间[^。；]{{0,30}}?最长不超过{_NUM}年", text)
    if m:
        n = q.integer(m.group(1))
        yield "term", f"最长不超过{n}年", f"最长不超过{n}年", {}, m
        return
    m = re.search(r"保险期间(?:为|是|有|分为|(?P<since>自[^，。；]{0,20}?生效日的?零时起[，,]?至)|(?=\d))([^，。；]+)", text)
    if not m:
        return
    phrase = m.group(2)
    years = list(dict.fromkeys(q.integer(y) for y in re.findall(rf"({q.NUM})年(?!龄)", phrase)))
    ages = list(dict.fromkeys(q.integer(a) for a in re.findall(rf"({q.NUM})周岁", phrase)))
    if re.match(r"(?:被保险人)?终身", phrase):
        if not re.match(r"(?:被保险人)?终身(?:和|或|、)", phrase) or not (years or ages):
            yield "term", "终身", "终身", {}, m
            return
        options = ("终身", *[f"{y}年" for y in years], *[f"至{a}周岁" for a in ages])  # 有被保险人终身和至80周岁两种
        yield "term", "/".join(options), "、".join(options) + "（投保时选择）", {"options": options}, m
        return
    if m.group("since") and not years and not ages and re.search(r"(?<![时点])止$", phrase) \
            and not re.search(r"身故|期满|终止", phrase) and len(phrase) <= 30:
        until = "至" + phrase[:-1]  # 自生效日零时起，至主险合同最后一期保险费的支付日止
        yield "term", until, until, {}, m
        return
    if len(years) + len(ages) > 1:
        options = tuple([f"{y}年" for y in years] + [f"至{a}周岁" for a in ages])
        yield "term", "/".join(options), "、".join(options) + "（投保时选择）", {"options": options}, m
    elif years:
        yield "term", f"{years[0]}年", f"{years[0]}年", {}, m
    elif ages:
        yield "term", f"至{ages[0]}周岁", f"至被保险人{ages[0]}周岁", {}, m


@rule
def _medical(text: str, heading: str = "") -> Found:
    m = re.search(rf"年度保险金额为{_NUM}(万元|元)", text)
    if m:
        value = _amount(m.group(1), m.group(2))
        yield "annual_limit", value, _yuan(value), {}, m
    m = re.search(rf"(年|每次事故)免赔额为{_NUM}(万元|元)", text) or re.search(rf"免赔额为(每年|每次事故)?(?:人民币)?{_NUM}(万元|元)", text)
    if m:
        value = _amount(m.group(2), m.group(3))
        qualifier = "每次事故" if m.group(1) == "每次事故" else "每年"
        yield "deductible", value, f"{qualifier}{_yuan(value)}", {"qualifier": qualifier}, m
    # 赔付比例为80% / 给付比例为90% (给付 only for expenses: an illness benefit's 给付比例 is another thing)
    found = [f for f in re.finditer(r"(赔付|给付)比例为(\d+)%", text)
             if f.group(1) == "赔付" or re.search(r"免赔|医疗|费用", text[_sentence_start(text, f.start()): f.end()])]
    if found:
        m = found[0]
        ratios = [int(f.group(2)) for f in found]
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
        years = q.integer(m.group(1))
        yield "guaranteed_renewal", True, f"保证续保{years}年", {}, m
        yield "renewal_years", years, f"{years}年", {}, m


@rule
def _annuity(text: str, heading: str = "") -> Found:
    m = re.search(rf"自被保险人年满{_NUM}周岁后的首个保单周年日起(?:（年金领取起始年龄也可选择{_NUM}周岁)?", text)
    if m and "年金" in text[m.start(): m.end() + 80]:
        start = q.integer(m.group(1))
        options = (start, q.integer(m.group(2))) if m.group(2) else ()
        display = f"{start}周岁" + (f"（可选{options[1]}周岁）" if options else "")
        yield "annuity_start_age", start, display, {"options": options}, m


@rule
def _no_loan(text: str, heading: str = "") -> Found:
    m = re.search(r"不提供保单贷款", text)
    if m:
        yield "policy_loan", 0, "不提供保单贷款", {}, m


def _about(key: str, heading: str) -> bool:
    return key in TOPICS and re.search(TOPICS[key], heading) is not None


def _sentence_start(text: str, pos: int) -> int:
    return max(text.rfind(p, 0, pos) for p in "。；;\n") + 1


def _sentence_end(text: str, pos: int) -> int:
    ends = [i for i in (text.find(p, pos) for p in "。；;\n") if i != -1]
    return min(ends) if ends else len(text)


@general
def _age_range(text: str, heading: str = "") -> Found:
    """An entry-age range: anywhere in the clause about who may apply; elsewhere only when the
    sentence introduces it as an age (年龄, 凡, 年满, 投保)."""
    pos = 0
    while (r := q.age_range(text, pos)) is not None:
        m = r.match
        lead = text[_sentence_start(text, m.start()): m.start()]
        during = text.startswith("期间", m.end())  # 年满18周岁至60周岁期间身故: a stretch of life, not entry ages
        if _about("age_max", heading) or (re.search(r"年龄|凡|年满|投保", lead) and not during):
            ranges, end = [r], _sentence_end(text, m.end())
            while (more := q.age_range(text, ranges[-1].match.end())) is not None and more.match.end() <= end:
                ranges.append(more)  # 女性40周岁至75周岁，男性40周岁至72周岁
            low = min(ranges, key=lambda x: x.min_days)
            top = max(x.max_years for x in ranges)
            extra = {"qualifier": "周岁"} if low.min_years is not None else {}
            differs = {"qualifier": "因性别或条件而异"} if len({(x.min_days, x.max_years) for x in ranges}) > 1 else {}
            yield "age_min", low.min_days, low.min_display, extra | differs, m
            yield "age_max", top, f"{top}周岁", differs, m
            return
        pos = m.end()


# Periods in days named by their topic word: 有15日的犹豫期 / 宽限期为六十天 / 90天（含）为观察期.
_PERIOD_WORDS = (("cooling_off", "犹豫期|冷静期"), ("grace_period", "宽限期"), ("waiting_period", "等待期|观察期"))


@general
def _periods(text: str, heading: str = "") -> Found:
    for key, words in _PERIOD_WORDS:
        m = q.days_near(text, words)
        if m:
            n = q.integer(m.group("n"))
            yield key, n, f"{n}日", {}, m
    # a waiting period chosen at application: 等待期 … 0日、30日、60日、90日
    for topic in re.finditer(r"等待期|观察期", text):
        found = q.choices(text, "日", topic.end(), min(topic.end() + 40, len(text)))
        if found and "选择" in text[_sentence_start(text, topic.start()): found[1].end()] + text[found[1].end(): found[1].end() + 6] \
                or found and _about("waiting_period", heading) and "选择" in text:
            days, m = found
            yield "waiting_period", "/".join(map(str, days)), "、".join(f"{d}日" for d in days) + "（投保时选择）", \
                {"options": tuple(days), "min": min(days), "max": max(days)}, m
            return


@general
def _annuity_ages(text: str, heading: str = "") -> Found:
    """Start ages to choose from: 开始领取年龄…分为60、65、70和75周岁四种，女性…55、60、65、70和75周岁五种."""
    for topic in re.finditer(r"领取(?:的)?(?:起始)?年龄", text):
        end, pos, ages, first = _sentence_end(text, topic.end()), topic.end(), [], None
        while (found := q.choices(text, "周岁", pos, end)) is not None:
            ages += found[0]
            first = first or found[1]
            pos = found[1].end()
        options = sorted(set(ages))
        if first and len(options) > 1:
            yield "annuity_start_age", "/".join(map(str, options)), "、".join(map(str, options)) + "周岁（投保时选择）", \
                {"options": tuple(options)}, first
            return


@general
def _annuity_table(text: str, heading: str = "") -> Found:
    """A yearly payout read from the benefit table the clause points to: 按基本保险金额乘以养老保险金
    给付比例（见下表）…领取方式 给付比例 年领 100% 月领 8.50%."""
    m = re.search(r"按(?:基本)?保险金额乘以(?:年金|养老保险金|养老金)给付比例[（(]见下表[）)]", text)
    if not m:
        return
    row = re.compile(r"年领[^\d%。；]{0,6}(\d+(?:\.\d+)?)%").search(text, m.end(), min(len(text), m.end() + 160))
    if row:
        value = q.exact(q.number(row.group(1)))
        yield "annuity_ratio", value, f"每年基本保险金额的{value}%（年领，见给付比例表）", {"qualifier": "年领"}, m


@general
def _loan(text: str, heading: str = "") -> Found:
    m = re.search(r"(?:贷款|借款)[^。；]{0,16}?(?:金|数|额)[^。；]{0,12}?不(?:得|能)?(?:超过|高于)[^。；]{0,40}?的(\d+(?:\.\d+)?)%", text)
    if m:
        value = q.exact(q.number(m.group(1)))
        yield "policy_loan", value, f"现金价值的{value}%", {}, m


def extract_facts(sections: Iterable[Any], chunk_of: dict[str, str] | None = None) -> list[Fact]:
    """Facts of one policy wording. ``sections``: objects with ``locator``, ``heading_path`` and
    ``text``; ``chunk_of``: locator → the chunk id to cite.

    Where a fact is stated more than once, the statement in the clause about it wins (its
    heading names the topic: ``1.3 投保年龄``), then a template over the general grammar, then
    the first in the wording."""
    best: dict[str, tuple[tuple[int, int, int], Fact]] = {}
    for order, section in enumerate(sections):
        text = normalise(section.text)
        path = getattr(section, "heading_path", None) or []
        heading = path[-1] if path else ""
        for tier, rules in enumerate((RULES, GENERAL)):
            for extract in rules:
                for key, value, display, extra, match in extract(text, heading):
                    rank = (0 if _about(key, heading) else 1, tier, order)
                    if key in best and best[key][0] <= rank:
                        continue
                    best[key] = rank, Fact(
                        type=key, value=value, display=display, raw=_sentence(text, match.start(), match.end()),
                        locator=section.locator, chunk_id=(chunk_of or {}).get(section.locator), **extra,
                    )
    return [best[t.key][1] for t in FACT_TYPES if t.key in best]
