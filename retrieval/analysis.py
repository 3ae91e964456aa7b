"""One analysis pass: a question (and its conversation) → the typed query every later stage reads.

The question is masked once and linked once: products (names, aliases, versions, fuzzy), laws
and article numbers. A follow-up (那它的等待期呢) is resolved against the previous turn; when
the resolution leaves it unchanged, the link that decided so is the query's link. Then intent
(doc type, status, case section, quantity), synonym expansions (酒驾 → 酒后驾驶), the content as
IDF-weighted concepts, and version-named products the catalog lacks.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from domain.mask import mask_pii
from domain.numerals import cn_to_int, int_to_cn
from domain.refs import ARTICLE_NO
from graph.store import GraphStore
from index.analyzer import Analyzer, term_id
from index.vectors.base import SearchFilter, VectorIndex
from retrieval.conversation import Conversation, resolve
from retrieval.intents import Intent, asked_versions, asked_years, understand, versioned_names
from retrieval.linking import LinkedQuestion, Linker, _norm, _strip_year

# Words that say what kind of answer is wanted rather than what it is about.
QUESTION_WORDS = frozenset(
    """案例 案子 案件 判例 条款 法规 法律 法条 规定 条例 依据 相关 内容 意思 定义 情况 问题 怎么办 怎样 处理 办理 算 讲 说 说明
    哪条 哪部 哪个 什么 多少 几天 几次 几年 几成 多久 多长 多大 最高 最多 最低 最少 可以 能 吗 呢 规则 方面 关于 对于 这种 一下
    还在 在售 停售 还能 推荐 客户 买 保险 保险公司 公司 多少岁 几岁 多少天 多少次 多少钱 多少种 几种 多少年 怎么样 如何 怎么
    为什么 哪些 哪里 是否 有没有 没有 已经 还是 是不是 了没 一般 通常 现在 目前 之后 以后 以前 时候 请问 应该 需要 必须 会 要""".split()
)
_DIGITS = re.compile(r"^\d+$")
_CN_NUMBER = re.compile(r"^[零〇一二三四五六七八九十百千]+$")
_ARTICLE_REF = re.compile(ARTICLE_NO)
_VERSION_WORDS = re.compile(r"(?<!\d)\d{2}(?:\d{2})?\s*年?\s*[版款]")
DF_TTL_S = 60.0  # document frequencies read by another process's writes show within this
DF_CACHE_MAX = 200_000
_NEGATION = re.compile(r"^[没不未无别]+")
_FUNCTION_CHARS = re.compile(r"[能后要内没有天最多就还都先再才得可会让给把被从向吗呢吧了着过的地]")


@dataclass(frozen=True)
class Concept:
    alternatives: tuple[str, ...]
    weight: float
    df: int = 1  # passages containing it (0: the corpus never says it)


@dataclass
class Query:
    text: str  # masked
    linked: LinkedQuestion
    intent: Intent
    concepts: list[Concept] = field(default_factory=list)
    expansions: list[str] = field(default_factory=list)
    unknown_names: list[str] = field(default_factory=list)
    # a version the question names (康宁2021版) that none of the linked products is: never answered by another version
    missing_versions: list[str] = field(default_factory=list)
    law_titles: list[str] = field(default_factory=list)  # titles of the laws the question names
    # a linked product's filing the question asks for by year (附加个意医疗2011版): product id → year
    asked_filings: dict[str, str] = field(default_factory=dict)
    # siblings: a variant the family lacks (颐享年年尊享版), or a family named without its variant
    variant_missing: str | None = None
    variant_ambiguous: str | None = None
    siblings: list[str] = field(default_factory=list)

    def coverage(self, haystack: str, known_only: bool = False) -> float:
        concepts = [c for c in self.concepts if c.df > 0] if known_only else self.concepts
        total = sum(c.weight for c in concepts)
        if not total:
            return 1.0
        return sum(c.weight for c in concepts if any(a in haystack for a in c.alternatives)) / total

    def words(self) -> set[str]:
        """Every alternative of every concept: what a quoted sentence should contain."""
        return {alt for c in self.concepts for alt in c.alternatives}

    @property
    def unknown_share(self) -> float:
        """Share of the question's weight in words the corpus never uses (宠物, 疫苗, 比特币)."""
        total = sum(c.weight for c in self.concepts)
        return sum(c.weight for c in self.concepts if c.df == 0) / total if total else 0.0


@dataclass
class Analysis:
    """A question analysed once: the query to retrieve with, and the question as asked."""

    query: Query
    asked: str  # the question as asked, masked (facts answers read it, not the resolved follow-up)
    asked_link: LinkedQuestion  # its link: the query's own unless the follow-up was rewritten
    resolved: str | None  # the follow-up as retrieved, when resolution changed it


def numeral_forms(term: str) -> tuple[str, ...]:
    """60 ↔ 六十, 两年 → 二年: a question's digits meet a law's Chinese numerals and back."""
    if "两" in term:
        return (term, term.replace("两", "二"), term.replace("两", "2"))
    if _DIGITS.match(term) and len(term) <= 4:
        return (term, int_to_cn(int(term)))
    if _CN_NUMBER.match(term):
        value = cn_to_int(term)
        if value is not None:
            return (term, str(value))
    return (term,)


def idf(df: int, n: int) -> float:
    return math.log(1.0 + (n + 1) / (df + 0.5))


class QueryAnalyzer:
    """Builds the ``Query``; document frequencies come from the index, law titles from the graph."""

    def __init__(self, graph: GraphStore, index: VectorIndex, analyzer: Analyzer, linker: Linker) -> None:
        self.graph = graph
        self.index = index
        self.analyzer = analyzer
        self.linker = linker
        self.lexicon = linker.lexicon
        self._count_cache: tuple[float, int] = (0.0, 0)
        self._df_cache: dict[tuple[int, SearchFilter], int] = {}
        self._df_stamp: tuple[int, float] = (-1, 0.0)
        self._df_lock = threading.Lock()

    def analyse(self, question: str, conversation: Conversation | None, flt: SearchFilter) -> Analysis:
        """The question resolved against the conversation's last turn, then understood."""
        asked = mask_pii(question).strip()
        previous = conversation.turns[-1] if conversation and conversation.turns else None
        link: LinkedQuestion | None = None
        resolved = question
        if previous is not None:
            link = self.linker.link(asked)
            resolved = resolve(question, bool(link.products or link.law_doc_ids), previous)
        if resolved == question:
            query = self.query(asked, flt, link)
        else:
            query = self.query(mask_pii(resolved).strip(), flt)
        # the resolved follow-up goes back to the caller: masked, like everything else it is shown
        return Analysis(query, asked, link or query.linked, query.text if resolved != question else None)

    def understand(self, question: str, flt: SearchFilter | None = None) -> Query:
        return self.query(mask_pii(question).strip(), flt)

    def query(self, text: str, flt: SearchFilter | None = None, linked: LinkedQuestion | None = None) -> Query:
        """``text`` is already masked; ``linked`` is its link when the caller has it."""
        if linked is None:
            linked = self.linker.link(text)
        q = Query(text=text, linked=linked, intent=understand(text), expansions=self.lexicon.expansions(text),
                  law_titles=self.law_titles(linked.law_doc_ids))
        q.concepts = self._concepts(q, flt or SearchFilter())
        if q.intent.status and q.concepts:
            # 停售后还能续保吗 asks about renewal, not about the status
            q.intent = replace(q.intent, status=False)
        known = " ".join(linked.product_spans)
        q.unknown_names = [n for n in versioned_names(text) if not linked.products and _norm(n) not in known]
        for _, year in asked_versions(text):  # the asked year's sibling, when the link found another member
            for i, ref in enumerate(linked.products):
                if year not in ref.name and year not in self.linker.filing_years(ref.product_id):
                    other = self.linker.version_of(ref.product_id, year)
                    if other is not None and other.product_id not in linked.product_ids:
                        linked.products[i] = other
        q.missing_versions = missing_versions(text, linked, self.linker.filing_years)
        variants = self.linker.variants(text, linked)
        q.variant_missing, q.variant_ambiguous, q.siblings = variants.missing, variants.ambiguous, variants.siblings
        if variants.not_meant:
            linked.products = [ref for ref in linked.products if ref.name not in variants.not_meant]
        q.unknown_names += [n for n in variants.unknown if n not in q.unknown_names]
        years = asked_years(text)
        for pid in linked.product_ids if years else []:
            asked = next((y for y in sorted(years) if y in self.linker.filing_years(pid)
                          or (y.endswith("号") and any(y in f for f in self.linker.filings(pid)))), None)
            if asked:
                q.asked_filings[pid] = asked
        return q

    def law_titles(self, doc_ids: list[str]) -> list[str]:
        if not doc_ids:
            return []
        return [r["title"] for r in self.graph.regulation_names() if r["doc_id"] in doc_ids]

    def _concepts(self, q: Query, flt: SearchFilter) -> list[Concept]:
        """The question's content as concepts (a word, or a synonym group), IDF-weighted from the index.

        Left out: the names of linked products and laws, article numbers, question forms
        (多少, 赔不赔, 案例) and single characters.
        """
        text = _ARTICLE_REF.sub(" ", q.text)
        text = _VERSION_WORDS.sub(lambda m: _norm(m.group(0)), text.lower())
        for span in sorted(q.linked.product_spans, key=len, reverse=True):
            text = text.replace(span, " ")
        law_titles = " ".join(q.law_titles)
        groups: list[tuple[str, ...]] = []
        pieces: list[str] = []
        last = 0
        for m in self.lexicon.matches(text):
            pieces.append(text[last : m.start])
            last = m.end
            if not m.keep and not any(alt in law_titles for alt in (m.surface, *m.canonicals)):
                groups.append((m.surface, *m.canonicals))
        pieces.append(text[last:])
        for piece in pieces:
            for term in self.analyzer.words(piece):
                term = _NEGATION.sub("", term)
                if len(term) < 2 or term in QUESTION_WORDS or (law_titles and term in law_titles):
                    continue
                groups.append(numeral_forms(term))
        return self._weigh(list(dict.fromkeys(groups)), flt)

    def _weigh(self, groups: list[tuple[str, ...]], flt: SearchFilter) -> list[Concept]:
        if not groups:
            return []
        # df of an alternative ≈ df of its rarest word; a concept is as common as its commonest alternative.
        alt_terms = {alt: self.analyzer.terms(alt) or [alt] for g in groups for alt in g}
        ids = sorted({term_id(t) for terms in alt_terms.values() for t in terms})
        df = self._frequencies(ids, flt)
        n = max(1, self._count())
        concepts = []
        for g in groups:
            alt_df = [min(df.get(term_id(t), 0) for t in alt_terms[alt]) for alt in g]
            concept_df = max(alt_df)
            if concept_df == 0 and len(g) == 1 and len(g[0]) <= 3 and _FUNCTION_CHARS.search(g[0]):
                continue  # a tokenizer artefact (能办, 天内, 后要), not a word the corpus lacks
            concepts.append(Concept(g, idf(concept_df, n), concept_df))
        return concepts

    def _frequencies(self, ids: list[int], flt: SearchFilter) -> dict[int, int]:
        """Document frequencies, each looked up once: a term's count changes only when the index does
        (a write here starts the cache over; writes by another process show within ``DF_TTL_S``).
        Each lookup is a sparse query that holds the GIL: without the cache they were a third of
        an answer's serialised time under load (bench/load.py)."""
        now = time.monotonic()
        stamp = (self.index.writes, now // DF_TTL_S)
        with self._df_lock:
            if stamp != self._df_stamp or len(self._df_cache) > DF_CACHE_MAX:
                self._df_cache.clear()
                self._df_stamp = stamp
            out = {i: self._df_cache[(i, flt)] for i in ids if (i, flt) in self._df_cache}
        missing = [i for i in ids if i not in out]
        if missing:
            found = self.index.document_frequency(missing, flt)
            out.update(found)
            with self._df_lock:
                if self._df_stamp == stamp:
                    self._df_cache.update(((i, flt), n) for i, n in found.items())
        return out

    def _count(self) -> int:
        now = time.monotonic()
        if now - self._count_cache[0] > 5.0:
            self._count_cache = (now, self.index.count())
        return self._count_cache[1]


def missing_versions(
    text: str, linked: LinkedQuestion, filing_years: Callable[[str], set[str]] = lambda _: set()
) -> list[str]:
    """Versions asked for (康宁2021版, e生百万21款) whose family the question links but which no
    linked product is (by its name, id or the years of its filings): the linker found a sibling
    (the newest, or another year), not the one asked."""
    out = []
    for name, year in asked_versions(text):
        family = [ref for ref in linked.products
                  if _strip_year(_norm(ref.matched)) in _norm(name) or _norm(name) in _strip_year(_norm(ref.matched))]
        if family and not any(year in ref.name or year in ref.product_id or year in filing_years(ref.product_id)
                              for ref in family):
            out.append(f"{name}{year}版")
    return out
