"""Golden-set scoring: did the expected document and locator come back, and were the flags right?

Used by the test suite and ``bench/``; issue-independent so outside sets use the same rules.
A golden item is ``{"q", "title", "locator", "flags"}``; locator ``*`` accepts any section.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class GoldenResult:
    total: int = 0
    hit1: int = 0
    hit5: int = 0
    missing_flags: list[str] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)

    @property
    def hit_at_1(self) -> float:
        return self.hit1 / self.total if self.total else 0.0

    @property
    def hit_at_5(self) -> float:
        return self.hit5 / self.total if self.total else 0.0


def load_golden(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def matches(citation: dict[str, Any], item: dict[str, Any]) -> bool:
    return citation["title"] == item["title"] and (item["locator"] == "*" or citation["locator"] == item["locator"])


def score(items: list[dict[str, Any]], answers: list[dict[str, Any]]) -> GoldenResult:
    result = GoldenResult()
    for item, answer in zip(items, answers, strict=True):
        result.total += 1
        cites = answer["citations"]
        rank = next((i for i, c in enumerate(cites) if matches(c, item)), None)
        if rank == 0:
            result.hit1 += 1
        if rank is not None and rank < 5:
            result.hit5 += 1
        else:
            got = [f"{c['title'][:20]} {c['locator']}" for c in cites[:3]]
            result.misses.append(f"{item['q']} → expected {item['title'][:20]} {item['locator']}, got {got}")
        flagged = {f["product_id"] for f in answer["flags"]}
        for pid in item.get("flags", []):
            if pid not in flagged:
                result.missing_flags.append(f"{item['q']}: {pid}")
    return result
