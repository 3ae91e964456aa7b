"""Answers while the embedded index is optimized after a write: in the serving process vs aside.

    .venv/bin/python bench/optimize_aside.py --seed-data DIR [--points 100000] [--add 10000]
                                             [--work DIR] [--questions 100]

Copies an ingested data dir (``--seed-data``, e.g. after ``make demo``), grows its vector index
to ``--points`` with perturbed copies of its points and optimizes it (bench/scale.py's
``grow_index``: real seed vectors + N(0, 0.05) noise, stated in the output). Then, twice on a
fresh copy of that grown dir, writes ``--add`` more points (a write past the indexing threshold,
as an ingest through the server makes) and optimizes while one client asks the golden questions
one after another through the real answer pipeline (query cache off):

- ``inline``: ``index.optimize()`` in a thread of the process, as a server would have to run it;
- ``aside``: ``index.optimize_aside()``, as ``brokerkg serve`` now does (a child process optimizes
  a copy; queries wait only for the swap).

Prints, per mode: the optimize's wall time, answers completed during it, their p50/p95/max
latency, and the answer p50 after it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from procstat import pct  # noqa: E402 (bench/, the script's folder)
from scale import grow_index  # noqa: E402

from brokerkg.settings import load_settings  # noqa: E402
from brokerkg.stack import Stack  # noqa: E402

SKIP = ("brokerkg.lock", "owner.json", "server.json", "*.pid")


def _stack(data: Path) -> Any:
    return Stack(load_settings(data_dir=data, query_cache=0, optimize_quiet_s=0)).open()


def _answers(retriever: Any, questions: list[str], until: threading.Event) -> list[float]:
    lat, i = [], 0
    while not until.is_set():
        t = time.perf_counter()
        retriever.ask(questions[i % len(questions)])
        lat.append((time.perf_counter() - t) * 1000)
        i += 1
    return lat


def run(mode: str, base: Path, work: Path, add: int, questions: list[str]) -> dict[str, Any]:
    data = work / mode
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(base, data, ignore=shutil.ignore_patterns(*SKIP))
    stack = _stack(data)
    try:
        index, retriever = stack.index, stack.retriever
        before = index.count()
        grow_index(stack, before + add, tag=f"w{mode}", optimize=False)
        retriever.ask(questions[0])
        done, out = threading.Event(), {}

        def optimize() -> None:
            t = time.perf_counter()
            out["report"] = index.optimize() if mode == "inline" else index.optimize_aside()
            out["optimize_s"] = time.perf_counter() - t
            done.set()

        worker = threading.Thread(target=optimize)
        worker.start()
        during = _answers(retriever, questions, done)
        worker.join()
        after = []
        for q in questions[:30]:
            t = time.perf_counter()
            retriever.ask(q)
            after.append((time.perf_counter() - t) * 1000)
        row: dict[str, Any] = {
            "mode": mode, "points": index.count(), "optimize_s": round(out["optimize_s"], 1),
            "answers_during": len(during), "answers_per_s_during": round(len(during) / out["optimize_s"], 1),
            "during_p50_ms": round(statistics.median(during), 1) if during else None,
            "during_p95_ms": round(pct(during, 0.95), 1) if during else None,
            "during_max_ms": round(max(during), 1) if during else None,
            "after_p50_ms": round(statistics.median(after), 1),
        }
        report = out.get("report")
        if report is not None:
            row.update(copy_s=round(report.copy_s, 1), child_s=round(report.child_s, 1),
                       queries_held_ms=round(report.swap_s * 1000), swapped=report.swapped)
        return row
    finally:
        stack.close()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--seed-data", type=Path, required=True)
    p.add_argument("--points", type=int, default=100_000)
    p.add_argument("--add", type=int, default=10_000)
    p.add_argument("--work", type=Path, default=Path("/tmp/brokerkg-aside"))
    p.add_argument("--questions", type=int, default=100)
    a = p.parse_args()
    golden = [json.loads(line)["q"] for line in (ROOT / "tests/golden/questions.jsonl").read_text(encoding="utf-8").splitlines()
              if line.strip()]
    questions = golden[: a.questions]
    shutil.rmtree(a.work, ignore_errors=True)
    base = a.work / "base"
    shutil.copytree(a.seed_data, base, ignore=shutil.ignore_patterns(*SKIP))
    stack = _stack(base)
    try:
        grown = grow_index(stack, a.points)
    finally:
        stack.close()
    print(json.dumps({"grown": grown, "note": "grown points: seed vectors + N(0, 0.05) noise; answers: one client, "
                      "golden questions, real pipeline, query cache off"}, ensure_ascii=False), flush=True)
    for mode in ("inline", "aside"):
        print(json.dumps(run(mode, base, a.work, a.add, questions), ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
