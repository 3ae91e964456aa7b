"""Fact extraction on real wordings: precision and recall against the hand-annotated tables of
tests/golden/ (facts_lian.csv, facts_lian_dev2.csv, facts_lian_more.csv), each split reported
separately. ``heldout2`` is the held-out half: it was annotated and split by rule after the
rules were written and its misses are never printed. ``heldout`` (facts_lian.csv) was held out
until its blind run at fc60713 (precision 0.969, recall 0.886) and has been development data
since (facts_lian.md).

    .venv/bin/python bench/facts_real.py [--corpus ../shared/corpus/insurer-lian/clauses] [--misses]

The same figures: ``brokerkg eval tests/golden/facts_lian*.csv --corpus DIR``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ingest.fact_eval import load_table, score

ROOT = Path(__file__).resolve().parents[1]
TABLES = [ROOT / "tests" / "golden" / name for name in ("facts_lian.csv", "facts_lian_dev2.csv", "facts_lian_more.csv")]
HELD_OUT = "heldout2"


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "insurer-lian" / "clauses")
    args.add_argument("--misses", action="store_true")
    opts = args.parse_args()
    rows = load_table([t for t in TABLES if t.is_file()])
    splits = {r["split"] for r in rows} - {HELD_OUT} if opts.misses else set()
    for result in sorted(score(rows, opts.corpus, splits), key=lambda s: s.split):
        print(result.line())
        for miss in result.misses:
            print("  ", miss)


if __name__ == "__main__":
    main()
