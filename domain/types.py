"""The values ingest produces; graph and vector stores persist them, retrieval reads them back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from domain.regulations import RegulationMeta

DocType = Literal["regulation", "clause", "case"]
DOC_TYPES: tuple[DocType, ...] = ("regulation", "clause", "case")
Audience = Literal["public", "internal"]
AUDIENCES: tuple[Audience, ...] = ("public", "internal")

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm", ".docx", ".pdf")


@dataclass(frozen=True)
class Block:
    """One paragraph-level element read from a file, in reading order."""

    text: str
    kind: Literal["heading", "text", "list", "table"] = "text"
    level: int | None = None  # heading depth when the format says so (Markdown #, DOCX Title)


@dataclass
class Section:
    """A unit with its own locator: an article (第十六条), a clause section (2.1), a case section (争议焦点)."""

    locator: str
    heading_path: list[str]
    paragraphs: list[str]

    @property
    def text(self) -> str:
        return "\n".join(self.paragraphs)


@dataclass(frozen=True)
class Reference:
    """A citation of a regulation's article found in a document, e.g. 《中华人民共和国保险法》第十六条."""

    law_key: str  # normalised law name, see domain.refs.law_key
    article: str  # as 第十六条
    from_locator: str  # the section of the citing document


@dataclass
class Chunk:
    chunk_id: str
    doc_id: str
    doc_type: DocType
    title: str
    locator: str
    heading: str
    text: str
    product_id: str | None
    audience: Audience
    position: int
    version: str
    filing_no: str | None = None  # the wording's filing number, shown with its citations

    def payload(self) -> dict[str, object]:
        return {
            "chunk_id": self.chunk_id,
            "doc_id": self.doc_id,
            "doc_type": self.doc_type,
            "title": self.title,
            "locator": self.locator,
            "heading": self.heading,
            "text": self.text,
            "product_id": self.product_id,
            "audience": self.audience,
            "position": self.position,
            "version": self.version,
            "filing_no": self.filing_no,
        }

    def embedding_text(self) -> str:
        """What the dense model sees: the passage with its document and place, so short passages keep context."""
        head = " ".join(p for p in (self.title, self.heading, self.locator) if p)
        return f"{head}\n{self.text}"


@dataclass
class Document:
    doc_id: str
    doc_type: DocType
    title: str
    source: str  # path as given
    content_hash: str
    audience: Audience
    product_id: str | None
    sections: list[Section]
    chunks: list[Chunk] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    law_key: str | None = None  # regulations only: the key other documents cite it by
    mentioned_products: list[str] = field(default_factory=list)  # cases: products the text names
    cross_refs: list[tuple[str, str]] = field(default_factory=list)  # wordings: (clause, the clause it points to)
    facts: list[Any] = field(default_factory=list)  # clause wordings: ingest.facts.Fact values
    encoding: str | None = None
    filing_no: str | None = None  # a wording's filing number as printed above its title (利安人寿[2024]疾病保险043号)
    regulation: RegulationMeta | None = None  # regulations only: level, number, dates, the rules it repeals

    @property
    def version(self) -> str:
        return self.content_hash[:12]


class ProductNamer(Protocol):
    """Names catalog products in a text (a wording's title, a case's body). Retrieval's linker is
    one; ingest depends only on this, so parsing is testable with a plain function's worth of fake."""

    def products_named(self, text: str) -> list[str]:
        """Product ids named in ``text``, in order of appearance; exact names and aliases only."""
        ...

    def invalidate(self) -> None:
        """The catalog or the documents changed: cached names must be re-read."""
        ...
