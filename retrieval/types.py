"""Values retrieval passes around and returns."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

from domain.text import join_spread


@functools.lru_cache(maxsize=4096)
def _joined(text: str) -> str:
    """join_spread of a chunk's text, kept for the chunks retrieved again (each question makes new
    Evidence; under load this was a tenth of the time the GIL was held)."""
    return join_spread(text)


@dataclass
class Evidence:
    """One retrieved chunk with the scores that ranked it."""

    chunk_id: str
    payload: dict[str, Any]
    score: float = 0.0
    fused: float = 0.0
    reasons: list[str] = field(default_factory=list)
    features: dict[str, float] = field(default_factory=dict)
    _plain: str | None = field(default=None, repr=False, compare=False)

    @property
    def doc_id(self) -> str:
        return str(self.payload["doc_id"])

    @property
    def doc_type(self) -> str:
        return str(self.payload["doc_type"])

    @property
    def locator(self) -> str:
        return str(self.payload.get("locator") or "")

    @property
    def text(self) -> str:
        return str(self.payload.get("text") or "")

    @property
    def plain(self) -> str:
        """The text with the PDF conversion's spread characters and broken lines joined: for matching and display."""
        if self._plain is None:
            self._plain = _joined(self.text)
        return self._plain

    @property
    def product_id(self) -> str | None:
        value = self.payload.get("product_id")
        return str(value) if value else None

    def hit(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "doc_type": self.doc_type,
            "title": self.payload.get("title", ""),
            "locator": self.locator,
            "text": self.text,
            "product_id": self.product_id,
            "product_status": self.payload.get("product_status"),
            "filing_no": self.payload.get("filing_no"),
            "score": round(1.0 - math.exp(-max(0.0, self.score)), 4),
            **({"regulation_status": self.payload["regulation_status"]} if self.payload.get("regulation_status") else {}),
        }


@dataclass
class Citation:
    n: int
    evidence: Evidence

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, **self.evidence.hit()}


DISCONTINUED_PRODUCT = "discontinued_product"
REGULATION_NOT_IN_FORCE = "regulation_not_in_force"


@dataclass
class Flag:
    """A warning on an answer. ``discontinued_product``: a product off sale (its dict is the contract's,
    unchanged). ``regulation_not_in_force``: a cited regulation that is repealed or not yet effective;
    its product fields are null (clients reading ``product_id`` see None) and it adds ``doc_id``,
    ``title``, ``effective`` and ``repealed_by``."""

    product_id: str | None
    name: str | None
    status: str
    discontinued_date: str | None
    replaced_by: dict[str, str] | None
    message: str
    kind: str = DISCONTINUED_PRODUCT
    doc_id: str | None = None
    title: str | None = None
    effective: str | None = None
    repealed_by: str | None = None

    @classmethod
    def regulation(cls, doc_id: str, title: str, status: str, effective: str | None, repealed_by: str | None,
                   message: str) -> Flag:
        return cls(None, None, status, None, None, message, REGULATION_NOT_IN_FORCE, doc_id, title, effective, repealed_by)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "product_id": self.product_id,
            "name": self.name,
            "status": self.status,
            "discontinued_date": self.discontinued_date,
            "replaced_by": self.replaced_by,
            "message": self.message,
        }
        if self.kind == REGULATION_NOT_IN_FORCE:
            out.update(doc_id=self.doc_id, title=self.title, effective=self.effective, repealed_by=self.repealed_by)
        return out


@dataclass
class Answer:
    answer: str
    citations: list[Citation]
    flags: list[Flag]
    took_ms: float
    mode: str = "extractive"  # or "generated" (a chat model wrote it; every sentence verified)
    conversation_id: str | None = None
    resolved_question: str | None = None  # the follow-up as retrieved (那它的等待期呢 → …康宁2019的等待期呢)
    table: dict[str, Any] | None = None  # comparison / matching answers: the facts as a table, cells cite [n]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "answer": self.answer,
            "citations": [c.to_dict() for c in self.citations],
            "flags": [f.to_dict() for f in self.flags],
            "took_ms": round(self.took_ms, 1),
            "mode": self.mode,
        }
        if self.conversation_id:
            out["conversation_id"] = self.conversation_id
        if self.resolved_question:
            out["resolved_question"] = self.resolved_question
        if self.table is not None:
            out["table"] = self.table
        return out


@dataclass(frozen=True)
class RetrievalConfig:
    prefetch: int = 60
    candidates: int = 40
    # Abstention (see abstain.py). The similarity floors belong to one embedding model's cosine scale.
    min_known_coverage: float = 0.34
    min_similarity: float = 0.85
    max_unknown_share: float = 0.45
    unknown_similarity: float = 0.895
    all_unknown_share: float = 0.85
    all_unknown_similarity: float = 0.92
    # Between min_similarity and this, the passages must cover most of the question, not one of its words.
    weak_similarity: float = 0.88
    weak_min_coverage: float = 0.70
    # A named product's own best passage at least this close: its wording need not share the question's words.
    own_product_similarity: float = 0.895
