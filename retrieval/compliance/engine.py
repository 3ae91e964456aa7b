"""The compliance check of a sales text: conduct rules, facts against clauses, sale status.

``Checker.check(text, kind)`` masks personal data, cuts the text into sentences, and runs the
rules of ``RuleStore`` (reloaded when their files change) in three ways that give one result
shape: a conduct rule's patterns and its examples (by meaning, with the embedding model), the
numbers stated about a named product against the product's facts, and the named products'
sale status. Each finding cites the article it breaks (read from the graph, so the article's
text is what was ingested) and, for a product, the clause or status that shows it wrong.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from domain.errors import InputError
from domain.mask import mask_pii
from domain.regulations import REPEALED, RegulationStatus
from graph.store import GraphStore
from index.embedders.base import Embedder
from retrieval.compliance import claims as c
from retrieval.compliance.rules import TEXT_KINDS, ArticleRef, Rule, RuleBook, RuleStore, concept_key
from retrieval.compliance.text import Span, clause_at, negated, sentences, simplified, windows
from retrieval.flags import product_flags, regulation_message
from retrieval.linking import Linker
from retrieval.types import Flag

logger = logging.getLogger(__name__)

MAX_CHARS = 20_000
_CUSTOMER = re.compile(r"\s*(?:客户|顾客|客人|用户|消费者|买家|投保人)\s*[A-Za-z]?\s*[：:]")
_SELLS = re.compile(r"(?:换成|换|改成|改买|买|配|上|投|推荐|选)(?:个|份|一份|一个|您|你)?(?:老)?$")
_CELL = re.compile(r"[｜|]")
# a sentence that quotes a claim to refute it (很多人说“两年后就不能拒赔”——别信这种说法)
_DEBUNK = re.compile(r"别信这(种|类|些|个)?(说法|话)|不要(相信|信)这(种|类|些)|(是|属于)(误区|谣言|误导)|(是|属于|大多是|都是)违(规|法)(的|行为)?|错误(的)?说法|这种说法(是)?(不对|错|不成立)")
_OWNED = re.compile(r"(?:你|您|你们|您们|你家|您家|家里|阿姨|叔叔|老人家?)(?:手上|手里|手头|现在|原来)?(?:的|那份|那张|这份|这张|份|张)(?:老的?|旧的?|原来的?|那份)?$")
_BARE_VERSION = re.compile(r"(?<!\d)((?:19|20)\d{2})\s*年?\s*[版款]")
_NOTICE = re.compile(r"(?:\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日|\d{4}[-/.]\d{1,2}[-/.]\d{1,2})[^，。！？|｜]{0,6}(?:起)?[^，。！？|｜]{0,4}(?:停止销售|停售|下架)")
MARGIN = 0.015  # a unit must be this much closer to the rule's examples than to any counter-example


@dataclass
class Finding:
    rule: Rule
    start: int
    end: int
    quote: str
    explanation: str
    matched_by: str  # pattern | similarity | model | facts | status
    score: float | None = None
    product_id: str | None = None
    product_name: str | None = None
    clause: dict[str, Any] | None = None  # the product's clause that shows the statement wrong
    successor: dict[str, Any] | None = None
    citations: list[dict[str, Any]] = field(default_factory=list)
    sentence: int = -1  # the sentence it is in (findings of one rule in one sentence merge)
    pattern: str | None = None  # the pattern (or concept set) that matched

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule.id, "rule_version": self.rule.version_label, "title": self.rule.title,
            "check": self.rule.check, "severity": self.rule.severity, "start": self.start, "end": self.end,
            "quote": self.quote, "explanation": self.explanation, "matched_by": self.matched_by,
            "score": None if self.score is None else round(self.score, 4), "product_id": self.product_id,
            "product_name": self.product_name, "successor": self.successor, "citations": self.citations,
        }


@dataclass
class CheckResult:
    text: str  # the text as checked: personal data masked; offsets point into it
    kind: str
    findings: list[Finding]
    flags: list[dict[str, Any]]
    rules_version: str
    took_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text, "kind": self.kind, "findings": [f.to_dict() for f in self.findings],
            "flags": self.flags, "rules_version": self.rules_version, "took_ms": round(self.took_ms, 1),
        }



class _Vectors:
    """Embeddings of rule examples and of checked units; a bounded cache (bots and drafts repeat)."""

    def __init__(self, embedder: Embedder, size: int = 20_000) -> None:
        self.embedder = embedder
        self.size = size
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            vectors = self.embedder.embed_passages(missing)
            with self._lock:
                for t, v in zip(missing, vectors, strict=True):
                    self._cache[t] = _unit(v)
                while len(self._cache) > self.size:
                    self._cache.popitem(last=False)
        with self._lock:
            out = []
            for t in texts:
                cached = self._cache.get(t)
                # evicted meanwhile by another request
                out.append(cached if cached is not None else _unit(self.embedder.embed_passages([t])[0]))
            return out


def _excused(rule: Rule, text: str) -> bool:
    """The rule's own exceptions, or a sentence that quotes the claim to refute it."""
    return any(u.search(text) for u in rule.unless) or _DEBUNK.search(text) is not None


def _unit(v: list[float]) -> list[float]:
    n = math.sqrt(sum(x * x for x in v)) or 1.0
    return [x / n for x in v]


@dataclass
class _Bank:
    mean: np.ndarray
    examples: dict[str, np.ndarray]  # rule id → its examples (centred, unit length)
    negatives: np.ndarray  # every counter-example and ordinary sentence


@dataclass
class _Mention:
    product_id: str
    name: str
    sentence: int  # index of the sentence that names it
    at: int  # where in the text (the sentence's start when the written name cannot be placed)


class Checker:
    def __init__(self, graph: GraphStore, embedder: Embedder, linker: Linker, rules: RuleStore) -> None:
        self.graph = graph
        self.linker = linker
        self.rules = rules
        self.vectors = _Vectors(embedder)
        self._bank_lock = threading.Lock()
        self._bank_of: tuple[str, _Bank] | None = None
        self._warned = ""

    # --- the check ----------------------------------------------------------------------------

    def check(self, text: str, kind: str = "message") -> CheckResult:
        started = time.perf_counter()
        if kind not in TEXT_KINDS:
            raise InputError(f"kind must be one of {', '.join(TEXT_KINDS)}, not {kind!r}")
        if not isinstance(text, str) or not text.strip():
            raise InputError("text: give the text to check")
        if len(text) > MAX_CHARS:
            raise InputError(f"text: at most {MAX_CHARS} characters, got {len(text)}")
        shown = mask_pii(text.replace("\x00", ""))
        text = simplified(shown)  # read 轉過嚟 as 转过嚟; one character for one, so offsets hold
        book = self.rules.book()
        rules = book.active(kind)
        units = sentences(text)
        customer = [bool(_CUSTOMER.match(text, text.rfind("\n", 0, u.start) + 1)) for u in units]
        mentions = self._mentions(units)
        status = {r["product_id"]: r for r in self.graph.product_status(list(dict.fromkeys(m.product_id for m in mentions)))}
        findings: list[Finding] = []
        conduct = [r for r in rules if r.check == "conduct"]
        findings += self._conduct(text, units, conduct, book, mentions, status)
        for rule in rules:
            if rule.check == "facts":
                findings += self._facts(text, units, rule, mentions)
            elif rule.check == "status":
                findings += self._status(text, units, rule, mentions, status)
        # a script's customer lines (客户：…) are what the customer says: context, never a finding
        # before findings of one sentence merge: a rule defers only over the same clause's words
        findings = _dedupe(_defer([f for f in findings if not (0 <= f.sentence < len(units) and customer[f.sentence])]))
        for f in findings:
            f.quote = shown[f.start : f.end]
        findings, law_flags = self._cite(findings, book)
        named = list(dict.fromkeys(m.product_id for m in mentions))
        flags = [f.to_dict() for f in product_flags(self.graph, named)] + law_flags
        findings.sort(key=lambda f: (f.start, f.rule.id))
        return CheckResult(shown, kind, findings, flags, book.version, (time.perf_counter() - started) * 1000)

    def book(self) -> RuleBook:
        return self.rules.book()

    def describe(self, rule: Rule) -> dict[str, Any]:
        """A rule as listed: its fields and, per article, whether it is ingested and current law."""
        status = self.article_status(rule)
        repealed = bool(status) and all(a["status"] == REPEALED for a in status)
        return {**rule.to_dict(), "article_status": status, "active": rule.enabled and not repealed}

    # --- products named -------------------------------------------------------------------------

    def _mentions(self, units: list[Span]) -> list[_Mention]:
        out: list[_Mention] = []
        for i, unit in enumerate(units):
            lowered = unit.text.lower()
            for ref in self.linker.link(unit.text, fuzzy=False).products:
                at = lowered.find(ref.matched)
                if at < 0:  # written with spaces or brackets the linker ignores: place it by its first characters
                    at = lowered.find(ref.matched[:2])
                out.append(_Mention(ref.product_id, ref.name, i, unit.start + max(at, 0)))
            if out and not any(m.sentence == i for m in out):
                # 在售的是2022版: a bare version of the family named before it
                for y in _BARE_VERSION.finditer(unit.text):
                    version = self.linker.version_of(out[-1].product_id, y.group(1))
                    if version is not None:
                        out.append(_Mention(version.product_id, version.name, i, unit.start + y.start()))
                        break
        return out

    @staticmethod
    def _about(mentions: list[_Mention], i: int) -> list[_Mention]:
        """The products sentence ``i`` is about: those it names, else the nearest named before it,
        else (a text about one product) that product."""
        own = [m for m in mentions if m.sentence == i]
        if own:
            return own
        before = [m for m in mentions if m.sentence < i]
        if before:
            last = max(m.sentence for m in before)
            return [m for m in before if m.sentence == last]
        ids = {m.product_id for m in mentions}
        return [mentions[0]] if len(ids) == 1 else []

    # --- conduct rules ---------------------------------------------------------------------------

    def _conduct(self, text: str, units: list[Span], rules: list[Rule], book: RuleBook, mentions: list[_Mention],
                 status: dict[str, dict[str, Any]]) -> list[Finding]:
        found: list[tuple[Rule, int, Finding]] = []
        for i, unit in enumerate(units):
            for rule in rules:
                for pattern in rule.patterns:
                    for m in pattern.finditer(text, unit.start, unit.end):
                        if m.end() == m.start() or negated(text, m.start()):
                            continue
                        clause = clause_at(text, unit, m.start(), m.end())
                        if _excused(rule, unit.text):
                            continue
                        found.append((rule, i, Finding(rule, clause.start, clause.end, clause.text, rule.explanation,
                                                       "pattern", sentence=i, pattern=pattern.pattern)))
        for i, unit in enumerate(units):
            for rule in rules:
                for group in rule.concepts:
                    span = _concept_span(text, unit, group, rule.window)
                    if span is None or _excused(rule, unit.text):
                        continue
                    clause = clause_at(text, unit, *span)
                    found.append((rule, i, Finding(rule, clause.start, clause.end, clause.text, rule.explanation,
                                                   "pattern", sentence=i, pattern=concept_key(group))))
        pieces = [(i, w) for i, unit in enumerate(units) for w in windows(text, unit)]
        raw = np.asarray(self.vectors.get([w.text for _, w in pieces]), dtype=np.float32) if pieces else None
        found += self._similar(units, rules, book, pieces, raw)
        found = self._learned(text, units, rules, book, pieces, raw, found)
        out: list[Finding] = []
        for rule, i, finding in found:
            if rule.condition == "no_stop_sale_notice":
                kept = self._unannounced(rule, finding, mentions, i, status)
                if kept is None:
                    continue
                finding = kept
            out.append(finding)
        return out

    def _similar(self, units: list[Span], rules: list[Rule], book: RuleBook, pieces: list[tuple[int, Span]],
                 raw: np.ndarray | None) -> list[tuple[Rule, int, Finding]]:
        """Units close in meaning to a rule's examples. Similarity is taken after removing the
        background (the mean embedding of all examples and ordinary sentences), which otherwise
        makes every pair of short Chinese sentences look alike, and a unit must be closer to the
        rule's examples than to any counter-example or ordinary sentence."""
        bank = self._bank(book)
        with_examples = [r for r in rules if r.id in bank.examples]
        if not with_examples or raw is None:
            return []
        vectors = raw - bank.mean
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-9
        worst = (vectors @ bank.negatives.T).max(axis=1) if len(bank.negatives) else np.full(len(pieces), -1.0)
        out: list[tuple[Rule, int, Finding]] = []
        for r in with_examples:
            best = (vectors @ bank.examples[r.id].T).max(axis=1)
            for n in np.nonzero((best >= r.similarity) & (best >= worst + MARGIN))[0]:
                i, window = pieces[int(n)]
                if _excused(r, units[i].text):
                    continue
                out.append((r, i, Finding(r, window.start, window.end, window.text, r.explanation, "similarity",
                                          float(best[n]), sentence=i)))
        return out

    def _learned(self, text: str, units: list[Span], rules: list[Rule], book: RuleBook, pieces: list[tuple[int, Span]],
                 raw: np.ndarray | None, found: list[tuple[Rule, int, Finding]]) -> list[tuple[Rule, int, Finding]]:
        """The learned model's second opinion (model.py) on the rules it knows: a finding where no
        unit it covers is likely enough a breach is dropped; a unit it is sure of is a finding."""
        model = book.model
        if model is not None and model.meta.get("embedder") != self.vectors.embedder.name:
            if self._warned != model.sha:  # its vectors mean nothing in another embedder's space
                logger.warning("compliance model trained with embedder %s, not %s: not used; retrain it with "
                               "brokerkg train-checker", model.meta.get("embedder"), self.vectors.embedder.name)
                self._warned = model.sha
            return found
        known = [r for r in rules if r.model and model is not None and r.id in model.rules]
        if model is None or not known or raw is None:
            return found
        probs = model.probabilities([w.text for _, w in pieces], raw)
        starts = np.array([w.start for _, w in pieces])
        ends = np.array([w.end for _, w in pieces])

        seen = model.meta.get("patterns") or {}

        def doubtful(rule: Rule, f: Finding) -> bool:
            if not rule.model or rule.id not in probs:
                return False
            if f.pattern is not None and rule.id in seen and f.pattern not in seen[rule.id]:
                return False  # a pattern written after the model was trained: the model has not seen its texts
            covered = (starts < f.end) & (f.start < ends)
            return not covered.any() or float(probs[rule.id][covered].max()) < model.veto

        kept = [(r, i, f) for r, i, f in found if not doubtful(r, f)]
        for rule in known:
            for n in np.nonzero(probs[rule.id] >= model.add)[0]:
                i, window = pieces[int(n)]
                if _excused(rule, units[i].text):
                    continue
                # the words the rule's patterns know are here, each of them denied (不是零风险)
                said = [hit for p in rule.patterns for hit in p.finditer(text, window.start, window.end) if hit.end() > hit.start()]
                if said and all(negated(text, hit.start()) for hit in said):
                    continue
                kept.append((rule, i, Finding(rule, window.start, window.end, window.text, rule.explanation, "model",
                                              float(probs[rule.id][n]), sentence=i)))
        return kept

    def _bank(self, book: RuleBook) -> _Bank:
        """The rules' examples and the counter-examples, embedded once per version of the rules."""
        with self._bank_lock:
            if self._bank_of is not None and self._bank_of[0] == book.version:
                return self._bank_of[1]
        rules = [r for r in book.rules.values() if r.enabled and r.examples]
        negatives = [x for r in book.rules.values() if r.enabled for x in r.counter_examples] + list(book.background)
        texts = [x for r in rules for x in r.examples] + negatives
        raw = np.asarray(self.vectors.get(texts), dtype=np.float32) if texts else np.zeros((0, 1), dtype=np.float32)
        mean = raw.mean(axis=0) if len(raw) else np.zeros(1, dtype=np.float32)
        centred = raw - mean
        centred /= np.linalg.norm(centred, axis=1, keepdims=True) + 1e-9
        examples: dict[str, np.ndarray] = {}
        pos = 0
        for r in rules:
            examples[r.id] = centred[pos : pos + len(r.examples)]
            pos += len(r.examples)
        bank = _Bank(mean, examples, centred[pos:])
        with self._bank_lock:
            self._bank_of = (book.version, bank)
        return bank

    def _unannounced(self, rule: Rule, finding: Finding, mentions: list[_Mention], i: int,
                     status: dict[str, dict[str, Any]]) -> Finding | None:
        """炒停售: kept unless every product it is about has a recorded stop-sale (a notice with its date)."""
        about = self._about(mentions, i)
        if not about:
            finding.explanation = rule.explanation + " 文中没有指明已公告停售的产品。"
            return finding
        own = [m for m in about if m.sentence == i]
        if len(own) > 1:  # 康宁2019已停售，现在能买的是康宁2023: the product named right before the phrase
            about = [self._nearest(own, finding.end)]
        unannounced = [m for m in about if not _announced(status.get(m.product_id))]
        if not unannounced:
            return None
        m = unannounced[0]
        finding.product_id, finding.product_name = m.product_id, m.name
        finding.explanation = f"{rule.explanation} {m.name}没有停售公告记录（目前在售）。"
        return finding

    # --- facts against clauses -------------------------------------------------------------------

    def _facts(self, text: str, units: list[Span], rule: Rule, mentions: list[_Mention]) -> list[Finding]:
        if not mentions:
            return []
        facts = self.graph.product_facts(list(dict.fromkeys(m.product_id for m in mentions)))
        by_type = {pid: {str(f.get("type")): f for f in rows} for pid, rows in facts.items()}
        out: list[Finding] = []
        for i, unit in enumerate(units):
            about = self._about(mentions, i)
            if not about:
                continue
            own = [m for m in about if m.sentence == i]
            cells = _cells(text, unit)
            for n, cell in enumerate(cells):
                in_cell = [m for m in own if cell.start <= m.at < cell.end]
                label = _row_label(cells) if n > 0 else ""
                for claim in c.claims(text, cell.start, cell.end, label):
                    header = ([] if len(cells) < 2 or in_cell else
                              self._columns(text, units, mentions, i if len({m.product_id for m in own}) > 1 else i - 1))
                    if in_cell and len(cells) > 1:  # a table row whose cell names its product
                        target = self._nearest(in_cell, claim.start)
                    elif header:  # a comparison table's row: the n-th cell is the n-th column of its header
                        column = header[n] if n < len(header) else None
                        if column is None:
                            continue
                        target = column
                    else:  # prose, or a poster's ｜-separated line about one product
                        candidates = own or about
                        if len(candidates) > 1:  # several products: only one named in the claim's own clause
                            where = clause_at(text, cell, claim.start, claim.end)
                            candidates = [m for m in candidates if where.start <= m.at < where.end]
                            if not candidates:
                                continue
                        target = candidates[0] if len(candidates) == 1 else self._nearest(candidates, claim.start)
                    wrong = c.compare(claim, by_type.get(target.product_id, {}))
                    if wrong is None:
                        continue
                    clause = clause_at(text, cell, claim.start, claim.end)
                    stated = claim.stated.strip()
                    why = (f"{target.name}条款{wrong.fact.get('locator') or ''}写明：{wrong.says}；文中说“{stated}”。"
                           f" {rule.explanation}")
                    finding = Finding(rule, clause.start, clause.end, clause.text, why, "facts", None,
                                      target.product_id, target.name, clause=wrong.fact)
                    finding.sentence = i
                    out.append(finding)
        return out

    def _columns(self, text: str, units: list[Span], mentions: list[_Mention], i: int) -> list[_Mention | None]:
        """The products of a comparison table's header (the last sentence up to ``i`` naming two or
        more), by column: a header that is itself a row (| | 颐享年年 | 鑫利来 |) by its cells,
        otherwise (安享重疾 vs 康宁2023) in the order it names them."""
        for j in range(i, -1, -1):
            named = sorted((m for m in mentions if m.sentence == j), key=lambda m: m.at)
            if len({m.product_id for m in named}) < 2:
                continue
            cells = _cells(text, units[j]) if units[j].text.count("|") + units[j].text.count("｜") else []
            if len(cells) > 1:
                return [next((m for m in named if c.start <= m.at < c.end), None) for c in cells]
            return list(named)
        return []

    @staticmethod
    def _nearest(about: list[_Mention], pos: int) -> _Mention:
        """Of the products a sentence names, the one named last before ``pos`` (else the first)."""
        before = [m for m in about if m.at <= pos]
        return max(before, key=lambda m: m.at) if before else min(about, key=lambda m: m.at)

    # --- sale status ------------------------------------------------------------------------------

    def _status(self, text: str, units: list[Span], rule: Rule, mentions: list[_Mention],
                status: dict[str, dict[str, Any]]) -> list[Finding]:
        out: list[Finding] = []
        # a stop-sale notice (a list of products that stop on a date) that sells nothing names them to say so
        notice = any(p.search(u.text) for u in units for p in rule.acknowledge) and any(
            _NOTICE.search(u.text) for u in units) and not any(p.search(text) for p in rule.selling)
        for m in mentions:
            row = status.get(m.product_id)
            if row is None or not _off_sale(row) or notice:
                continue
            unit = units[m.sentence]
            said = any(p.search(unit.text) for p in rule.acknowledge)
            on_sale_too = any(o.sentence == m.sentence and o.product_id != m.product_id
                              and not _off_sale(status.get(o.product_id) or {}) for o in mentions)
            if said and on_sale_too:  # 康宁2019停售了，换新康宁2023: what it sells is the successor
                continue
            # 换成老康宁2019 / 推荐您买…: a sales verb right before the product's name sells it
            sells = any(p.search(unit.text) for p in rule.selling) or bool(_SELLS.search(text, max(unit.start, m.at - 4), m.at))
            if said and not sells:
                continue
            # 你手上的康宁2019…停交，买新康宁: the customer's own policy of it, not a sale of it
            if _OWNED.search(text, max(unit.start, m.at - 8), m.at):
                continue
            successor = ({"product_id": row["successor_id"], "name": row.get("successor_name"),
                          "status": row.get("successor_status")} if row.get("successor_id") else None)
            state = "暂停销售" if row.get("status") == "suspended" else "停售"
            since = f"（{row['discontinued_date']}起）" if row.get("discontinued_date") else ""
            instead = f"，在售的替代产品是{successor['name']}" if successor and successor.get("status") == "on_sale" else ""
            why = f"{m.name}已{state}{since}{instead}。{rule.explanation}"
            out.append(Finding(rule, unit.start, unit.end, unit.text, why, "status", None, m.product_id, m.name,
                               successor=successor, sentence=m.sentence))
        return out

    # --- citations ----------------------------------------------------------------------------------

    def _cite(self, findings: list[Finding], book: RuleBook) -> tuple[list[Finding], list[dict[str, Any]]]:
        """Each finding's articles (text from the graph) and, for a product, the contradicting clause.
        A check never rests on a repealed article: such an article is left out, and a finding with no
        article left in force is dropped. An article not yet in force is cited with a flag."""
        refs = list(dict.fromkeys(a for f in findings for a in f.rule.articles))
        keys = {a: a.key for a in refs}
        rows = {r["key"]: r for r in self._articles(list(set(keys.values())))}
        laws = self.graph.regulation_status(list(dict.fromkeys(a.law for a in refs))) if refs else {}
        flags: dict[str, dict[str, Any]] = {}
        kept: list[Finding] = []
        for f in findings:
            live = [a for a in f.rule.articles if laws.get(a.law) is None or laws[a.law].status != REPEALED]
            if not live:
                logger.warning("compliance rule %s rests only on repealed articles; finding dropped", f.rule.id)
                continue
            for n, a in enumerate(live):
                row = rows.get(keys[a])
                law = laws.get(a.law)
                f.citations.append(_article_citation(a, row, "breaks" if n == 0 else "also", law))
                if law is not None and not law.in_force and law.title not in flags:
                    flags[law.title] = Flag.regulation(law.doc_id, law.title, law.status, law.effective,
                                                       law.repealed_by, regulation_message(law)).to_dict()
            if f.clause:
                fact = f.clause
                f.citations.append({
                    "role": "contradicts", "doc_type": "clause", "doc_id": fact.get("doc_id"),
                    "title": fact.get("title"), "locator": fact.get("locator"), "chunk_id": fact.get("chunk_id"),
                    "text": fact.get("raw"), "product_id": f.product_id, "fact": fact.get("type"),
                    "display": fact.get("display"),
                })
            kept.append(f)
        return kept, list(flags.values())

    def article_status(self, rule: Rule) -> list[dict[str, Any]]:
        """Per article of a rule: whether it is in the graph and whether its regulation is current law."""
        keys = {a: a.key for a in rule.articles}
        found = {r["key"]: r for r in self._articles(list(keys.values()))}
        laws = self.graph.regulation_status(list(dict.fromkeys(a.law for a in rule.articles)))
        out = []
        for a in rule.articles:
            law = laws.get(a.law)
            out.append({"law": a.law, "article": a.article, "doc_id": (found.get(keys[a]) or {}).get("doc_id"),
                        "ingested": keys[a] in found, "status": law.status if law else None,
                        "effective": law.effective if law else None})
        return out

    def _articles(self, keys: list[str]) -> list[dict[str, Any]]:
        return self.graph.articles(keys) if keys else []


def _article_citation(ref: ArticleRef, row: dict[str, Any] | None, role: str, law: RegulationStatus | None) -> dict[str, Any]:
    return {
        "role": role, "doc_type": "regulation", "doc_id": row.get("doc_id") if row else None,
        "title": (row.get("title") if row else None) or ref.law, "locator": ref.article,
        "text": row.get("text") if row else None, "product_id": None,
        "regulation_status": law.status if law else None,
    }


def _concept_span(text: str, unit: Span, group: tuple[re.Pattern[str], ...], window: int) -> tuple[int, int] | None:
    """Where every pattern of a concept set matches in the sentence, none of them negated, all
    within ``window`` characters: the span from the first match to the last."""
    # only the first concept is checked for negation: the others carry it in their own words (不出单)
    hits = [[m for m in p.finditer(text, unit.start, unit.end) if m.end() > m.start() and (n or not negated(text, m.start()))]
            for n, p in enumerate(group)]
    if not all(hits):
        return None
    for first in hits[0]:
        chosen = [first]
        for others in hits[1:]:
            near = [m for m in others if abs(m.start() - first.start()) <= window]
            if not near:
                break
            chosen.append(min(near, key=lambda m: abs(m.start() - first.start())))
        else:
            return min(m.start() for m in chosen), max(m.end() for m in chosen)
    return None


def _cells(text: str, unit: Span) -> list[Span]:
    """A table row's cells (｜, |, vs); a sentence that is not a row is one cell."""
    cuts = [m for m in _CELL.finditer(text, unit.start, unit.end)]
    if not cuts:
        return [unit]
    out, pos = [], unit.start
    for m in cuts:
        out.append(Span(pos, m.start(), text[pos : m.start()]))
        pos = m.end()
    out.append(Span(pos, unit.end, text[pos : unit.end]))
    # a markdown row (| 投保年龄 | 28天-60周岁 |): the empty pieces outside its first and last bar go
    if out and not out[0].text.strip():
        out = out[1:]
    if out and not out[-1].text.strip():
        out = out[:-1]
    return out


def _row_label(cells: list[Span]) -> str:
    """A table row's topic, read before each of its cells: 中症 of ``中症：安享 60% ｜ 康宁 60%``, 投保年龄
    of ``| 投保年龄 | 28天-60岁 | 30天-70岁 |``."""
    first = cells[0].text.strip()
    head = re.split(r"[：:]", first, maxsplit=1)
    if len(head) == 2 and 0 < len(head[0].strip()) <= 10:
        return head[0].strip()
    return first if len(first) <= 10 and not re.search(r"\d", first) else ""


def _off_sale(row: dict[str, Any], today: date | None = None) -> bool:
    if row.get("status") in ("discontinued", "suspended"):
        return True
    day = str(row.get("discontinued_date") or "")
    return bool(day) and day <= (today or date.today()).isoformat()


def _announced(row: dict[str, Any] | None) -> bool:
    """A recorded stop-sale: the insurer's notice gave a date (past or coming), or the product is off sale."""
    if row is None:
        return False
    return bool(row.get("discontinued_date")) or row.get("status") in ("discontinued", "suspended")


def _defer(findings: list[Finding]) -> list[Finding]:
    """A finding of a rule that defers to another (``defer_to``) is dropped where a finding of that
    rule covers the same words: a pattern's clause, or the very unit (a window by meaning spans two
    clauses and would take the neighbour's breach with it)."""
    def covers(g: Finding, f: Finding) -> bool:
        if f.rule.defer_scope == "sentence":
            return g.sentence == f.sentence and g.matched_by in ("pattern", "facts", "status")
        return g.start < f.end and f.start < g.end and (
            g.matched_by in ("pattern", "facts", "status") or (g.start, g.end) == (f.start, f.end))

    # two rules that defer to each other both stand (neither is the more specific)
    return [f for f in findings
            if not any(g.rule.id in f.rule.defer_to and f.rule.id not in g.rule.defer_to and covers(g, f) for g in findings)]


def _dedupe(findings: list[Finding]) -> list[Finding]:
    """One finding per rule, product and sentence: findings of one rule that overlap or share a
    sentence merge into the best one (a pattern over a similarity window, then the higher
    score), its span widened to cover them all."""
    rank = {"status": 0, "facts": 0, "pattern": 1, "similarity": 2, "model": 3}
    out: list[Finding] = []
    for f in sorted(findings, key=lambda f: (rank[f.matched_by], -(f.score or 0), f.end - f.start)):
        same = next((g for g in out if g.rule.id == f.rule.id and g.product_id == f.product_id
                     and ((g.start < f.end and f.start < g.end)
                          or (g.sentence >= 0 and g.sentence == f.sentence and f.matched_by in ("pattern", "similarity", "model")))),
                    None)
        if same is None:
            out.append(f)
        elif f.matched_by == same.matched_by or same.sentence == f.sentence:
            same.start, same.end = min(same.start, f.start), max(same.end, f.end)
    return out
