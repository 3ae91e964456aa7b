"""Fact extraction on real wordings: precision and recall against tests/golden/facts_lian.csv,
the development half and the held-out half reported separately (see tests/golden/facts_lian.md
for how the table was annotated and split before any rule was written against it).

    .venv/bin/python bench/facts_real.py [--corpus ../shared/corpus/insurer-lian/clauses] [--misses]

Pure parsing (ingest.parse.DocumentParser): no store, no embedding. A value counts as correct
when the type and value match (locator reported separately); rows marked [doubtful] are left out.
"""

from __future__ import annotations

import argparse
import csv
import logging
from collections import defaultdict
from pathlib import Path

from ingest.parse import DocumentParser

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "facts_lian.csv"
# a second development set of 14 more wordings, annotated after the first round of rules (facts_lian_dev2.md)
DEV2 = ROOT / "tests" / "golden" / "facts_lian_dev2.csv"
# 20 more wordings split into dev3 / heldout2 by the same sha1 rule (facts_lian_more.md)
MORE = ROOT / "tests" / "golden" / "facts_lian_more.csv"


class _NoCatalog:
    def products_named(self, text: str) -> list[str]:
        return []

    def invalidate(self) -> None:
        pass


def canonical(value: object) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str) and "/" in value:  # options chosen at application: 15年/20年 is the table's 15年|20年
        return value.replace("/", "|")
    return str(value)


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "insurer-lian" / "clauses")
    args.add_argument("--misses", action="store_true")
    opts = args.parse_args()
    logging.disable(logging.WARNING)
    rows = [r for path in (GOLDEN, DEV2, MORE) if path.is_file()
            for r in csv.DictReader(path.open(encoding="utf-8")) if not r["note"].startswith("[doubtful]")]
    parser = DocumentParser(_NoCatalog(), "bench", 50 * 1024 * 1024)
    extracted: dict[str, dict[str, tuple[str, str]]] = {}
    for name in sorted({r["file"] for r in rows}):
        doc = parser.parse(opts.corpus / name, "clause", "public", "P")
        extracted[name] = {f.type: (canonical(f.value), f.locator) for f in doc.facts}
    by_split: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        by_split[r["split"]].append(r)
    for split in ("dev", "dev2", "dev3", "heldout", "heldout2"):
        mine = by_split[split]
        if not mine:
            continue
        files = {r["file"] for r in mine}
        expected = {(r["file"], r["fact"]): r["value"] for r in mine}
        got = {(f, t): v for f in files for t, (v, _) in extracted[f].items()}
        correct = [k for k, v in got.items() if expected.get(k) == v]
        located = [k for k in correct if extracted[k[0]][k[1]][1] == next(r["locator"] for r in mine if (r["file"], r["fact"]) == k)]
        precision = len(correct) / len(got) if got else 0.0
        recall = len(correct) / len(expected) if expected else 0.0
        print(f"{split:8} {len(files):2} wordings, {len(expected):3} facts stated, {len(got):3} extracted, "
              f"{len(correct):3} correct ({len(located)} at the annotated clause): precision {precision:.3f}, recall {recall:.3f}")
        if opts.misses and not split.startswith("heldout"):  # the held-out halves stay unseen
            for key in sorted(set(expected) | set(got)):
                if expected.get(key) != got.get(key):
                    print(f"   {key[0]} {key[1]}: want {expected.get(key)!r}, got {got.get(key)!r}")


if __name__ == "__main__":
    main()
