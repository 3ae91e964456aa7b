"""Ingest the demo corpus into a fresh data dir and time 100 questions through the real pipeline.

    .venv/bin/python bench/bench_ask.py [--data-dir DIR] [--regulations DIR]

Prints ingest seconds, chunk count, and answer latency p50/p95/max.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from brokerkg.settings import load_settings  # noqa: E402
from brokerkg.stack import Stack  # noqa: E402
from ingest.pipeline import import_catalog  # noqa: E402
from retrieval.evaluation import load_golden  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--regulations", type=Path, default=ROOT.parent / "shared" / "corpus" / "regulations")
    parser.add_argument("--questions", type=int, default=100)
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="brokerkg-bench-"))

    started = time.perf_counter()
    stack = Stack(load_settings(data_dir=data_dir)).open()
    open_s = time.perf_counter() - started
    try:
        t0 = time.perf_counter()
        regs = stack.ingestor.ingest([args.regulations], "regulation")
        catalog = import_catalog(stack.ingestor, ROOT / "demo" / "catalog.csv")
        cases = stack.ingestor.ingest([ROOT / "demo" / "cases"], "case")
        ingest_s = time.perf_counter() - t0
        chunks = regs.chunks + catalog.documents.chunks + cases.chunks
        docs = len(regs.ingested) + len(catalog.documents.ingested) + len(cases.ingested)

        golden = [item.q for item in load_golden(ROOT / "tests" / "golden" / "questions.jsonl")]
        questions = (golden * (args.questions // len(golden) + 1))[: args.questions]
        stack.retriever.ask(questions[0])  # warm-up: first query loads lazy parts
        latencies = []
        for q in questions:
            t = time.perf_counter()
            stack.retriever.ask(q)
            latencies.append((time.perf_counter() - t) * 1000)
    finally:
        stack.close()
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    print(f"data dir            {data_dir}")
    print(f"stack start         {open_s:.2f} s")
    print(f"ingest              {ingest_s:.1f} s for {docs} documents, {chunks} chunks ({chunks / ingest_s:.1f} chunks/s)")
    print(f"ask latency (n={len(latencies)})  p50 {p(0.50):.0f} ms  p95 {p(0.95):.0f} ms  max {latencies[-1]:.0f} ms  mean {statistics.mean(latencies):.0f} ms")


if __name__ == "__main__":
    main()
