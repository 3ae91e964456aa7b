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
    ],
)
def test_a_number_near_a_period_word_is_not_taken_for_it(text: str) -> None:
    facts = {f.type: f.value for f in extract_facts([Section("2.3", [], [f"2.3 保险责任 {text}"])], {"2.3": "c"})}
    assert "waiting_period" not in facts and "cooling_off" not in facts, facts
