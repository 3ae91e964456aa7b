"""One grammar of the quantities Chinese policy wordings state: numbers (Arabic or Chinese
numerals, decimals), periods (日/天/个月/年), ages (周岁/岁, 出生满N日), ranges between them
(``出生满28日至60周岁``, ``18周岁（含）以上、65周岁（含）以下``, ``0（出生满28天）-17周岁``) and
lists of choices (``50、55、60和65周岁``, ``0日、30日、60日、90日``).

Used by fact extraction to read a value out of the clause that states it, wherever the
sentence around it is phrased differently from the wordings the rules were tested on.
Pure functions, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from domain.numerals import cn_to_int

NUM = r"(?:\d+(?:\.\d+)?|[零〇一二两三四五六七八九十百千]+)"
_DAY = r"(?:日|天)"
_YEAR_AGE = r"(?:周岁|岁)"
_INCL = r"(?:（含[^）]{0,8}）|\(含[^)]{0,8}\))?"
_TO = r"(?:至|到|－|—|–|-|~|～)"


def number(text: str) -> float:
    """'15' → 15.0, '8.50' → 8.5, '十五' → 15.0; ValueError when it is not a number."""
    text = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    parsed = cn_to_int(text)
    if parsed is None:
        raise ValueError(text)
    return float(parsed)


def integer(text: str) -> int:
    return int(number(text))


def exact(value: float) -> int | float:
    """80.0 → 80, 8.5 → 8.5: a value as a fact stores it."""
    return int(value) if float(value).is_integer() else value


@dataclass(frozen=True)
class AgeRange:
    min_days: int  # the youngest entry age in days (出生满28日 → 28, 18周岁 → 6570)
    min_display: str
    min_years: int | None  # when the minimum is stated in years
    max_years: int
    match: re.Match[str]


# The low end: 出生满28日 / 28天 / 0周岁（出生满28日） / 0（出生满28天） / 18周岁.
_LOW = (rf"(?:出生满?(?P<d1>{NUM}){_DAY}"
        rf"|(?P<y0>{NUM}){_YEAR_AGE}?[（(][^）)]{{0,6}}?出生满?(?P<d2>{NUM}){_DAY}[^）)]{{0,4}}[）)]"
        rf"|(?P<y1>{NUM}){_YEAR_AGE}"
        rf"|(?P<d3>{NUM}){_DAY})")
_ASIDE = r"(?:[（(][^）)]{0,12}[）)])?"  # （含） / （见10.3）: a remark between the two ends
_RANGE = re.compile(rf"{_LOW}{_ASIDE}\s*{_TO}\s*(?P<y2>{NUM}){_YEAR_AGE}")
# 18周岁（含）以上、65周岁（含）以下 / 年满18周岁且不超过65周岁
_BOUNDS = re.compile(rf"(?P<y1>{NUM}){_YEAR_AGE}{_INCL}以上[^。；\d]{{0,6}}?(?P<y2>{NUM}){_YEAR_AGE}{_INCL}以下")


def age_range(text: str, pos: int = 0) -> AgeRange | None:
    """The first entry-age range the text states from ``pos`` on, in any of the phrasings above."""
    found = [m for m in (_RANGE.search(text, pos), _BOUNDS.search(text, pos)) if m]
    for m in sorted(found, key=lambda m: m.start()):
        groups = m.groupdict()
        days = groups.get("d1") or groups.get("d2") or groups.get("d3")
        top = integer(m.group("y2"))
        if days:
            low_days = integer(days)
            if low_days > 365:  # "30天至…" is a period, not an age
                continue
            return AgeRange(low_days, f"出生满{low_days}日", None, top, m)
        years = integer(groups.get("y1") or "0")
        if years >= top or top > 120:
            continue
        return AgeRange(years * 365, f"{years}周岁", years, top, m)
    return None


def days_near(text: str, keyword: str) -> re.Match[str] | None:
    """A period in days stated right next to ``keyword`` (a regex of topic words):
    ``有15日的犹豫期``, ``犹豫期为15日``, ``犹豫期（15天）``, ``60日为宽限期``, ``等待期是九十天``.
    The match's ``n`` group is the number. Words in between are only connectives, so that
    ``犹豫期后30日内退还`` (another period) is not read as the cooling-off period."""
    after = re.compile(rf"(?:{keyword})(?:期间)?[为是有：:（(\s]{{0,3}}(?P<n>{NUM}){_DAY}(?![内后以前、和或]|[^。；]{{0,4}}(?:、|或){NUM}{_DAY})")
    before = re.compile(rf"(?<![第内])(?P<n>{NUM}){_DAY}{_INCL}(?:内|以内)?[的为即称是\s]{{0,3}}(?:{keyword})")
    found = [m for m in (after.search(text), before.search(text)) if m]
    return min(found, key=lambda m: m.start()) if found else None


def choices(text: str, unit: str, pos: int = 0, endpos: int | None = None) -> tuple[list[int], re.Match[str]] | None:
    """A list of choices of one unit: ``50、55、60和65周岁`` (unit ``周岁``) or ``0日、30日、60日、90日``
    (unit ``日``): the numbers in order, when there are at least two."""
    u = re.escape(unit)
    pattern = re.compile(rf"(?:{NUM}(?:{u})?(?:、|，|和|或|及|,)){{1,12}}{NUM}{u}")
    m = pattern.search(text, pos, len(text) if endpos is None else endpos)
    if not m:
        return None
    numbers = [integer(n) for n in re.findall(NUM, m.group(0))]
    return (numbers, m) if len(numbers) > 1 else None
