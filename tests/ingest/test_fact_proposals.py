"""A chat model's fact proposals: kept only when the clause states them, marked as the model's.

The model is reached over the real OpenAI HTTP protocol (tests/llm_server.py) through the same
LangChain client production uses; its replies are scripted per test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from domain.types import Section
from ingest.fact_proposals import FactProposer
from ingest.facts import extract_facts
from prompts import load as load_prompts
from retrieval.generate import chat_model
from tests.llm_server import LLMServer

# a grace period no rule reads (the period is named two clauses later), an age range the rules do read
SECTIONS = [
    Section("1.3", ["1.3 投保年龄"], ["1.3 投保年龄 本合同接受的投保年龄为出生满28日至60周岁。"]),
    Section("4.2", ["4.2 宽限期"], ["4.2 宽限期 您支付首期保险费后，如果到期未支付保险费，自保险费约定支付日的次日零时起，"
                                   "我们给予您六十天的期限，此期限为宽限期。"]),
    Section("5.1", ["5.1 您解除合同的手续及风险"], ["5.1 您解除合同的手续及风险 我们自收到解除合同申请书之日起30日内向您退还现金价值。"]),
]


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with LLMServer() as server:
        yield server


@pytest.fixture(scope="module")
def proposer(llm: LLMServer) -> FactProposer:
    model = chat_model("openai", base_url=llm.url, model="qwen-test", api_key="", temperature=0.0, timeout_s=10)
    return FactProposer(model, load_prompts()[("facts", "ingest")], name="openai:qwen-test")


def _reply(*items: dict[str, Any]) -> Any:
    return lambda messages: "\n".join(json.dumps(i, ensure_ascii=False) for i in items)


def test_a_proposal_the_clause_states_is_kept_and_marked_as_the_models(proposer: FactProposer, llm: LLMServer) -> None:
    facts = extract_facts(SECTIONS)
    assert "grace_period" not in {f.type for f in facts} and {"age_min", "age_max"} <= {f.type for f in facts}
    llm.reply = _reply({"type": "grace_period", "value": 60, "unit": "天", "locator": "4.2",
                        "quote": "我们给予您六十天的期限，此期限为宽限期"})
    proposed = proposer.propose(SECTIONS, facts, {"4.2": "chunk-42"})
    assert [(f.type, f.value, f.locator, f.chunk_id, f.extracted_by) for f in proposed] == [
        ("grace_period", 60, "4.2", "chunk-42", "model:openai:qwen-test")]
    prompt = llm.requests[-1]["messages"][-1]["content"]
    assert "grace_period" in prompt and "age_max" not in prompt.split("条款")[0]  # asks only for what the rules missed
    assert '<clause locator="4.2">' in prompt and '<clause locator="1.3">' not in prompt


@pytest.mark.parametrize(
    "proposal",
    [
        {"type": "grace_period", "value": 90, "unit": "天", "locator": "4.2", "quote": "我们给予您六十天的期限，此期限为宽限期"},
        {"type": "grace_period", "value": 30, "unit": "日", "locator": "5.1", "quote": "之日起30日内向您退还现金价值"},
        {"type": "grace_period", "value": 60, "unit": "天", "locator": "4.2", "quote": "宽限期为60天"},
        {"type": "grace_period", "value": 60, "unit": "月", "locator": "4.2", "quote": "我们给予您六十天的期限"},
        {"type": "age_max", "value": 65, "unit": "周岁", "locator": "1.3", "quote": "出生满28日至60周岁"},
    ],
    ids=["value-not-in-quote", "clause-not-shown", "quote-not-in-clause", "wrong-unit", "type-not-asked"],
)
def test_a_proposal_the_clause_does_not_prove_is_dropped(proposer: FactProposer, llm: LLMServer, proposal: dict[str, Any]) -> None:
    llm.reply = _reply(proposal)
    assert proposer.propose(SECTIONS, extract_facts(SECTIONS)) == []


def test_a_model_that_fails_or_rambles_costs_only_its_proposals(proposer: FactProposer, llm: LLMServer) -> None:
    llm.reply = lambda messages: "抱歉，我无法确定。{not json}"
    assert proposer.propose(SECTIONS, extract_facts(SECTIONS)) == []
    broken = FactProposer(chat_model("openai", base_url="http://127.0.0.1:9/v1", model="x", api_key="", temperature=0.0,
                                     timeout_s=2), proposer.prompt, name="down")
    assert broken.propose(SECTIONS, extract_facts(SECTIONS)) == []


def test_an_amount_proposed_in_wan_yuan_is_stored_in_yuan(proposer: FactProposer, llm: LLMServer) -> None:
    sections = [Section("2.5", ["2.5 免赔额"], ["2.5 免赔额 本合同的年免赔额：人民币1万元整。"])]
    assert "deductible" not in {f.type for f in extract_facts(sections)}
    llm.reply = _reply({"type": "deductible", "value": 1, "unit": "万元", "locator": "2.5", "quote": "本合同的年免赔额：人民币1万元整"})
    (fact,) = proposer.propose(sections, extract_facts(sections))
    assert (fact.type, fact.value, fact.display) == ("deductible", 10_000, "10000元")
