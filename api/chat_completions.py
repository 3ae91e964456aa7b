"""``POST /v1/chat/completions``: the OpenAI chat protocol for customer-service bots.

The last user message is the question; earlier user messages give the conversation its
subject (a bot sends the whole history each time, so no server-side state is needed). The
reply's content is the answer followed by a 参考来源 footer; citations and flags are also in
an extra ``brokerkg`` field. With ``stream: true`` the answer arrives as
``chat.completion.chunk`` events, the last one carrying ``brokerkg``, then ``[DONE]``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from api.schemas import ChatCompletionRequest
from domain.errors import InputError
from retrieval.conversation import Conversation, Turn


def footer(citations: list[dict[str, Any]]) -> str:
    if not citations:
        return ""
    lines = [f"[{c['n']}] 《{c['title']}》{c['locator']}" for c in citations]
    return "\n\n参考来源：\n" + "\n".join(lines)


def history(stack: Any, body: ChatCompletionRequest) -> tuple[str, Conversation]:
    users = [m.text().strip() for m in body.messages if m.role == "user" and m.text().strip()]
    if not users:
        raise InputError("messages: at least one user message with text is required")
    question = users[-1]
    if len(question) > 2000:
        raise InputError("messages: the last user message is longer than 2000 characters")
    conversation = Conversation(id=f"chatcmpl-{uuid.uuid4().hex[:12]}")
    retriever = stack.retriever
    for earlier in users[:-1][-5:]:
        linked = retriever.linker.link(earlier)
        if linked.products or linked.law_doc_ids:
            conversation.turns.append(
                Turn(earlier, linked.product_ids, [p.name for p in linked.products], retriever._law_titles(linked.law_doc_ids))
            )
    return question, conversation


def _extra(data: dict[str, Any]) -> dict[str, Any]:
    return {k: data[k] for k in ("citations", "flags", "mode", "resolved_question") if k in data}


def complete(stack: Any, body: ChatCompletionRequest, question: str, conversation: Conversation, prepared: Any) -> dict[str, Any]:
    data = stack.retriever.ask(question, top_k=body.top_k, audience="cs_bot", conversation=conversation, prepared=prepared).to_dict()
    content = data["answer"] + footer(data["citations"])
    return {
        "id": conversation.id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "brokerkg": _extra(data),
    }


def stream(stack: Any, body: ChatCompletionRequest, question: str, conversation: Conversation, prepared: Any) -> Iterator[str]:
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, extra: dict[str, Any] | None = None) -> str:
        payload: dict[str, Any] = {
            "id": conversation.id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": body.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        if extra is not None:
            payload["brokerkg"] = extra
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    done: dict[str, Any] = {}
    citations: list[dict[str, Any]] = []
    flags: list[dict[str, Any]] = []
    events = stack.retriever.ask_stream(question, top_k=body.top_k, audience="cs_bot", conversation=conversation, prepared=prepared)
    for event in events:
        kind = event["event"]
        if kind == "token":
            yield chunk({"content": event["text"]})
        elif kind == "replace":
            # The model's draft failed verification: what was streamed is withdrawn by the final answer below.
            yield chunk({"content": "\n\n（以下为依据原文的回答）\n" + event["text"]})
        elif kind == "citations":
            citations = event["citations"]
        elif kind == "flags":
            flags = event["flags"]
        elif kind == "done":
            done = event
    yield chunk({"content": footer(citations)})
    yield chunk({}, "stop", _extra({**done, "citations": citations, "flags": flags}))
    yield "data: [DONE]\n\n"

