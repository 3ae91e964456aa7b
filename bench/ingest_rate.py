"""Ingest rate against the embedder's own speed on the same text (the floor).

    .venv/bin/python bench/ingest_rate.py [--catalog demo/lian/catalog-full.csv] [--data-dir DIR] [--sample 5]

Imports the catalog (default: all 58 products of the real insurer with manuals, rate tables and
notices, 192 documents) into a fresh data dir through the real pipeline, recording every passage
the embedder is given. Then embeds every ``--sample``-th of those passages again, alone, in the
same batches of similar length: that rate is the floor the ingest cannot beat. Prints characters/s
of both, their ratio, and where the rest of the time went.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from brokerkg.settings import load_settings  # noqa: E402
from brokerkg.stack import Stack  # noqa: E402
from ingest.pipeline import import_catalog  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--catalog", type=Path, default=ROOT / "demo" / "lian" / "catalog-full.csv")
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--sample", type=int, default=5, help="re-embed every n-th passage for the floor")
    a = p.parse_args()
    data_dir = a.data_dir or Path(tempfile.mkdtemp(prefix="brokerkg-ingest-"))
    stack = Stack(load_settings(data_dir=data_dir)).open()
    inner = stack.embedder.inner if hasattr(stack.embedder, "inner") else stack.embedder
    passages: list[str] = []
    embed_s = 0.0
    original = inner.embed_passages

    def recording(texts: list[str]) -> list[list[float]]:
        nonlocal embed_s
        passages.extend(texts)
        t0 = time.perf_counter()
        try:
            return original(texts)
        finally:
            embed_s += time.perf_counter() - t0

    inner.embed_passages = recording
    try:
        t0 = time.perf_counter()
        report = import_catalog(stack.ingestor, a.catalog)
        wall = time.perf_counter() - t0
        inner.embed_passages = original
        sample = passages[:: a.sample]
        t1 = time.perf_counter()
        original(sample)
        floor_s = time.perf_counter() - t1
    finally:
        stack.close()
    chars = sum(len(t) for t in passages)
    sample_chars = sum(len(t) for t in sample)
    docs = report.documents
    floor = sample_chars / floor_s
    print(f"catalog {a.catalog.name}: {len(report.products)} products, {len(docs.ingested)} documents ingested, "
          f"{len(docs.failed)} failed, {docs.chunks} chunks; data dir {data_dir}")
    print(f"ingest: {wall:.0f} s for {chars:,} characters embedded in {len(passages):,} passages = {chars / wall:,.0f} chars/s")
    print(f"  of which embedding {embed_s:.0f} s ({100 * embed_s / wall:.0f} %), the rest (parsing, facts, graph, index) {wall - embed_s:.0f} s")
    print(f"floor: the embedder alone on every {a.sample}th passage ({len(sample)} passages, {sample_chars:,} chars) "
          f"{floor:,.0f} chars/s")
    print(f"ingest / floor = {chars / wall / floor:.2f}")
    return 0 if not docs.failed else 1


if __name__ == "__main__":
    sys.exit(main())
