"""Scoring the compliance check against a labelled set of sales texts (tests/golden/compliance.jsonl).

An expected finding is found when the check reports the same rule over a span that overlaps
the expected quote (for a product rule, about the same product). A reported finding that
overlaps no expected finding of its rule is a false alarm. Precision and recall per rule and
overall, per split; misses are listed only for splits that are not held out, unless asked for.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domain.errors import InputError
from domain.mask import mask_pii
from retrieval.compliance.engine import Checker
from retrieval.compliance.rules import TEXT_KINDS


def is_compliance_set(path: Path) -> bool:
    """A JSONL file whose objects have ``text`` and ``expected`` (not questions)."""
    try:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    first = json.loads(line)
                    return isinstance(first, dict) and "text" in first and "expected" in first
    except (OSError, ValueError):
        return False
    return False


def load_set(path: Path) -> list[dict[str, Any]]:
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise InputError(f"{path}:{n}: not JSON ({exc})") from None
        if not isinstance(item.get("text"), str) or not isinstance(item.get("expected"), list):
            raise InputError(f"{path}:{n}: fields text (string) and expected (list) are required")
        if item.get("kind", "message") not in TEXT_KINDS:
            raise InputError(f"{path}:{n}: field kind must be one of {', '.join(TEXT_KINDS)}")
        for e in item["expected"]:
            if not isinstance(e, dict) or not isinstance(e.get("rule"), str) or e.get("quote", "") not in item["text"]:
                raise InputError(f"{path}:{n}: every expected finding needs a rule and a quote found in the text")
        item.setdefault("split", "all")
        item.setdefault("id", f"{path.name}:{n}")
        items.append(item)
    return items


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": round(self.precision, 3),
                "recall": round(self.recall, 3)}


@dataclass
class SplitScore:
    split: str
    texts: int = 0
    clean_texts: int = 0
    clean_flagged: int = 0  # clean texts that got any finding
    overall: Counts = field(default_factory=Counts)
    by_rule: dict[str, Counts] = field(default_factory=lambda: defaultdict(Counts))
    misses: list[str] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"split": self.split, "texts": self.texts, "clean_texts": self.clean_texts,
                "clean_flagged": self.clean_flagged, **self.overall.to_dict(),
                "by_rule": {k: v.to_dict() for k, v in sorted(self.by_rule.items())},
                "p50_ms": round(sorted(self.ms)[len(self.ms) // 2], 1) if self.ms else None}


def _offsets(text: str, quote: str) -> tuple[int, int]:
    i = text.find(quote)
    return (i, i + len(quote)) if i >= 0 else (0, len(text))


def score(checker: Checker, items: list[dict[str, Any]], misses_of: set[str]) -> list[SplitScore]:
    splits: dict[str, SplitScore] = {}
    for item in items:
        s = splits.setdefault(item["split"], SplitScore(item["split"]))
        result = checker.check(item["text"], item.get("kind", "message"))
        s.ms.append(result.took_ms)
        text = result.text
        s.texts += 1
        expected = [(e, _offsets(text, mask_pii(e.get("quote", "")))) for e in item["expected"]]
        if not expected:
            s.clean_texts += 1
            s.clean_flagged += bool(result.findings)
        found = [False] * len(expected)
        for f in result.findings:
            hit = False
            for n, (e, (a, b)) in enumerate(expected):
                if e["rule"] != f.rule.id:
                    continue
                same_product = e.get("product_id") and e.get("product_id") == f.product_id
                if (f.start < b and a < f.end) or same_product:
                    found[n] = hit = True
            if not hit:
                s.overall.fp += 1
                s.by_rule[f.rule.id].fp += 1
                if item["split"] in misses_of:
                    s.misses.append(f"[{item['split']}] {item['id']} FALSE ALARM {f.rule.id} ({f.matched_by}"
                                    f"{'' if f.score is None else f' {f.score:.3f}'}): {f.quote}")
        for n, (e, _) in enumerate(expected):
            counts = s.by_rule[e["rule"]]
            if found[n]:
                s.overall.tp += 1
                counts.tp += 1
            else:
                s.overall.fn += 1
                counts.fn += 1
                if item["split"] in misses_of:
                    s.misses.append(f"[{item['split']}] {item['id']} MISSED {e['rule']}: {e.get('quote')}  «{item['text'][:120]}»")
    return [splits[k] for k in sorted(splits)]


def format_scores(scores: list[SplitScore]) -> str:
    lines = []
    for s in scores:
        lines.append(f"split {s.split:<8} texts {s.texts:<4} precision {s.overall.precision:.3f}  recall "
                     f"{s.overall.recall:.3f}  (tp {s.overall.tp}, fp {s.overall.fp}, fn {s.overall.fn}); "
                     f"clean texts flagged {s.clean_flagged}/{s.clean_texts}")
        for rule, c in sorted(s.by_rule.items()):
            lines.append(f"  {rule:<22} P {c.precision:.3f}  R {c.recall:.3f}  (tp {c.tp}, fp {c.fp}, fn {c.fn})")
    return "\n".join(lines)
