"""Facts read however a wording phrases them: the ways Chinese policy wordings commonly state a
period, an age range or a deductible (written from general practice, not from any table here)."""

from __future__ import annotations

import pytest

from domain.types import Section
from ingest.facts import extract_facts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("自本合同生效（或最后复效）之日起90日内为等待期。", ("waiting_period", 90)),
        ("本合同的等待期为自本合同生效日起180天。", ("waiting_period", 180)),
        ("若被保险人在本合同生效之日起 180 日内（这 180 日的时间称为等待期）因疾病确诊，我们不承担保险责任。", ("waiting_period", 180)),
        ("被保险人在本合同生效之日起30日内（该30日称为观察期）发病的，我们不承担保险责任。", ("waiting_period", 30)),
        ("凡出生满28日至60周岁、身体健康者，均可作为被保险人。", ("age_max", 60)),
        ("凡年满18周岁至70周岁，能正常工作或生活的人，可作为被保险人。", ("age_min", 18 * 365)),
        ("您签收本合同之日起20日内为犹豫期。", ("cooling_off", 20)),
        ("自您签收本合同次日起，有15天的冷静期。", ("cooling_off", 15)),
        ("自保险费约定支付日的次日零时起六十日为宽限期。", ("grace_period", 60)),
        ("本合同的免赔额为每年10,000元。", ("deductible", 10000)),
        # the general grammar: a quantity next to its topic word, however the sentence runs
        ("被保险人的投保年龄为28天至65周岁。", ("age_min", 28)),
        ("投保时被保险人须为18周岁（含）以上、65周岁（含）以下。", ("age_max", 65)),
        ("投保年龄为0（出生满30天）-17周岁。", ("age_min", 30)),
        ("本合同有九十天的等待期。", ("waiting_period", 90)),
        ("本合同的犹豫期是十五天。", ("cooling_off", 15)),
        ("宽限期（60日）内发生保险事故的，我们仍承担保险责任。", ("grace_period", 60)),
        ("本合同的保险期间为一年。", ("term", "1年")),
        ("本合同的保险期间为终身。", ("term", "终身")),
        ("保单借款的金额不得超过您申请时本合同现金价值扣除各项欠款后余额的70%。", ("policy_loan", 70)),
        ("养老年金开始领取年龄可选择55周岁、60周岁或65周岁。", ("annuity_start_age", "55/60/65")),
    ],
)
def test_a_fact_is_read_from_its_usual_phrasings(text: str, expected: tuple[str, int]) -> None:
    facts = {f.type: f.value for f in extract_facts([Section("2.3", [], [f"2.3 保险责任 {text}"])], {"2.3": "c"})}
    assert facts.get(expected[0]) == expected[1], facts


@pytest.mark.parametrize(
    "text",
    [
        "等待期内发生保险事故的，您或受益人应在10日内通知我们。",  # a notice period, not the waiting period
        "本合同的犹豫期后，您可以申请解除合同，我们在30日内退还现金价值。",
        "宽限期后30日内未支付保险费的，本合同效力中止。",
        "等待期0日、30日可选的，按费率表计算。",  # a list, not one period
        "若被保险人年满18周岁至60周岁期间身故，我们按基本保险金额给付。",  # not entry ages
    ],
)
def test_a_number_near_a_period_word_is_not_taken_for_it(text: str) -> None:
    facts = {f.type: f.value for f in extract_facts([Section("2.3", [], [f"2.3 保险责任 {text}"])], {"2.3": "c"})}
    assert not {"waiting_period", "cooling_off", "grace_period", "age_max"} & set(facts), facts


def test_the_clause_about_a_fact_wins_over_a_mention_elsewhere() -> None:
    """A benefit clause mentions a range of ages before the clause about who may apply states the entry ages."""
    sections = [
        Section("2.3", ["2.3 保险责任"], ["2.3 保险责任 被保险人年满18周岁至60周岁期间，按基本保险金额给付。"]),
        Section("1.3", ["1.3 投保年龄"], ["1.3 投保年龄 本合同接受的投保年龄为出生满28日至55周岁。"]),
    ]
    facts = {f.type: f for f in extract_facts(sections)}
    assert (facts["age_min"].value, facts["age_max"].value, facts["age_max"].locator) == (28, 55, "1.3")


def test_a_table_the_clause_points_to_is_read_as_the_fact() -> None:
    text = ("2.5 保险责任 养老保险金 我们按基本保险金额乘以养老保险金给付比例（见下表）向养老保险金受益人给付一次养老保险金：\n"
            "养老保险金领取方式 养老保险金给付比例 年领 100% 月领 8.50%")
    facts = {f.type: f for f in extract_facts([Section("2.5", ["2.5 保险责任"], [text])])}
    assert facts["annuity_ratio"].value == 100 and facts["annuity_ratio"].qualifier == "年领"
