"""The answer stage: prepared evidence → one stream of events, whatever kind of answer it is.

Events: ``token``… (or ``replace`` when a streamed model answer fails verification), then
``citations``, ``flags``, ``done``. Facts answers (comparison, matching), generated answers
(verified sentence by sentence, extractive when too little survives), status answers and
abstentions all go through ``Answerer.events``; a non-streaming ask collects the stream, whose
return value is the ``Answer``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator as Events
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from domain.mask import mask_pii
from graph.store import GraphStore
from index.analyzer import Analyzer
from index.vectors.base import VectorIndex
from retrieval.analysis import Query
from retrieval.answer import compose, numbered, status_lines, warning_lines
from retrieval.conversation import Conversation, ConversationStore, Turn
from retrieval.flags import product_flags
from retrieval.generate import Generator
from retrieval.linking import LinkedQuestion
from retrieval.product_facts import facts_answer
from retrieval.types import Answer, Citation, Evidence, Flag

logger = logging.getLogger(__name__)

Event = dict[str, Any]


@dataclass
class Prepared:
    """Everything before composing: the query, its evidence (or why there is none), the flags."""

    query: Query
    evidence: list[Evidence]
    flags: list[Flag]
    reason: str | None
    status: bool
    resolved: str | None
    facts: Answer | None = None  # a comparison or matching question, answered from the product facts
    started: float = field(default_factory=time.perf_counter)  # when preparing began: took_ms counts from here

    def sources(self) -> dict[str, Any]:
        """What the answer will draw on, for the audit record: citations (doc, locator) and flagged product ids."""
        return {
            "citations": [{"doc_id": ev.doc_id, "locator": ev.locator} for ev in self.evidence],
            "flags": [f.to_dict() for f in self.flags],
        }

    @property
    def generatable(self) -> bool:
        """A model may write this answer: there is evidence and it is not a catalog (status or facts) answer."""
        return bool(self.evidence) and not self.reason and not self.status and self.facts is None


def collect(events: Events[Event, None, Answer]) -> Answer:
    """Run an answer stream to its end; its return value is the answer."""
    while True:
        try:
            next(events)
        except StopIteration as stop:
            answer: Answer = stop.value
            return answer


class Answerer:
    def __init__(self, graph: GraphStore, index: VectorIndex, analyzer: Analyzer) -> None:
        self.graph = graph
        self.index = index
        self.analyzer = analyzer

    def events(
        self, p: Prepared, started: float, *, model: Generator | None, audience: str, incremental: bool,
        conversation: Conversation | None, conversations: ConversationStore | None,
    ) -> Events[Event, None, Answer]:
        """``model``: None answers extractively; ``incremental`` streams the model's reply sentence by
        sentence (otherwise one call, then its lines). ``started``: when the request began (took_ms)."""
        if p.facts is not None:
            answer = p.facts
            answer.took_ms = (time.perf_counter() - started) * 1000
            yield from _tokens(answer.answer)
            yield from _closing(answer)
            return answer
        if p.generatable and model is not None:
            write = self._streamed if incremental else self._generated
            answer = yield from write(p, model, audience)
        else:
            answer = self._extractive(p)
            yield from _tokens(answer.answer)
        answer.took_ms = (time.perf_counter() - started) * 1000
        self._finish(p, answer, conversation, conversations)
        yield from _closing(answer)
        return answer

    def _generated(self, p: Prepared, model: Generator, audience: str) -> Events[Event, None, Answer]:
        verified = model.generate(p.query.text, p.evidence, audience)
        if verified.fallback:
            answer = self._extractive(p)
        else:
            text = mask_pii("\n".join([*warning_lines(p.flags), verified.text]))
            answer = Answer(text, numbered(p.evidence), p.flags, 0.0, mode="generated")
        yield from _tokens(answer.answer)
        return answer

    def _streamed(self, p: Prepared, model: Generator, audience: str) -> Events[Event, None, Answer]:
        warnings = [line + "\n" for line in warning_lines(p.flags)]
        for w in warnings:
            yield {"event": "token", "text": w}
        streamed: list[str] = []
        final = None
        for sentence, running in model.stream(p.query.text, p.evidence, audience):
            final = running
            if sentence:
                streamed.append(mask_pii(sentence))
                yield {"event": "token", "text": streamed[-1]}
        if final is not None and not final.fallback:
            text = "".join([*warnings, *streamed]).strip()
            return Answer(text, numbered(p.evidence), p.flags, 0.0, mode="generated")
        answer = self._extractive(p)
        yield {"event": "replace", "text": answer.answer}
        return answer

    def _extractive(self, p: Prepared) -> Answer:
        text, citations = self.extractive(p)
        return Answer(text, citations, p.flags, 0.0)

    def extractive(self, p: Prepared) -> tuple[str, list[Citation]]:
        """Quoted sentences with their [n]; the catalog's lines for a status question; 未找到依据 and why."""
        q = p.query
        if p.status:
            rows = self.graph.product_status(q.linked.product_ids)
            first = sorted(p.evidence, key=lambda ev: int(ev.payload.get("position") or 0))[:1]
            return compose(q.text, first, p.flags, self.analyzer, lead=status_lines(rows))
        if p.reason:
            return compose(q.text, [], p.flags, self.analyzer, reason=p.reason)
        return compose(q.text, p.evidence, p.flags, self.analyzer, unit=q.intent.unit, words=q.words())

    def _finish(
        self, p: Prepared, answer: Answer, conversation: Conversation | None, conversations: ConversationStore | None
    ) -> None:
        answer.resolved_question = p.resolved
        linked = p.query.linked
        if conversation is not None and conversations is not None:
            answer.conversation_id = conversation.id
            names = [ref.name for ref in linked.products]
            conversations.add(conversation, Turn(p.query.text, linked.product_ids, names, list(p.query.law_titles)))
        logger.info(
            "ask: %s, %d citations, %d flags, %.0f ms (question %d chars)%s",
            answer.mode, len(answer.citations), len(answer.flags), answer.took_ms, len(p.query.text),
            " abstained" if p.reason else "",
        )

    def facts(
        self, text: str, linked: LinkedQuestion, audiences: tuple[str, ...],
        conversation: Conversation | None, conversations: ConversationStore | None,
    ) -> Answer | None:
        """A comparison or matching question answered from the facts read from the clauses, each value
        cited; None for other questions. ``text`` is the masked question, ``linked`` its link."""
        result = facts_answer(self.graph, text, linked.product_ids)
        if result is None or not result["citations"]:
            return None
        evidence: list[Evidence] = []
        stored = {r.id: r for r in self.index.retrieve([c["chunk_id"] for c in result["citations"] if c.get("chunk_id")])}
        for c in result["citations"]:
            record = stored.get(c.get("chunk_id") or "")
            if record is None or (audiences and record.payload.get("audience") not in audiences):
                return None  # a value the caller may not see: the ordinary pipeline answers instead
            evidence.append(Evidence(record.id, record.payload, 0.0, 0.0, reasons=["fact"]))
        flags = product_flags(self.graph, [*linked.product_ids, *result["product_ids"]])
        body = "\n".join([*warning_lines(flags), *result["lines"]])
        answer = Answer(mask_pii(body), numbered(evidence), flags, 0.0, table=result["table"])
        if conversation is not None and conversations is not None:
            answer.conversation_id = conversation.id
            names = [ref.name for ref in linked.products]
            conversations.add(conversation, Turn(text, linked.product_ids, names, []))
        logger.info("ask: facts (%s), %d citations, %d flags", result["table"]["kind"], len(evidence), len(flags))
        return answer


def _tokens(text: str) -> Iterator[Event]:
    for line in text.splitlines(keepends=True):
        yield {"event": "token", "text": line}


def _closing(answer: Answer) -> Iterator[Event]:
    data = answer.to_dict()
    yield {"event": "citations", "citations": data["citations"]}
    yield {"event": "flags", "flags": data["flags"]}
    yield {"event": "done", **{k: v for k, v in data.items() if k not in ("citations", "flags")}}
