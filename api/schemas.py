"""Request and response models of the HTTP API (docs/contract.md)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DocTypeName = Literal["regulation", "clause", "case"]
Status = Literal["on_sale", "discontinued", "suspended"]


Audience = Literal["broker", "cs_bot", "compliance"]


class AskRequest(BaseModel):
    question: str = Field(min_length=1, max_length=2000)
    top_k: int = Field(5, ge=1, le=50)
    conversation_id: str | None = Field(None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    stream: bool = False
    audience: Audience = "broker"


class SuccessorOut(BaseModel):
    product_id: str
    name: str


class FlagOut(BaseModel):
    kind: str
    product_id: str
    name: str
    status: str
    discontinued_date: str | None
    replaced_by: SuccessorOut | None
    message: str


class SearchRequest(BaseModel):
    query: str = Field(min_length=1, max_length=2000)
    doc_types: list[DocTypeName] | None = None
    top_k: int = Field(10, ge=1, le=100)
    # compliance filters on the products clauses belong to (any given filter limits hits to clauses)
    insurers: list[str] | None = None
    product_ids: list[str] | None = None
    statuses: list[Status] | None = None
    effective_from: str | None = Field(None, description="products on sale from this ISO date or later")
    effective_to: str | None = Field(None, description="products on sale from this ISO date or earlier")


class HitOut(BaseModel):
    doc_id: str
    doc_type: str
    title: str
    locator: str
    text: str
    product_id: str | None
    score: float


class CitationOut(HitOut):
    n: int


class SearchResponse(BaseModel):
    hits: list[HitOut]
    flags: list[FlagOut] = []
    total: int = 0
    terms: list[str] = []  # words to highlight: the query's words and their synonyms


class ProductSummary(BaseModel):
    product_id: str
    name: str
    insurer: str | None = None
    category: str | None = None
    status: str
    effective_date: str | None = None
    discontinued_date: str | None = None
    successor_id: str | None = None
    successor_name: str | None = None


class FactCitation(BaseModel):
    fact: str | None = None
    display: str | None = None
    doc_id: str | None = None
    title: str | None = None
    locator: str | None = None
    chunk_id: str | None = None
    text: str | None = None


class ProductMatch(ProductSummary):
    """A product in a catalog listing; with matching criteria, the facts that qualified it (cited)."""

    matched_facts: list[FactCitation] = Field(default_factory=list)
    flags: list[dict[str, Any]] = Field(default_factory=list)


class CompareRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_ids: list[str] = Field(min_length=2, max_length=6)


class AskResponse(BaseModel):
    answer: str
    citations: list[CitationOut]
    flags: list[FlagOut]
    took_ms: float
    mode: Literal["extractive", "generated"] = "extractive"
    conversation_id: str | None = None
    resolved_question: str | None = None
    table: dict[str, Any] | None = None


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, object]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(str(part.get("text", "")) for part in self.content if isinstance(part, dict))
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat completions request; fields we do not use (temperature, …) are accepted and ignored."""

    model: str = "brokerkg"
    messages: list[ChatMessage] = Field(min_length=1, max_length=100)
    stream: bool = False
    top_k: int = Field(5, ge=1, le=20)


class ProductDocument(BaseModel):
    doc_id: str
    title: str


class ProductOut(BaseModel):
    product_id: str
    name: str
    insurer: str
    category: str | None = None
    status: str
    effective_date: str | None = None
    discontinued_date: str | None = None
    replaced_by: str | None = None
    aliases: list[str] = []
    documents: list[ProductDocument] = []


class ProductPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Status | None = None
    discontinued_date: str | None = None
    replaced_by: str | None = None


class IngestRequest(BaseModel):
    paths: list[str] = Field(min_length=1)
    type: Literal["auto", "regulation", "clause", "case"] = "auto"
    audience: Literal["public", "internal"] = "public"


class DocumentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    audience: Literal["public", "internal"]


class CatalogImportRequest(BaseModel):
    path: str


class Health(BaseModel):
    status: str
