"""Query understanding: which products and which regulation articles a question names."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

from graph.store import GraphStore, article_key
from ingest.refs import ARTICLE_NO, law_key, normalize_article

_ARTICLE_IN_QUESTION = re.compile(ARTICLE_NO)
_VERSION = re.compile(r"[（(]\s*(\d{4})\s*版?\s*[）)]")


def _norm(text: str) -> str:
    """Compare names ignoring spaces, brackets and case: 康宁（2019版） ≈ 康宁2019版 ≈ 康宁2019."""
    text = text.lower()
    text = _VERSION.sub(r"\1", text)
    return re.sub(r"[\s（）()《》〈〉“”\"'·・\-—_]|版(?=$|[^\u4e00-\u9fff])", "", text)


@dataclass
class ProductRef:
    product_id: str
    name: str
    matched: str


@dataclass
class LinkedQuestion:
    products: list[ProductRef] = field(default_factory=list)
    article_keys: list[str] = field(default_factory=list)
    law_doc_ids: list[str] = field(default_factory=list)

    @property
    def product_ids(self) -> list[str]:
        return [p.product_id for p in self.products]


class Linker:
    """Finds catalog products (names, aliases) and regulation articles in a question.

    The name lists are cached; ``invalidate()`` is called after catalog imports and ingests.
    Product status is never cached: flags read it from the graph on every request.
    """

    def __init__(self, graph: GraphStore) -> None:
        self.graph = graph
        self._lock = threading.Lock()
        self._products: list[tuple[str, str, str]] | None = None  # (normalised surface, product_id, name)
        self._laws: list[tuple[str, str, str]] | None = None  # (surface, law_key, doc_id)

    def invalidate(self) -> None:
        with self._lock:
            self._products = None
            self._laws = None

    def product_surfaces(self) -> list[str]:
        return [s for s, _, _ in self._load_products()]

    def product_words(self) -> list[str]:
        words: list[str] = []
        for row in self.graph.list_products():
            words.append(row["name"])
            words.extend(row.get("aliases") or [])
        return words

    def _load_products(self) -> list[tuple[str, str, str]]:
        with self._lock:
            if self._products is None:
                surfaces: list[tuple[str, str, str]] = []
                for row in self.graph.list_products():
                    names = [row["name"], *(row.get("aliases") or [])]
                    for name in names:
                        surface = _norm(name)
                        if len(surface) >= 2:
                            surfaces.append((surface, row["product_id"], row["name"]))
                # Longest first, so 康宁2023 wins over 康宁 when both are aliases.
                surfaces.sort(key=lambda s: -len(s[0]))
                self._products = surfaces
            return self._products

    def _load_laws(self) -> list[tuple[str, str, str]]:
        with self._lock:
            if self._laws is None:
                laws: list[tuple[str, str, str]] = []
                for row in self.graph.regulation_names():
                    for alias in [row["title"], *(row.get("aliases") or [])]:
                        if alias and row.get("law_key"):
                            laws.append((_norm(alias), row["law_key"], row["doc_id"]))
                laws.sort(key=lambda s: -len(s[0]))
                self._laws = laws
            return self._laws

    def link(self, question: str) -> LinkedQuestion:
        out = LinkedQuestion()
        normalized = _norm(question)
        seen: set[str] = set()
        consumed = normalized
        for surface, product_id, name in self._load_products():
            if surface in consumed:
                consumed = consumed.replace(surface, "\u0000")
                if product_id not in seen:
                    seen.add(product_id)
                    out.products.append(ProductRef(product_id, name, surface))
        self._link_laws(question, normalized, out)
        return out

    def _link_laws(self, question: str, normalized: str, out: LinkedQuestion) -> None:
        laws = self._load_laws()
        mentioned: list[tuple[int, str, str]] = []  # (position, law_key, doc_id)
        consumed = normalized
        for surface, key, doc_id in laws:
            pos = consumed.find(surface)
            if pos >= 0 and len(surface) >= 2:
                consumed = consumed.replace(surface, "\u0000" * len(surface))
                mentioned.append((pos, key, doc_id))
        for _, _key, doc_id in mentioned:
            if doc_id not in out.law_doc_ids:
                out.law_doc_ids.append(doc_id)
        articles = [normalize_article(m.group(1), m.group(2)) for m in _ARTICLE_IN_QUESTION.finditer(question)]
        if not articles:
            return
        if mentioned:
            keys = [k for _, k, _ in sorted(mentioned)]
        else:
            # "第十六条说什么" without a law: the insurance law is what brokers mean.
            keys = [law_key("中华人民共和国保险法")] if any(k == "保险法" for _, k, _ in laws) else []
        for key in keys[:2]:
            for article in articles:
                akey = article_key(key, article)
                if akey not in out.article_keys:
                    out.article_keys.append(akey)

