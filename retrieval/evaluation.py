"""Evaluation harness: a golden set through our pipeline and through baselines, on the same corpus.

A golden item is one JSON object per line::

    {"q": "老康宁的等待期几天", "kind": "discontinued",
     "title": "瑞禾康宁终身重大疾病保险（2019版）条款", "locator": "2.2",
     "fact": "180日", "flags": ["RH-CI-2019"]}

- ``title`` / ``locator``: the expected source; a list means "any of these"; locator ``*``
  accepts any section of the document. ``title: null`` marks a question the corpus cannot
  answer: the right answer says 未找到依据 and cites nothing.
- ``fact``: a string (or list of alternatives) the answer text must contain.
- ``flags``: product ids that must be flagged (not on sale, named or cited).
- ``filing`` (optional): the filing number the source must carry (a question naming an earlier filing).
- ``split`` (optional): ``dev`` or ``heldout``; a set split before tuning is also scored per half.

Every system answers through the ``/v1/ask`` contract shape, so our pipeline and the
baselines are scored by the same code.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from domain.errors import InputError
from retrieval.answer import NO_ANSWER_MARK

_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class GoldenItem:
    q: str
    titles: tuple[str, ...]
    locators: tuple[str, ...]
    facts: tuple[str, ...]
    flags: tuple[str, ...]
    kind: str = ""
    filing: str | None = None  # the filing the source must be (a question naming an earlier one)
    split: str = ""  # dev / heldout: a set split before tuning reports each half apart

    @property
    def answerable(self) -> bool:
        return bool(self.titles)

    def matches(self, citation: dict[str, Any]) -> bool:
        if citation.get("title") not in self.titles:
            return False
        if self.filing and citation.get("filing_no") != self.filing:
            return False
        if "*" in self.locators:
            return True
        found = citation.get("locators") or [citation.get("locator")]
        # a citation of 2.3.1 is a citation inside clause 2.3
        return any(loc in self.locators or any(str(loc).startswith(f"{w}.") for w in self.locators) for loc in found)


def _strings(value: Any, where: str, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InputError(f"{where}: field {name!r} must be a string, a list of strings or null")


def load_golden(path: Path) -> list[GoldenItem]:
    """Read and validate a golden set; errors name the file, line and field."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text") from exc
    items: list[GoldenItem] = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{path}, line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: not JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise InputError(f"{where}: expected a JSON object")
        q = row.get("q")
        if not isinstance(q, str) or not q.strip():
            raise InputError(f"{where}: field 'q' must be a non-empty string")
        titles = _strings(row.get("title"), where, "title")
        locators = _strings(row.get("locator"), where, "locator") or ("*",)
        if titles and not row.get("locator"):
            raise InputError(f"{where}: field 'locator' is required when 'title' is set (use \"*\" for any section)")
        items.append(
            GoldenItem(
                q=q.strip(),
                titles=titles,
                locators=locators,
                facts=_strings(row.get("fact"), where, "fact"),
                flags=_strings(row.get("flags"), where, "flags"),
                kind=str(row.get("kind") or ""),
                filing=row.get("filing") if isinstance(row.get("filing"), str) else None,
                split=str(row.get("split") or ""),
            )
        )
    if not items:
        raise InputError(f"{path}: no questions")
    return items


class System(Protocol):
    """Anything that answers a question in the ``/v1/ask`` response shape."""

    name: str

    def ask(self, question: str, top_k: int) -> dict[str, Any]:
        ...


@dataclass
class Outcome:
    item: GoldenItem
    answer: dict[str, Any]
    rank: int | None  # 0-based rank of the first matching citation
    fact_ok: bool
    abstained: bool
    missing_flags: list[str]
    unjustified_flags: list[str]
    took_ms: float


@dataclass
class Metrics:
    system: str
    outcomes: list[Outcome] = field(default_factory=list)

    def _answerable(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.item.answerable]

    def _ratio(self, hits: int, total: int) -> float:
        return hits / total if total else 1.0

    @property
    def n(self) -> int:
        return len(self.outcomes)

    @property
    def hit_at_1(self) -> float:
        rows = self._answerable()
        return self._ratio(sum(o.rank == 0 for o in rows), len(rows))

    @property
    def hit_at_5(self) -> float:
        rows = self._answerable()
        return self._ratio(sum(o.rank is not None and o.rank < 5 for o in rows), len(rows))

    @property
    def mrr(self) -> float:
        rows = self._answerable()
        return sum(1.0 / (o.rank + 1) for o in rows if o.rank is not None) / len(rows) if rows else 1.0

    @property
    def fact_accuracy(self) -> float:
        rows = [o for o in self._answerable() if o.item.facts]
        return self._ratio(sum(o.fact_ok for o in rows), len(rows))

    @property
    def flag_recall(self) -> float:
        expected = sum(len(o.item.flags) for o in self.outcomes)
        return self._ratio(expected - sum(len(o.missing_flags) for o in self.outcomes), expected)

    @property
    def flag_precision(self) -> float:
        returned = sum(len(o.answer.get("flags", [])) for o in self.outcomes)
        return self._ratio(returned - sum(len(o.unjustified_flags) for o in self.outcomes), returned)

    @property
    def abstention(self) -> float:
        """Share of the no-answer questions answered with 未找到依据 and no citation."""
        rows = [o for o in self.outcomes if not o.item.answerable]
        return self._ratio(sum(o.abstained for o in rows), len(rows))

    @property
    def false_abstention(self) -> float:
        rows = self._answerable()
        return sum(o.abstained for o in rows) / len(rows) if rows else 0.0

    def latency(self, q: float) -> float:
        values = sorted(o.took_ms for o in self.outcomes)
        if not values:
            return 0.0
        return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]

    def by_kind(self) -> dict[str, dict[str, float]]:
        kinds: dict[str, list[Outcome]] = {}
        for o in self.outcomes:
            kinds.setdefault(o.item.kind or "-", []).append(o)
        out = {}
        for kind, rows in sorted(kinds.items()):
            sub = Metrics(self.system, rows)
            out[kind] = {"n": len(rows), "hit@1": sub.hit_at_1, "hit@5": sub.hit_at_5, "fact": sub.fact_accuracy,
                         "abstention": sub.abstention}
        return out

    def by_split(self) -> dict[str, dict[str, float]]:
        """Figures per half of a set split before tuning (dev / heldout); empty when unsplit."""
        splits: dict[str, list[Outcome]] = {}
        for o in self.outcomes:
            if o.item.split:
                splits.setdefault(o.item.split, []).append(o)
        out = {}
        for split, rows in sorted(splits.items()):
            sub = Metrics(self.system, rows)
            out[split] = {"n": len(rows), "hit@1": sub.hit_at_1, "hit@5": sub.hit_at_5, "fact": sub.fact_accuracy,
                          "flag_recall": sub.flag_recall, "flag_precision": sub.flag_precision,
                          "abstention": sub.abstention}
        return out

    def misses(self, split: str | None = None) -> list[str]:
        """What went wrong, question by question; ``split``: only that half's (keep the held-out half unseen)."""
        lines = []
        for o in self.outcomes:
            if split and o.item.split != split:
                continue
            got = [f"{c['title'][:18]} {c['locator']}" for c in o.answer.get("citations", [])[:3]]
            if o.item.answerable and o.rank != 0:
                want = f"{o.item.titles[0][:18]} {'/'.join(o.item.locators)}"
                lines.append(f"[rank {'-' if o.rank is None else o.rank + 1}] {o.item.q} → want {want}; got {got}")
            elif not o.item.answerable and not o.abstained:
                lines.append(f"[no abstention] {o.item.q} → got {got}")
            if o.item.answerable and o.item.facts and not o.fact_ok:
                lines.append(f"[fact] {o.item.q} → want {o.item.facts[0]!r} in: {o.answer.get('answer', '')[:120]!r}")
            for pid in o.missing_flags:
                lines.append(f"[flag missing] {o.item.q} → {pid}")
            for pid in o.unjustified_flags:
                lines.append(f"[flag unjustified] {o.item.q} → {pid}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "n": self.n,
            "answerable": len(self._answerable()),
            "hit@1": round(self.hit_at_1, 4),
            "hit@5": round(self.hit_at_5, 4),
            "mrr": round(self.mrr, 4),
            "fact_accuracy": round(self.fact_accuracy, 4),
            "flag_recall": round(self.flag_recall, 4),
            "flag_precision": round(self.flag_precision, 4),
            "abstention": round(self.abstention, 4),
            "false_abstention": round(self.false_abstention, 4),
            "latency_p50_ms": round(self.latency(0.5), 1),
            "latency_p95_ms": round(self.latency(0.95), 1),
            "by_kind": {k: {m: round(v, 4) for m, v in row.items()} for k, row in self.by_kind().items()},
            "by_split": {k: {m: round(v, 4) for m, v in row.items()} for k, row in self.by_split().items()},
        }


def _normalise(text: str) -> str:
    return _SPACES.sub("", text).replace("，", ",")


def is_abstention(answer: dict[str, Any]) -> bool:
    return not answer.get("citations") and NO_ANSWER_MARK in answer.get("answer", "")


def evaluate(
    system: System,
    items: Iterable[GoldenItem],
    *,
    top_k: int = 5,
    cited_products: Callable[[list[dict[str, Any]]], set[str]] = lambda cites: set(),
) -> Metrics:
    """Run every item through ``system`` and score it.

    ``cited_products`` maps an answer's citations to the products whose own documents they are
    (not the product a claim case concerns): a flag for one of those, or for an expected
    product, is justified; any other flag counts against flag precision.
    """
    metrics = Metrics(system.name)
    for item in items:
        started = time.perf_counter()
        answer = system.ask(item.q, top_k)
        took = (time.perf_counter() - started) * 1000
        cites = answer.get("citations", [])
        rank = next((i for i, c in enumerate(cites) if item.matches(c)), None)
        text = _normalise(answer.get("answer", ""))
        fact_ok = any(_normalise(f) in text for f in item.facts) if item.facts else True
        flagged = [f["product_id"] for f in answer.get("flags", [])]
        justified = set(item.flags) | cited_products(cites)
        metrics.outcomes.append(
            Outcome(
                item=item,
                answer=answer,
                rank=rank,
                fact_ok=fact_ok,
                abstained=is_abstention(answer),
                missing_flags=[p for p in item.flags if p not in flagged],
                unjustified_flags=[p for p in flagged if p not in justified],
                took_ms=took,
            )
        )
    return metrics


_COLUMNS = (
    ("system", "{:<22}", lambda m: m.system),
    ("hit@1", "{:>6}", lambda m: f"{m.hit_at_1:.3f}"),
    ("hit@5", "{:>6}", lambda m: f"{m.hit_at_5:.3f}"),
    ("MRR", "{:>6}", lambda m: f"{m.mrr:.3f}"),
    ("fact", "{:>6}", lambda m: f"{m.fact_accuracy:.3f}"),
    ("flagR", "{:>6}", lambda m: f"{m.flag_recall:.3f}"),
    ("flagP", "{:>6}", lambda m: f"{m.flag_precision:.3f}"),
    ("abstain", "{:>7}", lambda m: f"{m.abstention:.3f}"),
    ("p50 ms", "{:>7}", lambda m: f"{m.latency(0.5):.1f}"),
    ("p95 ms", "{:>7}", lambda m: f"{m.latency(0.95):.1f}"),
)


def format_table(rows: list[Metrics]) -> str:
    header = " ".join(fmt.format(name) for name, fmt, _ in _COLUMNS)
    lines = [header, "-" * len(header)]
    for m in rows:
        lines.append(" ".join(fmt.format(get(m)) for _, fmt, get in _COLUMNS))
    if rows:
        answerable = len(rows[0]._answerable())
        lines.append(f"{rows[0].n} questions ({answerable} answerable, {rows[0].n - answerable} with no answer in the corpus)")
    return "\n".join(lines)


def run_eval(stack: Any, items: list[GoldenItem], *, baselines: bool = False, top_k: int = 5) -> list[Metrics]:
    """Our pipeline, then (with ``baselines``) BM25 only, dense only and naive LangChain RAG."""

    class Pipeline:
        name = "brokerkg"

        def ask(self, question: str, top_k: int) -> dict[str, Any]:
            return stack.retriever.ask(question, top_k=top_k).to_dict()  # type: ignore[no-any-return]

    def cited_products(cites: list[dict[str, Any]]) -> set[str]:
        # a product's own documents justify its flag; a claim case about it does not (contract.md)
        return {c["product_id"] for c in cites if c.get("product_id") and c.get("doc_type") != "case"}

    systems: list[System] = [Pipeline()]
    if baselines:
        from retrieval.baselines import NaiveRAG, SingleChannel

        parts = (stack.graph, stack.index, stack.embedder, stack.analyzer)
        systems += [SingleChannel("bm25", *parts), SingleChannel("dense", *parts), NaiveRAG(*parts).build()]
    return [evaluate(s, items, top_k=top_k, cited_products=cited_products) for s in systems]
