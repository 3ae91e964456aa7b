"""The fact-type table: one row per kind of product fact, and everything derived from it.

A row names the fact (the key extraction rules yield), how a broker reads it (label, unit,
group) and, when products can be matched on it, the criterion: the API query parameter, how
the fact is compared and the phrase an answer uses. Adding a matching criterion is adding a
``Criterion`` to its row: the matching code, ``GET /v1/products``'s query parameters and the
answer's wording are derived from here.

Values are canonical so that they compare across products: periods in days, amounts in
yuan, ratios in percent, counts as integers, yes/no as booleans; ``display`` is how a
broker reads it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

# at_most / at_least: the fact's number against the limit; equals: a yes/no fact;
# age: the asked age lies between this fact (the minimum, in days) and age_max (in years).
Op = Literal["at_most", "at_least", "equals", "age"]


@dataclass(frozen=True)
class Criterion:
    param: str  # query parameter of GET /v1/products and key of Criteria.limits
    op: Op
    kind: type  # int | float | bool: how the parameter is parsed
    phrase: str  # "等待期不超过{}日"; for a yes/no fact: "when true|when false"
    ge: float | None = None  # the parameter's bounds
    le: float | None = None

    def describe(self, value: Any) -> str:
        if self.kind is bool:
            yes, no = self.phrase.split("|")
            return yes if value else no
        return self.phrase.format(f"{value:g}" if isinstance(value, float) else value)


@dataclass(frozen=True)
class FactType:
    key: str
    label: str
    unit: str  # day | year | yuan | percent | count | bool | text
    group: str  # for reports and comparison tables, in this order
    criterion: Criterion | None = None


FACT_TYPES: tuple[FactType, ...] = (
    FactType("age_min", "最低投保年龄", "day", "投保", Criterion("age", "age", int, "接受{}周岁投保", ge=0, le=120)),
    FactType("age_max", "最高投保年龄", "year", "投保"),
    FactType("term", "保险期间", "text", "投保"),
    FactType("cooling_off", "犹豫期", "day", "投保"),
    FactType("waiting_period", "等待期", "day", "保障",
             Criterion("max_waiting_days", "at_most", int, "等待期不超过{}日", ge=0)),
    FactType("grace_period", "宽限期", "day", "交费"),
    FactType("annual_limit", "年度保险金额", "yuan", "保障"),
    FactType("deductible", "免赔额", "yuan", "保障", Criterion("max_deductible", "at_most", float, "免赔额不超过{}元", ge=0)),
    FactType("payout_ratio", "赔付比例", "percent", "保障"),
    FactType("guaranteed_renewal", "保证续保", "bool", "保障",
             Criterion("guaranteed_renewal", "equals", bool, "保证续保|不要求保证续保")),
    FactType("renewal_years", "保证续保期间", "year", "保障"),
    FactType("ci_kinds", "重疾种类", "count", "保障", Criterion("min_ci_kinds", "at_least", int, "重疾不少于{}种", ge=0)),
    FactType("moderate_payout", "中症赔付", "percent", "保障"),
    FactType("moderate_times", "中症赔付次数", "count", "保障"),
    FactType("moderate_kinds", "中症种类", "count", "保障"),
    FactType("mild_payout", "轻症赔付", "percent", "保障",
             Criterion("min_mild_payout", "at_least", float, "轻症赔付不低于{}%", ge=0, le=100)),
    FactType("mild_times", "轻症赔付次数", "count", "保障"),
    FactType("mild_kinds", "轻症种类", "count", "保障"),
    FactType("annuity_start_age", "年金领取起始年龄", "year", "年金"),
    FactType("annuity_ratio", "年金领取比例", "percent", "年金"),
    FactType("policy_loan", "保单贷款比例上限", "percent", "现金价值"),
)
TYPES = {t.key: t for t in FACT_TYPES}
# The matching criteria, in table order: (fact type, criterion).
CRITERIA: tuple[tuple[FactType, Criterion], ...] = tuple((t, t.criterion) for t in FACT_TYPES if t.criterion)

# Which facts a product of each category is expected to state (for the coverage report).
EXPECTED: dict[str, tuple[str, ...]] = {
    "重大疾病保险": ("age_min", "age_max", "term", "cooling_off", "waiting_period", "grace_period", "ci_kinds",
                   "mild_payout", "mild_times", "mild_kinds", "policy_loan"),
    "医疗保险": ("age_min", "age_max", "term", "waiting_period", "grace_period", "annual_limit", "deductible",
              "payout_ratio", "guaranteed_renewal"),
    "定期寿险": ("age_min", "age_max", "term", "cooling_off", "waiting_period", "grace_period", "policy_loan"),
    "年金保险": ("age_min", "age_max", "term", "cooling_off", "grace_period", "annuity_start_age", "annuity_ratio",
              "policy_loan"),
    "意外伤害保险": ("age_min", "age_max", "term", "deductible", "payout_ratio"),
}


@dataclass(frozen=True)
class Fact:
    type: str
    value: Any  # canonical: number, bool or text
    display: str
    raw: str  # the sentence it was read from
    locator: str
    chunk_id: str | None = None
    min: float | None = None  # ranges (a ratio that depends on the situation)
    max: float | None = None
    options: tuple[Any, ...] = ()  # choices the policyholder makes (保险期间 10/20/30年…)
    qualifier: str = ""  # per year / per accident …
    extracted_by: str = "rules"  # "rules", or "model:<name>" for a chat model's proposal checked against the clause

    @property
    def label(self) -> str:
        return TYPES[self.type].label

    @property
    def unit(self) -> str:
        return TYPES[self.type].unit

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["options"] = list(self.options)
        out["label"], out["unit"] = self.label, self.unit
        return out


def coverage(category: str | None, facts: list[Fact] | list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(found, missing) fact types for a product of ``category``."""
    have = {f.type if isinstance(f, Fact) else f["type"] for f in facts}
    expected = EXPECTED.get(category or "", ())
    return [t.key for t in FACT_TYPES if t.key in have], [k for k in expected if k not in have]
