"""Query understanding: which products and which regulation articles a question names.

Products are found by their catalog names and aliases, leftmost-longest, after normalising
versions (康宁19版 ≈ 康宁2019 ≈ 康宁（2019版）). For a product family (names equal but for the
version year) the short names brokers use for any member (康宁, e生百万, 畅行意外) are combined
with each member's year, and a bare short name means the newest member. A fuzzy pass
(rapidfuzz) catches small misspellings of longer names when nothing matched exactly; both typo passes
look only at the names that could match (`_TypoIndex`), not at every name.

Laws are found by title and generated short names (保险法, 保险法解释三, 海上保险纠纷规定), after
rewriting abbreviations with the lexicon (交强险 → 机动车交通事故责任强制保险, 个保法 → …).
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from domain.files import Generation
from domain.names import filing_year, insurer_brand
from domain.numerals import cn_to_int, int_to_cn
from domain.refs import ARTICLE_NO, article_key, law_key, normalize_article
from graph.store import GraphStore
from retrieval.lexicon import Lexicon
from retrieval.variants import Family, VariantCheck, families, load_brands, pinyin
from retrieval.variants import check as check_variants

_ARTICLE_IN_QUESTION = re.compile(ARTICLE_NO)
_VERSION = re.compile(r"[（(]\s*(\d{4})\s*[年]?\s*版?\s*[）)]")
_SHORT_YEAR = re.compile(r"(?<!\d)(\d{2})(?=\s*年?\s*[版款])")
_YEAR_SUFFIX = re.compile(r"(\d{4})\s*年?\s*[版款]")
_YEAR = re.compile(r"(?:19|20)\d{2}")
_EDITION = re.compile(r"[（(]\s*([\u4e00-\u9fff]{2,4}[版款])\s*[）)]")
_DIGITS_APART = re.compile(r"(?<=\d)[\s\-—_~～，,、]+(?=\d)")
_PUNCT = re.compile(r"[\s（）()《》〈〉“”\"'·・\-—_，,。？?！!：:；;、]")
_CN = "零〇一二三四五六七八九十"
# Words that make a law's title long without making it more specific.
_LAW_BOILERPLATE = re.compile(r"中华人民共和国|最高人民法院|关于|审理|若干问题的|若干问题|案件")
_FUZZY_CUTOFF = 88.0


def _norm(text: str) -> str:
    """Compare names ignoring spaces, brackets, punctuation, case and how the version is written."""
    text = text.lower()
    text = _VERSION.sub(r"\1", text)
    text = _SHORT_YEAR.sub(lambda m: ("20" if int(m.group(1)) < 70 else "19") + m.group(1), text)
    text = _YEAR_SUFFIX.sub(r"\1", text)
    # numbers apart stay apart (畅行意外2018版 18-60岁 is not 畅行意外201818…, which names no version)
    text = _DIGITS_APART.sub("/", text)
    return _PUNCT.sub("", text)


def _strip_year(text: str) -> str:
    return _YEAR.sub("", text)


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
    # Article numbers the question asks for whose law is known but which that law does not have.
    missing_articles: list[str] = field(default_factory=list)
    product_spans: list[str] = field(default_factory=list)  # the question's words that named products

    @property
    def product_ids(self) -> list[str]:
        return [p.product_id for p in self.products]


@dataclass
class _Surface:
    text: str
    product_id: str
    name: str
    alone: bool = False  # only as a word of its own (金琪版, not 国寿福臻享版: another insurer's edition)


class Linker:
    """Finds catalog products (names, aliases) and regulation articles in a question.

    The name lists are cached; ``invalidate()`` is called after catalog imports and ingests.
    Product status is never cached: flags read it from the graph on every request.
    """

    def __init__(self, graph: GraphStore, lexicon: Lexicon | None = None, generation: Generation | None = None) -> None:
        """``generation``: the data dir's mark of catalog changes, shared by the processes that serve it."""
        self.graph = graph
        self.lexicon = lexicon or Lexicon.load()
        self._lock = threading.Lock()
        self._generation = generation
        self._seen = generation.current() if generation else b""
        self._products: dict[str, _Surface] | None = None
        self._product_lengths: list[int] = []
        self._typos = _TypoIndex({})
        self._filing_years: dict[str, set[str]] = {}
        self._filings: dict[str, list[str]] = {}
        self._families: dict[str, Family] = {}
        self._brands: tuple[str, ...] = ()
        self._family_rows: dict[str, list[dict[str, Any]]] = {}
        self._family_of: dict[str, str] = {}
        self._names: list[str] = []
        self._laws: dict[str, tuple[str, str]] | None = None  # surface → (law_key, doc_id)
        self._law_lengths: list[int] = []

    def invalidate(self) -> None:
        with self._lock:
            self._products = None
            self._laws = None
            if self._generation is not None:
                self._seen = self._generation.bump()  # the other processes serving this data dir reload too

    def changed_elsewhere(self) -> bool:
        """Did another process serving this data dir change the catalog since this one last looked?
        If so the name lists are dropped (reloaded at their next use) and True is returned once."""
        if self._generation is None:
            return False
        now = self._generation.current()
        with self._lock:
            if now == self._seen:
                return False
            self._seen, self._products, self._laws = now, None, None
            return True

    def product_words(self) -> list[str]:
        words: list[str] = []
        for row in self.graph.list_products():
            words.append(row["name"])
            words.extend(row.get("aliases") or [])
        return words

    def variants(self, question: str, linked: LinkedQuestion) -> VariantCheck:
        """Does the question name a sibling's variant the catalog lacks, or a family without its variant?"""
        self._load_products()
        return check_variants(question, self._families, [ref.name for ref in linked.products], self._names, self._brands,
                              tuple(linked.product_spans))

    def version_of(self, product_id: str, year: str) -> ProductRef | None:
        """The catalog's product of the same family (names equal but for the year) that is the ``year``
        version: a question naming 瑞和康宁重大疾病保险2019版 means the 2019 one, whichever member it linked."""
        self._load_products()
        family = self._family_of.get(product_id)
        for row in self._family_rows.get(family or "", []):
            if row["product_id"] != product_id and _product_year(row) == year:
                return ProductRef(row["product_id"], row["name"], _norm(row["name"]))
        return None

    def filings(self, product_id: str) -> list[str]:
        self._load_products()
        return self._filings.get(product_id, [])

    def filing_years(self, product_id: str) -> set[str]:
        """Years of the product's filings (利安人寿[2011]医疗保险038号 → 2011): versions it has."""
        self._load_products()
        return self._filing_years.get(product_id, set())

    # --- name tables --------------------------------------------------------------------------

    def _load_products(self) -> dict[str, _Surface]:
        with self._lock:
            if self._products is None:
                rows = self.graph.list_products()
                self._products = _product_surfaces(rows)
                self._families = families(rows)
                self._family_rows = {}
                for row in rows:
                    self._family_rows.setdefault(_strip_year(_norm(row["name"])), []).append(row)
                self._family_of = {row["product_id"]: _strip_year(_norm(row["name"])) for row in rows}
                catalog_brands = {insurer_brand(str(row.get("insurer") or "")) for row in rows}
                self._brands = tuple(sorted({*load_brands(), *(b for b in catalog_brands if len(b) >= 2)}, key=len, reverse=True))
                self._names = [n for row in rows for n in (row["name"], *(row.get("aliases") or []))]
                self._filings = {row["product_id"]: list(row.get("filings") or []) for row in rows}
                self._filing_years = {
                    row["product_id"]: {y for f in row.get("filings") or [] if (y := filing_year(f))}
                    for row in rows
                }
                self._product_lengths = sorted({len(s) for s in self._products}, reverse=True)
                self._typos = _TypoIndex(self._products)
            return self._products

    def _load_laws(self) -> dict[str, tuple[str, str]]:
        with self._lock:
            if self._laws is None:
                seen: dict[str, set[str]] = {}
                laws: dict[str, tuple[str, str]] = {}
                for row in self.graph.regulation_names():
                    if not row.get("law_key"):
                        continue
                    names = {row["title"], *(row.get("aliases") or []), *_law_short_names(row["title"], row["law_key"])}
                    for alias in names:
                        surface = _norm(alias)
                        if len(surface) < 3:
                            continue
                        seen.setdefault(surface, set()).add(row["law_key"])
                        laws[surface] = (row["law_key"], row["doc_id"])
                # A short name two laws share (司法解释三 with two laws' interpretations) names neither.
                self._laws = {s: v for s, v in laws.items() if len(seen[s]) == 1}
                self._law_lengths = sorted({len(s) for s in self._laws}, reverse=True)
            return self._laws

    # --- linking ------------------------------------------------------------------------------

    def products_named(self, text: str) -> list[str]:
        """Product ids named in ``text`` (exact names and aliases, no typo matching): ingest's ProductNamer."""
        return self.link(text, fuzzy=False).product_ids

    def link(self, question: str, *, fuzzy: bool = True) -> LinkedQuestion:
        out = LinkedQuestion()
        normalized = _norm(question)
        products = self._load_products()
        found = [(surface, surface.text) for surface in _scan(normalized, products, self._product_lengths)]
        if not found and fuzzy:
            typos = self._typos
            found = typos.homophones(normalized) or typos.misspelt(normalized)
        for surface, span in found:
            if surface.product_id not in out.product_ids:
                out.products.append(ProductRef(surface.product_id, surface.name, surface.text))
            out.product_spans.append(span)  # as the question wrote it (学幼重急b for 学幼重疾b)
        self._link_laws(question, out)
        return out

    def _link_laws(self, question: str, out: LinkedQuestion) -> None:
        laws = self._load_laws()
        raw = _norm(question)
        mentioned: list[tuple[str, str]] = []  # (law_key, doc_id) in question order
        # Names as written first (保险法解释二), then abbreviations rewritten in what is left (交强险条例).
        found = _scan(raw, laws, self._law_lengths)
        rest = raw
        for surface in found:
            rest = rest.replace(surface, " ")
        found += _scan(_norm(self.lexicon.canonicalize(rest)), laws, self._law_lengths)
        for surface in found:
            key, doc_id = laws[surface]
            if (key, doc_id) not in mentioned:
                mentioned.append((key, doc_id))
        for _, doc_id in mentioned:
            if doc_id not in out.law_doc_ids:
                out.law_doc_ids.append(doc_id)
        articles = [normalize_article(m.group(1), m.group(2)) for m in _ARTICLE_IN_QUESTION.finditer(question)]
        if not articles:
            return
        if mentioned:
            keys = [k for k, _ in mentioned]
        else:
            # "第十六条说什么" without a law: the insurance law is what brokers mean.
            default = law_key("中华人民共和国保险法")
            keys = [default] if any(k == default for k, _ in laws.values()) else []
        wanted = [article_key(key, article) for key in keys[:2] for article in articles]
        present = self.graph.article_chunks(wanted)
        for akey in wanted:
            if present.get(akey):
                if akey not in out.article_keys:
                    out.article_keys.append(akey)
            elif akey not in out.missing_articles:
                out.missing_articles.append(akey)


def _scan(text: str, table: dict[str, Any], lengths: list[int]) -> list[Any]:
    """Leftmost-longest, non-overlapping occurrences of the table's keys in ``text``."""
    found = []
    i = 0
    while i < len(text):
        for length in lengths:
            piece = text[i : i + length]
            if piece[-1:].isdigit() and text[i + length : i + length + 1].isdigit():
                continue  # "e生百万20" is not named in "e生百万2021": a number is not cut in two
            if len(piece) == length and piece in table:
                entry = table[piece]
                if isinstance(entry, _Surface) and entry.alone and i > 0 and "\u4e00" <= text[i - 1] <= "\u9fff":
                    continue
                found.append(table[piece] if isinstance(table[piece], _Surface) else piece)
                i += length
                break
        else:
            i += 1
    return found


class _TypoIndex:
    """Where a question may name a product with a typo, found without scanning every name.

    Homophones: names (≥ 4 characters) bucketed by their first two syllables, so a question
    looks up only the names that start with a syllable pair it contains. Misspellings:
    rapidfuzz scores all long names against the question in one C call, and only the names
    above the cut-off are aligned. Both choose exactly what a scan of the whole table would.
    """

    def __init__(self, table: dict[str, _Surface]) -> None:
        self._by_sounds: dict[tuple[str, ...], list[tuple[int, str, tuple[str, ...], _Surface]]] = {}
        for order, (surface, entry) in enumerate(table.items()):
            if len(surface) < 4:
                continue
            target = _surface_pinyin(surface)
            if target:
                self._by_sounds.setdefault(target[:2], []).append((order, surface, target, entry))
        self._long = [(surface, entry) for surface, entry in table.items() if len(surface) >= 5]
        # Each long name as character ids, end to end, for the count below.
        self._vocab: dict[str, int] = {}
        ids = [self._vocab.setdefault(ch, len(self._vocab)) for surface, _ in self._long for ch in surface]
        self._char_ids = np.array(ids, dtype=np.int32)
        self._lengths = np.array([len(surface) for surface, _ in self._long], dtype=np.int32)
        self._starts = np.concatenate(([0], np.cumsum(self._lengths)[:-1])).astype(np.int64)

    def homophones(self, text: str) -> list[tuple[_Surface, str]]:
        """A name written with a homophone (颐享年年珍享版 for 臻享版, 瑞和 for 瑞禾): the same syllables,
        most characters the same; the longest such name wins (the first in the table on a tie), with
        the question's words for it."""
        sounds = pinyin(text)
        best: tuple[int, int, int, _Surface] | None = None  # (-length, table order, position, entry)
        for i in range(len(sounds)):
            for order, surface, target, entry in self._by_sounds.get(sounds[i : i + 2], ()):
                n = len(target)
                if sounds[i : i + n] != target:
                    continue
                if sum(a == b for a, b in zip(text[i : i + n], surface, strict=False)) * 2 <= n:
                    continue
                candidate = (-len(surface), order, i, entry)
                if best is None or candidate[:3] < best[:3]:
                    best = candidate
        if best is None:
            return []
        n = len(_surface_pinyin(best[3].text))
        return [(best[3], text[best[2] : best[2] + n])]

    def misspelt(self, text: str) -> list[tuple[_Surface, str]]:
        """A misspelt long name (安康安享终生重大疾病保险): best partial match above the cut-off, same
        years, with the question's words for it."""
        from rapidfuzz import fuzz, process

        if not self._long:
            return []
        # A score of 88 needs most of the name's characters in the question: 0.88 of them against
        # a full window, at least 0.78 against a window cut short by the question's end. Names
        # longer than the question are scored the other way round and always kept.
        present = np.zeros(len(self._vocab) + 1, dtype=np.int32)
        present[[self._vocab[ch] for ch in set(text) if ch in self._vocab]] = 1
        shared = np.add.reduceat(present[self._char_ids], self._starts)
        keep = np.flatnonzero((shared >= np.floor(0.78 * self._lengths)) | (self._lengths > len(text)))
        names = [self._long[i][0] for i in keep]
        hits = process.extract(text, names, scorer=fuzz.partial_ratio, processor=None, score_cutoff=_FUZZY_CUTOFF,
                               limit=None)
        best: tuple[float, _Surface, str] | None = None
        for _, _, index in sorted(hits, key=lambda hit: hit[2]):  # table order: the first wins a tie
            surface, entry = self._long[keep[index]]
            hit = fuzz.partial_ratio_alignment(surface, text, score_cutoff=_FUZZY_CUTOFF)
            if hit is None:
                continue
            window = text[hit.dest_start : hit.dest_end]
            if set(_YEAR.findall(window)) != set(_YEAR.findall(surface)):
                continue  # 康宁2019 is not 康宁2023, however close the strings are
            if best is None or hit.score > best[0]:
                best = (hit.score, entry, window)
        return [(best[1], best[2])] if best else []


@functools.lru_cache(maxsize=20_000)
def _surface_pinyin(surface: str) -> tuple[str, ...]:
    return pinyin(surface)


def _product_surfaces(rows: list[dict[str, Any]]) -> dict[str, _Surface]:
    table: dict[str, _Surface] = {}
    families: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        names = [row["name"], *(row.get("aliases") or [])]
        for name in names:
            surface = _norm(name)
            if len(surface) >= 2:
                table.setdefault(surface, _Surface(surface, row["product_id"], row["name"]))
        families.setdefault(_strip_year(_norm(row["name"])), []).append(row)
    generated: dict[str, set[str]] = {}
    for members in families.values():
        if len(members) < 2:
            continue
        shorts: set[str] = set()
        for row in members:
            for alias in [row["name"], *(row.get("aliases") or [])]:
                short = _strip_year(_norm(alias)).removeprefix("老").removeprefix("新")
                if len(short) >= 2:
                    shorts.add(short)
        years = {row["product_id"]: _product_year(row) for row in members}
        for row in members:
            year = years[row["product_id"]]
            if not year:
                continue
            for short in shorts:
                for surface in (f"{short}{year}", f"{short}{year[2:]}", f"{year}{short}"):
                    generated.setdefault(surface, set()).add(row["product_id"])
        newest = max(members, key=lambda r: (r.get("status") == "on_sale", str(r.get("effective_date") or "")))
        for short in shorts:
            generated.setdefault(short, set()).add(newest["product_id"])
    # an edition's own name (利安鑫利来（金琪版）终身寿险 → 金琪版), when no other product has it,
    # written as a word of its own: other insurers name editions alike (国寿福臻享版)
    editions: dict[str, set[str]] = {}
    for row in rows:
        for m in _EDITION.finditer(row["name"]):
            editions.setdefault(_norm(m.group(1)), set()).add(row["product_id"])
    name_of = {row["product_id"]: row["name"] for row in rows}
    for surface, ids in generated.items():
        if len(ids) == 1 and surface not in table and len(surface) >= 2:
            pid = next(iter(ids))
            table[surface] = _Surface(surface, pid, name_of[pid])
    for surface, ids in editions.items():
        if len(ids) == 1 and surface not in table and len(surface) >= 3:
            pid = next(iter(ids))
            table[surface] = _Surface(surface, pid, name_of[pid], alone=True)
    return table


def _product_year(row: dict[str, Any]) -> str | None:
    for text in [row["name"], *(row.get("aliases") or [])]:
        m = _YEAR.search(_norm(text))
        if m:
            return m.group(0)
    return None


def _law_short_names(title: str, key: str) -> list[str]:
    """保险法解释（三） → 保险法解释三, 司法解释三, 解释3 …; 海上保险纠纷案件若干问题的规定 → 海上保险纠纷规定."""
    names = [_LAW_BOILERPLATE.sub("", title.replace("《", "").replace("》", ""))]
    m = re.match(r"^(.+?)解释（(.+)）$", key)
    if m:
        law, number = m.group(1), m.group(2)
        value = cn_to_int(number)
        forms = {number, f"（{number}）"}
        if value is not None:
            forms |= {str(value), f"（{value}）", int_to_cn(value)}
        for form in forms:
            for stem in (f"{law}解释", f"{law}司法解释", "司法解释", "解释"):
                names.append(stem + form)
    elif key.endswith("法") and len(key) > 3:
        names.append(key)
    return [n for n in names if len(n) >= 3 and not re.fullmatch(rf"解释[{_CN}\d（）]+", n)]
