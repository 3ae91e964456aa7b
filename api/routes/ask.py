"""Answers: ``POST /v1/ask`` (ours, JSON or server-sent events) and ``POST /v1/chat/completions``
(OpenAI's chat protocol, for customer-service bots; api/chat_completions.py shapes it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from api import chat_completions as cc
from api.deps import AskCaller, AuditDep, MetricsDep, StackDep
from api.schemas import AskRequest, AskResponse, ChatCompletionRequest, ChatCompletionResponse
from domain.errors import BrokerKGError
from retrieval.conversation import Conversation

router = APIRouter()

_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.post("/v1/ask", response_model=AskResponse)
def ask(body: AskRequest, who: AskCaller, stack: StackDep, audit: AuditDep, metrics: MetricsDep) -> Any:
    """The answer with numbered citations and discontinued-product flags; ``stream`` for events."""
    retriever = stack.retriever
    conversation = retriever.conversations.get(body.conversation_id) if retriever.conversations else None
    prepared = retriever.prepare(body.question, body.top_k, conversation, audiences=who.audiences)
    if body.stream:
        audit.answered(body.question, prepared.sources(), named=_products(prepared))
        events = retriever.ask_stream(
            body.question, top_k=body.top_k, audience=body.audience, conversation=conversation, prepared=prepared
        )
        return StreamingResponse(_sse(events, conversation), media_type="text/event-stream", headers=_SSE_HEADERS)
    data = retriever.ask(
        body.question, top_k=body.top_k, audience=body.audience, conversation=conversation, prepared=prepared
    ).to_dict()
    audit.answered(body.question, data, named=_products(prepared))
    metrics.observe_answer(data)
    return data


@router.post("/v1/chat/completions", response_model=ChatCompletionResponse, response_model_exclude_unset=True)
def chat_completions(body: ChatCompletionRequest, who: AskCaller, stack: StackDep, audit: AuditDep) -> Any:
    """The last user message answered as a cs_bot would be; ``stream`` for ``chat.completion.chunk`` events."""
    question, conversation = cc.history(stack, body)
    prepared = stack.retriever.prepare(question, body.top_k, conversation, audiences=who.audiences)
    if body.stream:
        audit.answered(question, prepared.sources(), named=_products(prepared))
        chunks = cc.stream(stack, body, question, conversation, prepared)
        return StreamingResponse(chunks, media_type="text/event-stream", headers=_SSE_HEADERS)
    data = cc.complete(stack, body, question, conversation, prepared)
    audit.answered(question, data["brokerkg"], named=_products(prepared))
    return data


def _products(prepared: Any) -> list[str]:
    """The products the question names and whose own clauses the answer draws on (for the audit record)."""
    clauses = [ev.product_id for ev in prepared.evidence if ev.product_id and ev.doc_type == "clause"]
    return [*prepared.query.linked.product_ids, *clauses]


def _sse(events: Iterator[dict[str, Any]], conversation: Conversation | None) -> Iterator[str]:
    """Server-sent events: ``meta``, then ``token``… (or ``replace``), ``citations``, ``flags``, ``done``."""
    if conversation is not None:
        yield f"event: meta\ndata: {json.dumps({'conversation_id': conversation.id})}\n\n"
    try:
        for event in events:
            kind = event.pop("event")
            yield f"event: {kind}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"
    except BrokerKGError as exc:  # the stream has started: the error becomes an event, in the error shape
        error = {"error": {"code": exc.code, "message": str(exc)}}
        yield f"event: error\ndata: {json.dumps(error, ensure_ascii=False)}\n\n"
