"""Request and response models of the HTTP API (docs/contract.md).

Routes whose data comes from a store's open-ended record (audit records, a product's catalog
properties, the overview's picture) declare the fields they know and allow the rest, and are
served with ``response_model_exclude_unset`` so that the JSON is the record as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from domain.facts import CRITERIA, Criterion
from ingest.status_sync import StatusChange

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
    """``discontinued_product`` (contract.md) or ``regulation_not_in_force`` (a cited regulation that is
    repealed or not yet effective: ``doc_id``, ``title``, ``effective``, ``repealed_by``; product fields null)."""

    model_config = ConfigDict(extra="allow")
    kind: str
    product_id: str | None
    name: str | None
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
    product_id: str | None  # the product whose document this is, or that a claim case concerns
    product_status: str | None = None  # that product's sale status now (a case raises no flag, its citation shows this)
    filing_no: str | None = None  # a wording's filing number (利安人寿[2021]医疗保险011号), with the citation
    regulation_status: str | None = None  # a regulation's: in_force, repealed, not_yet_effective
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


class ProductFilters(BaseModel):
    """``GET /v1/products``'s query: category, status, insurer, and one parameter per matching
    criterion of the fact-type table (``ProductQuery`` adds those)."""

    category: str | None = None
    status: str | None = Field(None, description="on_sale (default), discontinued, suspended, a comma list, or any")
    insurer: str | None = None

    def limits(self) -> dict[str, Any]:
        """The matching criteria's values, keyed by parameter (None when not given)."""
        return {name: value for name, value in self.model_dump().items() if name not in ProductFilters.model_fields}


def _criteria_query() -> type[ProductFilters]:
    fields: dict[str, Any] = {
        c.param: (c.kind | None, Field(None, ge=c.ge, le=c.le, description=_meaning(c))) for _, c in CRITERIA
    }
    return create_model("ProductQuery", __base__=ProductFilters, **fields)


def _meaning(c: Criterion) -> str:
    if c.kind is bool:
        yes, no = c.phrase.split("|")
        return f"true: {yes}; false: {no}"
    return c.phrase.format("N")


if TYPE_CHECKING:
    ProductQuery = ProductFilters
else:
    ProductQuery = _criteria_query()


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
    filing_no: str | None = None  # the filing number printed on a wording
    superseded_by: str | None = None  # an earlier filing: the doc_id of the filing that replaced it


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
    filings: list[str] = []  # the wording's filing numbers, oldest first; the last one is current
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


# --- responses ------------------------------------------------------------------------------


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str]


class ChatMessageOut(BaseModel):
    role: str
    content: str


class ChatChoice(BaseModel):
    index: int
    message: ChatMessageOut
    finish_reason: str | None


class ChatUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatExtra(BaseModel):
    """What a bot needs besides the text: citations and flags, as in ``POST /v1/ask``."""

    citations: list[CitationOut] = []
    flags: list[FlagOut] = []
    mode: str | None = None
    resolved_question: str | None = None


class ChatCompletionResponse(BaseModel):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: ChatUsage
    brokerkg: ChatExtra


class AuditSource(BaseModel):
    doc_id: str | None = None
    locator: str | None = None


class AuditRecord(BaseModel):
    """One line of the audit log; records written by other versions may carry other fields."""

    model_config = ConfigDict(extra="allow")

    seq: int | None = None
    time: str | None = None
    key_id: str | None = None
    role: str | None = None
    method: str | None = None
    endpoint: str | None = None
    path: str | None = None
    status: int | None = None
    client: str | None = None
    question: str | None = None
    sources: list[AuditSource] | None = None
    flags: list[str] | None = None
    request_id: str | None = None
    prev: str | None = None
    hash: str | None = None


class AuditPage(BaseModel):
    records: list[AuditRecord]
    count: int


class FactSource(BaseModel):
    """The clause that states a fact, and its sentence."""

    doc_id: str | None = None
    title: str | None = None
    locator: str | None = None
    chunk_id: str | None = None
    text: str | None = None


class ComparisonCell(BaseModel):
    display: str | None = None
    value: Any = None
    citation: FactSource


class ComparisonRow(BaseModel):
    fact: str
    label: str
    unit: str
    cells: list[ComparisonCell | None]  # one per product, None where its clauses do not state the fact


class ComparedProduct(BaseModel):
    product_id: str
    name: str | None = None
    insurer: str | None = None
    category: str | None = None
    status: str | None = None


class Comparison(BaseModel):
    products: list[ComparedProduct]
    rows: list[ComparisonRow]
    flags: list[FlagOut]


class Section(BaseModel):
    """A document section as read back from the index: its chunks' texts joined in order."""

    doc_id: str
    title: str | None = None
    locator: str
    heading: str
    text: str
    chunk_ids: list[str]


class ProductRecord(ProductOut):
    """The product's catalog properties as stored, e.g. with its status log."""

    model_config = ConfigDict(extra="allow")


class HistoryEvent(BaseModel):
    model_config = ConfigDict(extra="allow")

    date: str | None = None
    status: str | None = None
    source: str | None = None


class ArticleCitation(BaseModel):
    """A clause (``clause`` set) or a case citing a regulation's article."""

    doc_id: str
    clause: str | None = None
    article_key: str | None = None
    article: str | None = None
    law_key: str | None = None
    regulation_doc_id: str | None = None
    regulation_title: str | None = None


class CaseRef(BaseModel):
    doc_id: str
    title: str | None = None


class ProductRef(BaseModel):
    product_id: str
    name: str | None = None
    status: str | None = None


class ProductStatusOut(ProductRef):
    model_config = ConfigDict(extra="allow")

    effective_date: str | None = None
    discontinued_date: str | None = None
    successor_id: str | None = None
    successor_name: str | None = None
    successor_status: str | None = None


class OverviewGraph(BaseModel):
    """The page's picture: nodes (product, clause, article, case; fields by kind) and edges (from, to, kind)."""

    nodes: list[dict[str, Any]]
    edges: list[dict[str, str]]


class ProductOverview(BaseModel):
    product: ProductRecord
    history: list[HistoryEvent]
    clause_citations: list[ArticleCitation]
    cases: list[CaseRef]
    case_citations: list[ArticleCitation]
    predecessors: list[ProductRef]
    successor: ProductStatusOut | None
    clauses: list[Section]
    flags: list[FlagOut]
    graph: OverviewGraph


class DocumentInfo(BaseModel):
    doc_id: str
    title: str | None = None
    doc_type: str | None = None
    product_id: str | None = None
    audience: str | None = None
    ingested_at: str | None = None
    version: str | None = None
    filing_no: str | None = None  # a wording's filing number (利安人寿[2024]疾病保险043号)
    regulation: dict[str, Any] | None = None  # a regulation's level, doc_no, dates and status


class DocumentOut(DocumentInfo):
    sections: list[Section]


class VersionSummary(BaseModel):
    version: str
    ingested_at: str | None = None
    sections: int
    current: bool


class DocumentVersions(BaseModel):
    doc_id: str
    versions: list[VersionSummary]


class VersionRef(BaseModel):
    version: str
    ingested_at: str | None = None


class VersionSection(BaseModel):
    model_config = ConfigDict(extra="allow")

    locator: str
    heading: str | None = None
    text: str


class SectionChange(BaseModel):
    locator: str
    old: str
    new: str
    diff: str  # unified diff of the section's lines


class VersionDiff(BaseModel):
    """Sections added, removed and changed between two versions (of a document, or filings of a wording)."""

    model_config = ConfigDict(populate_by_name=True)

    from_: VersionRef = Field(alias="from")
    to: VersionRef
    added: list[VersionSection]
    removed: list[VersionSection]
    changed: list[SectionChange]
    unchanged: int


class DocumentDiff(VersionDiff):
    doc_id: str


class FilingDiff(VersionDiff):
    """Between two filings of a product's wording; the versions are filing numbers."""

    product_id: str


class Deleted(BaseModel):
    deleted: str  # the doc_id removed


class IngestReportOut(BaseModel):
    ingested: list[str]
    unchanged: list[str]
    skipped: list[str]  # "path: reason"
    failed: list[str]  # "path: reason"
    chunks: int
    doc_ids: dict[str, str]  # path → doc_id


class StatusSyncRequest(BaseModel):
    """A stop-sale list to apply: a file on the server (``path``, loopback callers only) or its
    ``content`` sent in the body (``format`` json, csv or html; guessed when left out)."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = None
    content: str | None = Field(None, max_length=5_000_000)
    format: Literal["json", "csv", "html"] | None = None
    source: str | None = Field(None, max_length=200, description="What to record as the change's source.")
    dry_run: bool = False


class StatusSyncOut(BaseModel):
    source: str
    dry_run: bool
    entries: int
    changed: list[StatusChange]  # the dataclass is the one definition of this shape
    unchanged: list[str]
    unmatched: list[str]
    ambiguous: list[str]


class CatalogReportOut(BaseModel):
    products: list[str]
    rejected: list[str]
    documents: IngestReportOut


class AlertRecipient(BaseModel):
    key_id: str | None = Field(description="the key that gets the alert; a cs_bot key's owner; null: a bot key without one")
    broker: str | None = Field(None, description="the broker a shared key or chat client named (X-Broker-ID), masked")
    via_key_id: str | None = Field(None, description="the cs_bot key that did the telling, when it is not the recipient")
    name: str = ""


class AuditRef(BaseModel):
    seq: int | None
    hash: str | None
    time: str | None
    endpoint: str | None


class AlertDelivery(BaseModel):
    url: str
    state: Literal["pending", "delivered", "dead"]
    attempts: int
    error: str | None = None
    at: str | None = None


class AlertOut(BaseModel):
    alert_id: str
    kind: Literal["stop_sale", "correction"]
    product_id: str
    name: str
    status: str
    since: str = Field(description="the day the product left (or, for a correction, returned to) sale")
    discontinued_date: str | None = None
    successor: SuccessorOut | None = None
    message: str = Field(description="已于2026-11-01停售（3天前）…: how recent, counted today")
    changed_at: str
    source: str
    created_at: str
    read_at: str | None = None
    recipient: AlertRecipient
    audit_records: list[AuditRef] = Field(description="the audit records of what the recipient was told")
    deliveries: list[AlertDelivery] | None = Field(None, description="webhook deliveries (scope=all only)")


class AlertQuery(BaseModel):
    scope: Literal["mine", "all"] = Field("mine", description="all: everyone's, with delivery state (compliance, admin)")
    unread: bool = Field(False, description="only the unread ones")
    limit: int = Field(100, ge=1, le=1000)


class AlertPage(BaseModel):
    unread: int
    alerts: list[AlertOut]


# --- compliance check ---------------------------------------------------------------------------

TextKind = Literal["message", "script", "poster", "comparison"]


class ComplianceCheckRequest(BaseModel):
    text: str = Field(min_length=1, max_length=20_000)
    kind: TextKind = "message"


class ComplianceCitationOut(BaseModel):
    role: Literal["breaks", "also", "contradicts"]
    doc_type: str
    doc_id: str | None
    title: str | None
    locator: str | None
    text: str | None
    product_id: str | None = None
    chunk_id: str | None = None
    fact: str | None = None
    display: str | None = None
    regulation_status: str | None = None  # the cited regulation's: in_force, not_yet_effective


class ComplianceSuccessorOut(BaseModel):
    product_id: str
    name: str | None
    status: str | None


class FindingOut(BaseModel):
    rule: str
    rule_version: str
    title: str
    check: Literal["conduct", "facts", "status"]
    severity: Literal["high", "medium", "low"]
    start: int
    end: int
    quote: str
    explanation: str
    matched_by: str
    score: float | None
    product_id: str | None
    product_name: str | None
    successor: ComplianceSuccessorOut | None
    citations: list[ComplianceCitationOut]


class ComplianceCheckOut(BaseModel):
    text: str
    kind: TextKind
    findings: list[FindingOut]
    flags: list[FlagOut]
    rules_version: str
    took_ms: float


class ComplianceRuleOut(BaseModel):
    id: str
    version: int
    rule_version: str
    title: str
    check: str
    severity: str
    explanation: str
    articles: list[dict[str, str]]
    applies_to: list[str]
    patterns: list[str]
    unless: list[str]
    acknowledge: list[str]
    selling: list[str]
    examples: list[str]
    counter_examples: list[str]
    similarity: float
    condition: str | None
    enabled: bool
    source: str
    model: bool = True  # the learned model may add findings of this rule and drop doubtful ones
    defer_to: list[str] = []  # rules whose finding over the same clause replaces this rule's
    article_status: list[dict[str, Any]] = []
    active: bool = True  # false when every article it rests on is repealed


class ComplianceModelOut(BaseModel):
    sha256: str
    rules: list[str]
    add: float = Field(description="a unit at or above this probability is a finding")
    veto: float = Field(description="a finding no covered unit reaches this probability for is dropped")
    embedder: str | None
    trained_on: list[str] | None
    texts: int | None


class ComplianceRulesOut(BaseModel):
    rules_version: str
    rules: list[ComplianceRuleOut]
    errors: list[str]
    model: ComplianceModelOut | None = None  # the learned model in use (model.npz)


class ComplianceRuleIn(BaseModel):
    yaml: str = Field(min_length=1, max_length=100_000, description="The rule file's whole text (YAML).")
