"""Fact extraction scored against a hand-annotated table of real wordings (tests/golden/facts_lian*.csv).

One row per (file, fact): ``split,file,product_name,filing_no,fact,value,locator,source_text,note``.
Each split is scored separately (precision, recall, and how many were read at the annotated
clause), so that a held-out half is reported apart from the halves rules were tuned on. Pure
parsing: no store, no embedding. Rows whose note starts with ``[doubtful]`` are left out.
"""

from __future__ import annotations

import csv
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domain.errors import InputError
from domain.facts import TYPES
from ingest.parse import DocumentParser

COLUMNS = ("split", "file", "fact", "value", "locator")


@dataclass
class FactScore:
    split: str
    wordings: int
    stated: int
    extracted: int
    correct: int
    located: int  # correct and read at the annotated clause
    misses: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.correct / self.extracted if self.extracted else 0.0

    @property
    def recall(self) -> float:
        return self.correct / self.stated if self.stated else 0.0

    def line(self) -> str:
        return (f"{self.split:8} {self.wordings:2} wordings, {self.stated:3} facts stated, {self.extracted:3} extracted, "
                f"{self.correct:3} correct ({self.located} at the annotated clause): "
                f"precision {self.precision:.3f}, recall {self.recall:.3f}")

    def to_dict(self) -> dict[str, Any]:
        return {"split": self.split, "wordings": self.wordings, "stated": self.stated, "extracted": self.extracted,
                "correct": self.correct, "located": self.located, "precision": round(self.precision, 4),
                "recall": round(self.recall, 4)}


def canonical(value: object) -> str:
    """A fact's value as the tables write it: yes/no, integers without .0, choices joined by |."""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str) and "/" in value:
        return value.replace("/", "|")
    return str(value)


def load_table(paths: list[Path]) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in paths:
        try:
            with path.open(encoding="utf-8", newline="") as f:
                reader = csv.DictReader(f)
                missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
                if missing:
                    raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
                for n, row in enumerate(reader, start=2):
                    if row["fact"] not in TYPES:
                        raise InputError(f"{path}:{n}: unknown fact type {row['fact']!r} (one of {', '.join(TYPES)})")
                    if not (row.get("note") or "").startswith("[doubtful]"):
                        rows.append(row)
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: cannot read the fact table: {exc}") from exc
    return rows


class _NoCatalog:
    def products_named(self, text: str) -> list[str]:
        return []

    def invalidate(self) -> None:
        pass


def score(rows: list[dict[str, str]], corpus: Path, misses_of: set[str] | None = None) -> list[FactScore]:
    """Scores per split, in the order splits first appear; misses listed for the splits in ``misses_of``."""
    parser = DocumentParser(_NoCatalog(), "fact-eval", 50 * 1024 * 1024)
    extracted: dict[str, dict[str, tuple[str, str]]] = {}
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)  # the parser's notes on messy conversions are not the point here
    try:
        for name in dict.fromkeys(r["file"] for r in rows):
            path = corpus / name
            if not path.is_file():
                raise InputError(f"{path}: the table names this file but it is not in {corpus}")
            doc = parser.parse(path, "clause", "public", "P")
            extracted[name] = {f.type: (canonical(f.value), f.locator) for f in doc.facts}
    finally:
        logging.disable(previous)
    by_split: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        by_split[r["split"]].append(r)
    out = []
    for split, mine in by_split.items():
        files = {r["file"] for r in mine}
        expected = {(r["file"], r["fact"]): (r["value"], r["locator"]) for r in mine}
        got = {(f, t): v for f in files for t, v in extracted[f].items()}
        correct = [k for k, (v, _) in got.items() if k in expected and expected[k][0] == v]
        result = FactScore(split, len(files), len(expected), len(got), len(correct),
                           sum(1 for k in correct if got[k][1] == expected[k][1]))
        if misses_of and split in misses_of:
            for key in sorted(set(expected) | set(got)):
                want, have = expected.get(key, (None, ""))[0], got.get(key, (None, ""))[0]
                if want != have:
                    result.misses.append(f"{key[0]} {key[1]}: want {want!r}, got {have!r}")
        out.append(result)
    return out
