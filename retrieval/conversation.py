"""Conversations: follow-up questions resolved against the previous turn.

"那它的等待期呢？" after a question about 康宁2019 becomes "瑞禾康宁终身重大疾病保险（2019版）的等待期呢？"
before retrieval. A question that names its own product or law is left alone; one that names
nothing inherits what the previous turn was about when it reads like a follow-up (a pronoun,
那/那么/还有…, …呢, or simply very short).

Turns are kept in memory (bounded, expiring; with ``serve --workers`` in the process owning the data dir): they hold product ids, names and
law titles, never the answer text or personal data.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

_PRONOUN = re.compile(r"它的|它|这款产品|这个产品|该产品|这款|这个险|该险种|这个条款|该条款|这部法|该法|这条")
_FOLLOW_UP = re.compile(r"^(?:那|那么|还有|另外|再问|再说|顺便)|呢[？?]?\s*$")
SHORT = 10  # a question this short that names nothing is a follow-up


@dataclass
class Turn:
    question: str
    product_ids: list[str] = field(default_factory=list)
    product_names: list[str] = field(default_factory=list)
    law_titles: list[str] = field(default_factory=list)


@dataclass
class Conversation:
    id: str
    turns: list[Turn] = field(default_factory=list)
    touched: float = field(default_factory=time.monotonic)


class ConversationStore:
    def __init__(self, max_conversations: int = 2000, max_turns: int = 20, ttl_s: float = 4 * 3600) -> None:
        self._items: OrderedDict[str, Conversation] = OrderedDict()
        self._lock = threading.Lock()
        self.max_conversations, self.max_turns, self.ttl_s = max_conversations, max_turns, ttl_s

    def get(self, conversation_id: str | None) -> Conversation:
        """The conversation with this id (a new one under it when it is unknown or expired), or a new
        one with an id of its own; kept as the most recently touched."""
        with self._lock:
            return self._take(conversation_id or uuid.uuid4().hex)

    def _take(self, conversation_id: str) -> Conversation:
        now = time.monotonic()
        # oldest touched first (a touched conversation moves to the end): expired ones are a prefix
        while self._items and now - next(iter(self._items.values())).touched > self.ttl_s:
            self._items.popitem(last=False)
        conv = self._items.pop(conversation_id, None) or Conversation(conversation_id)
        conv.touched = now
        self._items[conv.id] = conv
        while len(self._items) > self.max_conversations:
            self._items.popitem(last=False)
        return conv

    def add(self, conv: Conversation, turn: Turn) -> None:
        with self._lock:
            conv.turns.append(turn)
            del conv.turns[: -self.max_turns]

    def add_to(self, conversation_id: str, turn: Turn, keep: bool = False) -> None:
        """``add`` by id, for a turn answered in another process (brokerkg/shared.py); ``keep``: the
        first turn of a conversation that process began, kept here from now on."""
        with self._lock:
            if keep:
                conv = self._take(conversation_id)
            else:
                found = self._items.get(conversation_id)
                if found is None:  # expired meanwhile, or one this store never handed out (a chat completion's)
                    return
                conv = found
                conv.touched = time.monotonic()
                self._items.move_to_end(conversation_id)
        self.add(conv, turn)


def resolve(question: str, names_something: bool, previous: Turn | None) -> str:
    """The question to retrieve with: unchanged, or with the previous turn's subject put in."""
    if names_something or previous is None:
        return question
    subject = "、".join(previous.product_names or previous.law_titles)
    if not subject:
        return question
    if _PRONOUN.search(question):
        return _PRONOUN.sub(lambda m: subject + ("的" if m.group(0).endswith("的") else ""), question, count=1)
    if _FOLLOW_UP.search(question) or len(question) <= SHORT:
        body = re.sub(r"^(?:那么|那|还有|另外|再问|再说|顺便)[，,\s]*", "", question)
        return f"{subject}的{body}"
    return question
