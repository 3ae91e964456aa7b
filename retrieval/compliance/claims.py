"""What a sales text states about a product's facts, and whether the product's wording agrees.

A claim is a number next to the word of its topic in one clause: ``等待期只有30天``,
``0-70岁都能买``, ``免赔额0元``, ``报销比例100%``, ``犹豫期20天``, ``120种重疾``. Its
qualifier (只有/最多/以内 → at most; 至少/以上 → at least) decides how it is compared with the
fact the product's own clause states (``domain.facts`` units: days, yuan, percent, counts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from domain import quantities as q

Op = Literal["eq", "le", "ge"]
NUM = q.NUM


@dataclass(frozen=True)
class Claim:
    fact: str  # fact type key (waiting_period…); "age" for entry ages
    op: Op
    value: float
    start: int
    end: int
    stated: str  # as the text says it
    value2: float | None = None  # age: the top of a stated range, in years


@dataclass(frozen=True)
class Contradiction:
    claim: Claim
    fact: dict[str, Any]  # the product's fact (type, value, display, raw, locator, doc_id, chunk_id)
    says: str  # what the wording says, for the explanation


# Topic words of period facts (a number of days, months or years next to them).
_PERIODS = {
    "waiting_period": r"等待期|观察期",
    "cooling_off": r"犹豫期|冷静期",
    "grace_period": r"宽限期",
}
_LE = r"(?:只有|只要|仅有?|才|最多|最长|不超过|不到|不足|短短|就)"
_GE = r"(?:至少|起码|最少|不低于|不少于|高达|长达)"
_AFTER_LE = r"(?:以内|之内|内|以下|封顶)"
_AFTER_GE = r"(?:以上|起)"
_SEP = r"[^，。；！？\d]{0,8}?"  # words between a topic and its number, inside one clause
_PERIOD_UNIT = r"(?P<unit>天|日|个月|月|年)"
_ZERO_WAIT = re.compile(r"(?:没有|无|零|0|不设|免|取消)(?:任何)?等待期|等待期(?:都|也)?(?:没有|为0|为零|是0|是零|0天)")
_ZERO_DEDUCTIBLE = re.compile(r"(?:0|零|没有|无|不设|免)(?:任何)?免赔(?:额)?|免赔额?(?:都|也)?(?:没有|为0|为零|是0|是零|0元)")
_MONEY_UNIT = r"(?P<unit>元|块|万元|万|w|W)"
_PERCENT = r"(?:%|％|个点)"


def _num(text: str) -> float | None:
    try:
        return q.number(text)
    except ValueError:
        return None


def _op(before: str, after: str) -> Op:
    if re.search(_LE + r"$", before) or re.match(_AFTER_LE, after):
        return "le"
    if re.search(_GE + r"$", before) or re.match(_AFTER_GE, after):
        return "ge"
    return "eq"


def _days(n: float, unit: str) -> float:
    return n * {"天": 1, "日": 1, "个月": 30, "月": 30, "年": 365}[unit]


def claims(text: str, start: int, end: int, label: str = "") -> list[Claim]:
    """Every fact claim in ``text[start:end]`` (one clause, sentence or table cell); ``label``: a table
    row's first cell (投保年龄, 轻症), read as if it stood before the cell."""
    if label:
        found = claims(label + "：" + text[start:end], 0, len(label) + 1 + end - start)
        shift = start - len(label) - 1
        return [Claim(cl.fact, cl.op, cl.value, max(start, cl.start + shift), max(start + 1, cl.end + shift), cl.stated, cl.value2)
                for cl in found if cl.end > len(label) + 1]
    out: list[Claim] = []
    piece = text[start:end]
    for fact, topic in _PERIODS.items():
        for m in re.finditer(rf"(?:{topic}){_SEP}(?P<q>{_LE}|{_GE})?\s*(?P<n>{NUM})\s*{_PERIOD_UNIT}", piece):
            n = _num(m.group("n"))
            if n is None:
                continue
            op = _op(m.group("q") or "", piece[m.end() : m.end() + 2])
            out.append(Claim(fact, op, _days(n, m.group("unit")), start + m.start(), start + m.end(), m.group(0)))
        for m in re.finditer(rf"(?P<q>{_LE}|{_GE})?\s*(?P<n>{NUM})\s*{_PERIOD_UNIT}(?P<after>{_AFTER_LE}|{_AFTER_GE})?的?(?:{topic})", piece):
            n = _num(m.group("n"))
            if n is None or any(c.fact == fact and c.start <= start + m.start() < c.end for c in out):
                continue
            op = _op(m.group("q") or "", m.group("after") or "")
            out.append(Claim(fact, op, _days(n, m.group("unit")), start + m.start(), start + m.end(), m.group(0)))
    for m in _ZERO_WAIT.finditer(piece):
        if re.search(r"意外|续保|续期|复效|宽限", piece):  # no waiting period for accidents or on renewal: true
            continue
        out.append(Claim("waiting_period", "eq", 0, start + m.start(), start + m.end(), m.group(0)))
    for m in _ZERO_DEDUCTIBLE.finditer(piece):
        out.append(Claim("deductible", "eq", 0, start + m.start(), start + m.end(), m.group(0)))
    for m in re.finditer(rf"免赔(?:额)?{_SEP}(?P<q>{_LE}|{_GE})?\s*(?P<n>{NUM})\s*{_MONEY_UNIT}"
                         rf"|免赔(?:额)?[为是：:\s]{{0,2}}(?P<q2>{_LE}|{_GE})?\s*(?P<n2>\d{{3,6}})(?![\d.%％天日年月个次])", piece):
        if m.group("n2"):
            n2 = _num(m.group("n2"))
            if n2 is not None:
                out.append(Claim("deductible", _op(m.group("q2") or "", ""), n2, start + m.start(), start + m.end(), m.group(0)))
            continue
        n = _num(m.group("n"))
        if n is not None and not any(c.fact == "deductible" and c.start == start + m.start() for c in out):
            scale = 10_000 if m.group("unit") in ("万元", "万", "w", "W") else 1
            out.append(Claim("deductible", _op(m.group("q") or "", piece[m.end():m.end() + 2]), n * scale,
                             start + m.start(), start + m.end(), m.group(0)))
    # the amount before its topic: 100块免赔, 50元的免赔额
    for m in re.finditer(rf"(?P<n>{NUM})\s*{_MONEY_UNIT}\s*的?免赔", piece):
        n = _num(m.group("n"))
        if n is not None and not any(c.fact == "deductible" and c.start < start + m.end() and start + m.start() < c.end for c in out):
            scale = 10_000 if m.group("unit") in ("万元", "万", "w", "W") else 1
            out.append(Claim("deductible", "eq", n * scale, start + m.start(), start + m.end(), m.group(0)))
    # the term: 保障到85周岁, 保终身
    for m in re.finditer(rf"(?<![投承])(?:保障|保险期间|保|管)(?:期间)?(?:到|至|可到|能到)\s*(?P<n>{NUM})\s*{_YEARS}", piece):
        n = _num(m.group("n"))
        if n is not None and 30 <= n <= 120 and not _denied(piece, m.start()):
            out.append(Claim("term_age", "eq", n, start + m.start(), start + m.end(), m.group(0)))
    for m in re.finditer(rf"(?P<n>{NUM})\s*年(?:的)?(?:保障期|保险期间|保险期限|保障期限|期限)|(?:保障期|保险期间|保险期限|保障期限)(?:是|为|有|长达)?\s*(?P<n2>{NUM})\s*年(?!龄)", piece):
        n = _num(m.group("n") or m.group("n2"))
        if n is not None and not _denied(piece, m.start()):
            out.append(Claim("term_years", "eq", n, start + m.start(), start + m.end(), m.group(0)))
    for m in re.finditer(r"(?:保障|保|管|保险期间(?:是|为)?)(?:一辈子|终身|到老|一生)", piece):
        if not _denied(piece, m.start()):
            out.append(Claim("term_life", "eq", 1, start + m.start(), start + m.end(), m.group(0)))
    for fact, topic in (("mild_times", r"轻症"), ("moderate_times", r"中症")):
        for m in re.finditer(rf"(?:{topic}){_SEP}(?:可以|能|可|最多|共)?(?:赔|给付|赔付)?\s*(?P<n>{NUM})\s*次", piece):
            n = _num(m.group("n"))
            if n is not None:
                out.append(Claim(fact, "eq", n, start + m.start(), start + m.end(), m.group(0)))
    for m in re.finditer(rf"保证续保(?:期间)?(?:为|是|长达|高达)?\s*(?P<n>{NUM})\s*年", piece):
        n = _num(m.group("n"))
        if n is not None:
            out.append(Claim("renewal_years", "eq", n, start + m.start(), start + m.end(), m.group(0)))
    if not any(cl.fact == "renewal_years" for cl in out):
        for m in re.finditer(r"(?<![不非无])(?:保证续保|保证可续保|续保有保证)", piece):
            if not re.match(r"(?:期间)?\s*\d", piece[m.end():m.end() + 4]):
                out.append(Claim("guaranteed_renewal", "eq", 1, start + m.start(), start + m.end(), m.group(0)))
    for m in re.finditer(rf"(?P<n>{NUM})\s*(?:周岁|岁)(?:起|以后|后)?(?:就)?(?:每年|每月|按年|按月)?(?:就)?(?:可以|能)?(?:开始)?领(?:取|钱)?", piece):
        n = _num(m.group("n"))
        if n is not None and n <= 120:
            out.append(Claim("annuity_start_age", "eq", n, start + m.start(), start + m.end(), m.group(0)))
    out += _percent_claims(piece, start)
    out += _count_claims(piece, start)
    out += _age_claims(piece, start)
    return out


_PERCENT_TOPICS = (
    ("mild_payout", r"轻症"),
    ("moderate_payout", r"中症"),
    ("policy_loan", r"保单贷款|贷款|借款|借出"),
    ("payout_ratio", r"报销比例|赔付比例|给付比例|报销|赔付|理赔|赔|报(?=\s*\d)"),
)


def _percent_claims(piece: str, start: int) -> list[Claim]:
    out: list[Claim] = []
    taken: list[tuple[int, int]] = []
    for fact, topic in _PERCENT_TOPICS:
        patterns = (
            rf"(?:{topic}){_SEP}(?P<q>{_LE}|{_GE})?\s*(?P<n>{NUM})\s*{_PERCENT}",
            rf"(?P<q>{_LE}|{_GE})?\s*(?P<n>\d+(?:\.\d+)?)\s*{_PERCENT}(?P<after>{_AFTER_LE}|{_AFTER_GE})?的?(?:{topic})",
        )
        for pattern in patterns:
            for m in re.finditer(pattern, piece):
                n = _num(m.group("n"))
                if n is None or "个点" in m.group(0) and fact != "payout_ratio":
                    continue
                if any(a < m.end() and m.start() < b for a, b in taken):
                    continue
                around = piece[max(0, m.start() - 6) : m.end()]
                if fact == "payout_ratio" and re.search(r"轻症|中症|贷款|借款|收益|利率|分红|增长|复利|保额|保险金额|身故|伤残|领取|年金", around):
                    continue
                taken.append((m.start(), m.end()))
                op = _op(m.group("q") or "", m.groupdict().get("after") or piece[m.end():m.end() + 2])
                out.append(Claim(fact, op, n, start + m.start(), start + m.end(), m.group(0)))
    for m in re.finditer(r"全额(?:报销|赔付|理赔)|(?:报销|赔付)全额", piece):
        if re.search(r"(?:不是|并非|不能|不会|没有|不)$", piece[max(0, m.start() - 3):m.start()]):
            continue  # 不是全额报销: denied, not claimed
        if not any(a < m.end() and m.start() < b for a, b in taken):
            out.append(Claim("payout_ratio", "eq", 100, start + m.start(), start + m.end(), m.group(0)))
    return out


def _count_claims(piece: str, start: int) -> list[Claim]:
    out: list[Claim] = []
    for m in re.finditer(rf"(?P<n>{NUM})\s*(?P<more>多)?种(?:的)?(?:重大疾病|重疾)|(?:重大疾病|重疾)(?:种类)?{_SEP}(?P<n2>{NUM})\s*(?P<more2>多)?种", piece):
        n = _num(m.group("n") or m.group("n2"))
        if n is None or n < 10:
            continue
        op: Op = "ge" if (m.group("more") or m.group("more2")) else _op(piece[max(0, m.start() - 4):m.start()], piece[m.end():m.end() + 2])
        out.append(Claim("ci_kinds", op, n, start + m.start(), start + m.end(), m.group(0)))
    return out


_AGE_CONTEXT = re.compile(r"投保年龄|承保年龄|年龄|能买|可以买|都能买|也能买|能投|可以投|都能投|也能投|都可以|能保|可以保|都能保|投保|承保|上车|都能上|能上")
_AGE_OTHER = re.compile(r"领取|领|保到|保至|保障到|保障至|至\d|确诊|身故|前的|退休|开始|满期")
_YEARS = r"(?:周岁|岁)"


def _age_claims(piece: str, start: int) -> list[Claim]:
    """Entry ages, clause by clause (保到80周岁 in the next clause is the term, not an entry age)."""
    out: list[Claim] = []
    pos = 0
    for part in re.split(r"(?<=[，,；;])", piece):
        out += _clause_ages(part, start + pos)
        pos += len(part)
    return out


def _clause_ages(piece: str, start: int) -> list[Claim]:
    if not _AGE_CONTEXT.search(piece) or _AGE_OTHER.search(piece):
        return []
    found = q.age_range(piece)
    bare = re.search(rf"(?<![\d.])(?P<a>{NUM})\s*(?:到|至|-|~|～)\s*(?P<b>{NUM})\s*{_YEARS}", piece)
    if found is None and bare is not None:  # 0到18周岁: both ends in years
        a, b = _num(bare.group("a")), _num(bare.group("b"))
        if a is not None and b is not None and a < b <= 120:
            return [Claim("age", "eq", a * 365, start + bare.start(), start + bare.end(), bare.group(0), b)]
    if found is not None:
        m = found.match
        return [Claim("age", "eq", found.min_days, start + m.start(), start + m.end(), m.group(0), float(found.max_years))]
    out: list[Claim] = []
    for m in re.finditer(rf"(?:最高|最大|最晚|最多)(?:能|可以)?(?:投|买|保)?(?:到)?\s*(?P<n>{NUM}){_YEARS}"
                         rf"|(?P<n2>{NUM}){_YEARS}(?:以下|以内|之内)"
                         rf"|(?P<n3>{NUM}){_YEARS}(?:以后|之后|以上)(?:就)?(?:不能|不可以|没法|无法)(?:再)?(?:投|买|投保)"
                         rf"|投保年龄[^，。；！？\d]{{0,4}}(?:放到|放宽到|到|最高到?|上限)\s*(?P<n4>{NUM}){_YEARS}", piece):
        n = _num(m.group("n") or m.group("n2") or m.group("n3") or m.group("n4"))
        if n is not None and n <= 120:
            # 最高65周岁 / 60岁以后就不能投了: the stated top age; 65岁以下: a bound
            fact = "age" if m.group("n2") else "age_top"
            out.append(Claim(fact, "le", n, start + m.start(), start + m.end(), m.group(0)))
    if not out:
        for m in re.finditer(rf"(?P<n>{NUM}){_YEARS}(?:之前|以前|前)(?:都|也)?(?:能|可以)(?:买|投|投保|保|上车)", piece):
            n = _num(m.group("n"))
            if n is not None and n <= 120:
                out.append(Claim("age", "le", n, start + m.start(), start + m.end(), m.group(0)))
    if not out:
        for m in re.finditer(rf"(?P<n>{NUM}){_YEARS}(?:的人|老人|的老人|的客户)?(?:也|都|照样|还)(?:能|可以)(?:买|投|投保|保|上车)", piece):
            n = _num(m.group("n"))
            if n is not None and n <= 120:
                out.append(Claim("age", "eq", n * 365, start + m.start(), start + m.end(), m.group(0), n))
    return out


def _fact_values(fact: dict[str, Any] | None) -> tuple[float, float, list[float]] | None:
    """A fact's number as (lowest, highest, the choices it offers): 90 → (90, 90, [90]); a choice at
    purchase (0日、30日、60日、90日) → its options; a span (60%–100%) → its ends."""
    if not fact:
        return None
    options = fact.get("options")
    if isinstance(options, list) and options and all(isinstance(o, int | float) for o in options):
        values = [float(o) for o in options]
        return min(values), max(values), values
    value = fact.get("value")
    if isinstance(value, bool):
        return (1.0, 1.0, [1.0]) if value else (0.0, 0.0, [0.0])
    if isinstance(value, int | float):
        return float(value), float(value), [float(value)]
    if isinstance(value, str):
        numbers = [float(x) for x in re.findall(r"\d+(?:\.\d+)?", value)]
        if numbers and re.fullmatch(r"\s*\d+(?:\.\d+)?\s*(?:[-–~至]\s*\d+(?:\.\d+)?)?\s*", value):
            return min(numbers), max(numbers), []  # a span: any value between its ends
        if numbers and re.fullmatch(r"[\d.\s/、,]+", value):
            return min(numbers), max(numbers), numbers
    return None


def _in_clause(claim: Claim, fact: dict[str, Any]) -> bool:
    """Whether the stated number appears in the fact's own sentence (a product with several ratios
    or periods: 有社保100%，无社保60%)."""
    raw = str(fact.get("raw") or "")
    n = q.exact(claim.value)
    if claim.fact == "payout_ratio" or claim.fact.endswith("_payout") or claim.fact == "policy_loan":
        return bool(re.search(rf"(?<![\d.]){n}\s*[%％]", raw))
    return False


def _denied(piece: str, at: int) -> bool:
    return bool(re.search(r"(?:不是|并非|不能|不会|没有|不)$", piece[max(0, at - 3):at]))


def _compare_term(claim: Claim, term: dict[str, Any] | None) -> Contradiction | None:
    """保障到85周岁 / 保终身 against the wording's term (至80周岁, 终身, 1年, 5年/10年)."""
    if not term:
        return None
    value = str(term.get("value") or "")
    says = str(term.get("display") or value)
    if "终身" in value:
        return None  # a term stated shorter than a whole-life cover undersells it: not misleading
    if claim.fact == "term_life":
        return Contradiction(claim, term, says)
    if claim.fact == "term_years":  # 可以选20年保障期 of a term of 5年、10年
        years = [float(x) for x in re.findall(r"(\d+)\s*年", value)]
        wrong = bool(years) and "岁" not in value and all(abs(y - claim.value) >= 1 for y in years)
        return Contradiction(claim, term, says) if wrong else None
    ages = [float(x) for x in re.findall(r"(\d+)\s*周?岁", value)]
    if ages and all(abs(a - claim.value) >= 1 for a in ages):
        return Contradiction(claim, term, says)
    return None


def compare(claim: Claim, facts: dict[str, dict[str, Any]]) -> Contradiction | None:
    """The product's fact the claim contradicts, if any (no fact of that type: nothing to compare)."""
    if claim.fact in ("term_age", "term_life", "term_years"):
        return _compare_term(claim, facts.get("term"))
    if claim.fact == "age":
        return _compare_age(claim, facts)
    if claim.fact == "age_top":  # the oldest entry age, stated: wrong either way
        top = facts.get("age_max")
        found = _fact_values(top)
        if top is None or found is None or abs(found[1] - claim.value) < 1:
            return None
        return Contradiction(claim, top, "至".join(str(f.get("display")) for f in (facts.get("age_min"), top) if f))
    fact = facts.get(claim.fact)
    if claim.fact == "guaranteed_renewal" and fact is None and facts.get("renewal_years"):
        return None
    found = _fact_values(fact)
    if fact is None or found is None or _in_clause(claim, fact):
        return None
    low, high, choices = found
    tolerance = 5.0 if claim.fact in _PERIODS and claim.value >= 28 and claim.value % 30 == 0 else 0.01
    if claim.op == "le":
        wrong = low > claim.value + tolerance
    elif claim.op == "ge":
        wrong = high < claim.value - tolerance
    elif choices:
        wrong = all(abs(v - claim.value) > tolerance for v in choices)
    else:
        wrong = not low - tolerance <= claim.value <= high + tolerance
    if claim.fact == "ci_kinds" and claim.op == "eq":
        wrong = claim.value > high  # "100种重疾" of a product covering 120: understated, not misleading
    return Contradiction(claim, fact, str(fact.get("display") or q.exact(low))) if wrong else None


def _compare_age(claim: Claim, facts: dict[str, dict[str, Any]]) -> Contradiction | None:
    low, high = facts.get("age_min"), facts.get("age_max")
    low_days = (_fact_values(low) or (None, None, []))[0]
    high_years = (_fact_values(high) or (None, None, []))[1]
    says = "至".join(str(f.get("display")) for f in (low, high) if f)
    if claim.op == "le":  # 最高65岁 / 65岁以下都能买: the stated top
        if high is not None and high_years is not None and claim.value > high_years:
            return Contradiction(claim, high, says)
        return None
    stated_top = claim.value2 if claim.value2 is not None else claim.value / 365
    if high is not None and high_years is not None and stated_top > high_years:
        return Contradiction(claim, high, says)
    # an age in years is any day of that year: 0岁 accepts a product open from 28 days
    if low is not None and low_days is not None and claim.value + 364 < low_days:
        return Contradiction(claim, low, says)
    return None
