"""Facts a chat model proposes where the rules read none, kept only when the clause proves them.

The rules (``ingest.facts``) read most facts; a configured chat model (any LangChain chat
model) is asked only for the fact types a wording's clauses talk about but the rules did
not read. A proposal is kept when its clause is one of those shown, its quote is in that
clause, and its value and unit occur together in the quote (``90日``, ``60周岁``, ``80%``):
a number the clause does not state is never stored. Kept facts are marked
``extracted_by="model:<name>"`` so that a broker and the coverage report can tell them apart.
A model that fails or answers nonsense costs nothing but the proposal.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from typing import Any

from domain import quantities as q
from domain.facts import TYPES, Fact
from ingest.facts import TOPICS, normalise
from prompts import Prompt, message_text

logger = logging.getLogger(__name__)

# The fact types a model may propose: (the unit words allowed next to the number, display, the
# words of the clauses that state it: the extraction's topics, and for the two medical facts
# that have no topic there, their own).
_ASKABLE: dict[str, tuple[tuple[str, ...], str, str]] = {
    "age_max": (("周岁", "岁"), "{n}周岁", TOPICS["age_max"]),
    "cooling_off": (("日", "天"), "{n}日", TOPICS["cooling_off"]),
    "waiting_period": (("日", "天"), "{n}日", TOPICS["waiting_period"]),
    "grace_period": (("日", "天"), "{n}日", TOPICS["grace_period"]),
    "policy_loan": (("%",), "现金价值的{n}%", TOPICS["policy_loan"]),
    "deductible": (("元", "万元"), "{n}元", r"免赔额"),
    "payout_ratio": (("%",), "{n}%", r"赔付比例|给付比例"),
    "annuity_ratio": (("%",), "每年保险金额的{n}%", TOPICS["annuity_ratio"]),
}
_MAX_CLAUSES = 6
_MAX_CHARS = 1_200


class FactProposer:
    def __init__(self, model: Any, prompt: Prompt, name: str) -> None:
        self.model, self.prompt, self.name = model, prompt, name

    def candidates(self, sections: Iterable[Any], found: Iterable[str]) -> tuple[list[str], list[Any]]:
        """(missing fact types, the clauses whose heading or text names their topic)."""
        have = set(found)
        missing = [t for t in _ASKABLE if t not in have]
        clauses: list[Any] = []
        for section in sections:
            heading = (getattr(section, "heading_path", None) or [""])[-1]
            if any(re.search(_ASKABLE[t][2], heading) or re.search(_ASKABLE[t][2], section.text[:200]) for t in missing):
                clauses.append(section)
        return missing, clauses[:_MAX_CLAUSES]

    def propose(self, sections: list[Any], found: list[Fact], chunk_of: dict[str, str] | None = None) -> list[Fact]:
        missing, clauses = self.candidates(sections, [f.type for f in found])
        if not missing or not clauses:
            return []
        shown = {s.locator: normalise(s.text)[:_MAX_CHARS] for s in clauses}
        facts = "\n".join(f"- {t}：{TYPES[t].label}（单位：{'、'.join(_ASKABLE[t][0])}）" for t in missing)
        body = "\n".join(f'<clause locator="{loc}">\n{text}\n</clause>' for loc, text in shown.items())
        system, user = self.prompt.render(facts=facts, clauses=body)
        try:
            reply = self.model.invoke([("system", system), ("human", user)])
        except Exception as exc:  # the model is optional: the rules' facts stand
            logger.warning("fact proposals skipped: %s", exc)
            return []
        kept: list[Fact] = []
        for proposal in _json_lines(message_text(reply)):
            fact = self.check(proposal, missing, shown, chunk_of or {})
            if fact and all(f.type != fact.type for f in kept):
                kept.append(fact)
        return kept

    def check(self, p: dict[str, Any], missing: list[str], shown: dict[str, str], chunk_of: dict[str, str]) -> Fact | None:
        """The proposal as a fact, or None when its clause does not state it."""
        kind, locator, quote = str(p.get("type", "")), str(p.get("locator", "")), re.sub(r"\s+", "", str(p.get("quote", "")))
        if kind not in missing or locator not in shown or not quote or quote not in re.sub(r"\s+", "", shown[locator]):
            return None
        units, display, _ = _ASKABLE[kind]
        unit = str(p.get("unit", ""))
        try:
            value = q.number(str(p.get("value", "")))
        except ValueError:
            return None
        if unit not in units:
            return None
        stated = {q.number(n) for n in re.findall(rf"({q.NUM}){re.escape(unit)}", quote)}
        if value not in stated:  # the quote states this number with this unit (90日, 六十天, 80%)
            return None
        n = q.exact(value * 10_000 if unit == "万元" else value)  # amounts are stored in yuan
        return Fact(type=kind, value=n, display=display.format(n=n), raw=quote, locator=locator,
                    chunk_id=chunk_of.get(locator), extracted_by=f"model:{self.name}")


def _json_lines(text: str) -> list[dict[str, Any]]:
    out = []
    for m in re.finditer(r"\{[^{}]*\}", text):
        try:
            item = json.loads(m.group(0))
        except json.JSONDecodeError:
            continue
        if isinstance(item, dict):
            out.append(item)
    return out
