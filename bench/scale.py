"""The cost curve: answer latency, memory, disk and ingest rate as the corpus grows.

    .venv/bin/python bench/scale.py --seed-data DIR [--sizes 10000,100000] [--questions 100]
                                    [--work DIR] [--corpus ../shared/corpus/insurer-lian]
                                    [--index-to 1000000] [--in-place]

Starts from a copy of an ingested data dir (``--seed-data``, e.g. after ``make demo``: real
regulations, products and cases, whose golden questions are asked at every size) and grows it
to each size in ``--sizes`` (chunks) by importing replicas of the real insurer's whole corpus
(``demo/lian/catalog-full.csv``: 58 products, 192 documents): every product again under a
varied name (利安臻享…, 第N计划), its documents' text carrying that name, through the real
pipeline (parsing, fact reading, graph write, index write).

What is not real, and said in the output: replica passages are not run through the embedding
model (≈ 1.4k characters/s here would take a day per 100k chunks). Each gets a real passage
vector of the seed corpus, chosen by the text's hash, plus Gaussian noise (σ 0.05 per
dimension before normalising): the index holds as many distinct vectors as chunks, with the
seed's distribution. Queries are embedded by the real model.

Past what the pipeline can build in a session (≈ 75 chunks/s here: 1M chunks would take about
four hours), ``--index-to N`` grows the vector index alone to N points: copies of the points
already there, each under a new id with its document and product ids varied (so a filter on one
product selects as few points as before) and its dense vector perturbed the same way, then
optimized. The graph stays at the size the pipeline reached; the output says so. ``--in-place``
measures and grows ``--seed-data`` itself instead of a copy (e.g. the data dir a previous run left).

At each size: chunks, products, the answer latency p50/p95 of the golden questions through the
real pipeline (sequential, in process), graph queries with that many products, this process's
and the graph server's memory, disk of both stores, and the ingest rate of the step (characters
and chunks per second, embedding excluded; the index's optimize after the step, as the CLI runs
it, is timed apart).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import random
import shutil
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from procstat import pct, rss_mb  # noqa: E402 (bench/, the script's folder)

from brokerkg.settings import load_settings  # noqa: E402
from brokerkg.stack import Stack  # noqa: E402
from ingest.pipeline import import_catalog  # noqa: E402

WORDS = ["臻享", "优选", "安心", "鑫悦", "尊享", "福佑", "康泰", "长乐", "金禧", "惠民", "如意", "恒盛"]


def disk_mb(path: Path) -> float:
    """Blocks in use (the index preallocates sparse files: their apparent size is no measure)."""
    return sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file()) / 1e6


class ScaleEmbedder:
    """Queries by the real model; passages get a seed vector (by text hash) plus noise."""

    def __init__(self, real: Any, pool: list[list[float]]) -> None:
        self.real = real
        self.pool = pool
        self.name = real.name
        self.dim = real.dim

    def embed_query(self, text: str) -> list[float]:
        return list(self.real.embed_query(text))

    def embed_passages(self, texts: list[str]) -> list[list[float]]:
        out = []
        for t in texts:
            seed = int(hashlib.sha1(t.encode()).hexdigest()[:12], 16)
            rng = random.Random(seed)
            base = self.pool[seed % len(self.pool)]
            v = [x + rng.gauss(0.0, 0.05) for x in base]
            norm = math.sqrt(sum(x * x for x in v)) or 1.0
            out.append([x / norm for x in v])
        return out


def replica_catalog(k: int, rows: list[dict[str, str]], src: Path, out: Path) -> tuple[Path, int]:
    """Replica ``k`` of the catalog: product ids, names and aliases varied, document texts renamed."""
    folder = out / f"r{k}"
    folder.mkdir(parents=True, exist_ok=True)
    word = WORDS[k % len(WORDS)]
    tag = f"第{k}计划"
    chars = 0
    new_rows = []
    for row in rows:
        name = row["name"]
        new_name = f"{word}{name}（{tag}）"
        docs = []
        for rel in row["documents"].split("|"):
            path = (src.parent / rel).resolve()
            if not path.is_file():
                continue
            text = path.read_text(encoding="utf-8", errors="replace").replace(name, new_name)
            target = folder / f"{k}_{path.name}"
            target.write_text(text, encoding="utf-8")
            chars += len(text)
            docs.append(str(target))
        new_rows.append({**row, "product_id": f"{row['product_id']}-R{k}", "name": new_name,
                         "aliases": "|".join(f"{word}{a}{k}" for a in row["aliases"].split("|") if a),
                         "replaced_by": f"{row['replaced_by']}-R{k}" if row.get("replaced_by") else "",
                         "documents": "|".join(docs), "filings": ""})
    catalog = folder / "catalog.csv"
    with catalog.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(new_rows)
    return catalog, chars


def grow_index(stack: Any, target: int, batch: int = 2048, *, tag: str = "x", optimize: bool = True) -> dict[str, Any]:
    """Grow the vector index alone to ``target`` points with perturbed copies of its points (ids and
    document/product ids marked ``~{tag}N``: another tag adds new points), then optimize it."""
    import numpy as np

    from index.vectors.base import IndexPoint

    index = stack.index
    originals = [point for chunk in index.export(1024) for point in chunk]
    dense = np.array([p.dense for p in originals], dtype=np.float32)
    rng = np.random.default_rng(7)
    start_count = index.count()  # every copy has a new id: the index then holds start_count + copies
    t0 = time.perf_counter()
    copies = 0
    round_no = 0
    while start_count + copies < target:
        round_no += 1
        for start in range(0, len(originals), batch):
            if start_count + copies >= target:
                break
            part = originals[start : start + batch]
            vectors = dense[start : start + len(part)] + rng.normal(0.0, 0.05, (len(part), dense.shape[1])).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            points = []
            for point, vector in zip(part, vectors, strict=True):
                payload = dict(point.payload)
                for key in ("doc_id", "product_id"):
                    if payload.get(key):
                        payload[key] = f"{payload[key]}~{tag}{round_no}"
                new_id = str(uuid.uuid5(uuid.NAMESPACE_OID, f"{point.id}:{tag}{round_no}"))
                points.append(IndexPoint(new_id, vector.tolist(), point.sparse, payload))
            index.upsert(points)
            copies += len(points)
    write_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    if optimize:
        index.optimize()
    optimize_s = time.perf_counter() - t0
    return {"copied_points": copies, "copy_points_per_s": round(copies / write_s) if write_s else None,
            "optimize_s": round(optimize_s)}


def measure(stack: Any, questions: list[str], graph_pid: int | None) -> dict[str, Any]:
    retriever = stack.retriever
    retriever.ask(questions[0])
    index = stack.index
    hybrid, hybrid_lat = index.hybrid, []

    def timed_hybrid(*args: Any, **kwargs: Any) -> Any:  # the index's own share of each answer
        t = time.perf_counter()
        try:
            return hybrid(*args, **kwargs)
        finally:
            hybrid_lat.append((time.perf_counter() - t) * 1000)

    index.hybrid = timed_hybrid
    lat = []
    try:
        for q in questions:
            t = time.perf_counter()
            retriever.ask(q)
            lat.append((time.perf_counter() - t) * 1000)
    finally:
        del index.hybrid
    products = stack.graph.list_products()
    ids = [p["product_id"] for p in products]
    t = time.perf_counter()
    for i in range(20):
        stack.graph.product_status(ids[i * 7 % len(ids): i * 7 % len(ids) + 5])
    status_ms = (time.perf_counter() - t) * 1000 / 20
    t = time.perf_counter()
    stack.graph.list_products()
    list_ms = (time.perf_counter() - t) * 1000
    return {
        "chunks": stack.index.count(), "products": len(products),
        "answer_p50_ms": round(statistics.median(lat), 1), "answer_p95_ms": round(pct(lat, 0.95), 1),
        "hybrid_p50_ms": round(statistics.median(hybrid_lat), 2), "hybrid_p95_ms": round(pct(hybrid_lat, 0.95), 2),
        "product_status_ms": round(status_ms, 2), "list_products_ms": round(list_ms, 1),
        "rss_app_mb": round(rss_mb(os.getpid())), "rss_graph_mb": round(rss_mb(graph_pid)) if graph_pid else None,
    }


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--seed-data", type=Path, required=True)
    p.add_argument("--sizes", default="10000,100000")
    p.add_argument("--questions", type=int, default=100)
    p.add_argument("--work", type=Path, default=Path("/tmp/brokerkg-scale"))
    p.add_argument("--corpus-catalog", type=Path, default=ROOT / "demo" / "lian" / "catalog-full.csv")
    p.add_argument("--index-to", type=int, default=0, help="then grow the vector index alone to this many points")
    p.add_argument("--in-place", action="store_true", help="use --seed-data itself, not a copy")
    a = p.parse_args()
    sizes = [int(s) for s in a.sizes.split(",") if s]
    if a.in_place:
        data = a.seed_data
    else:
        shutil.rmtree(a.work, ignore_errors=True)
        data = a.work / "data"
        shutil.copytree(a.seed_data, data, ignore=shutil.ignore_patterns("brokerkg.lock", "owner.json", "server.json", "*.pid"))
    golden = [json.loads(line)["q"] for line in (ROOT / "tests/golden/questions.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = golden[: a.questions]
    rows = list(csv.DictReader(a.corpus_catalog.open(encoding="utf-8")))
    stack: Any = Stack(load_settings(data_dir=data, query_cache=0)).open()
    try:
        graph_pid = None
        try:
            graph_pid = int(json.loads((data / "graph" / "server.json").read_text())["pid"])
        except (OSError, ValueError, KeyError):
            pass
        real = stack.embedder
        pool = [point.dense for batch in stack.index.export(256) for point in batch]
        stack.ingestor.writer.embedder = ScaleEmbedder(real, pool)
        print("vectors of replica passages: a seed passage's real vector (by text hash) + N(0, 0.05) noise, normalised; "
              f"{len(pool)} seed vectors; queries by the real model; answer latency over {len(questions)} golden questions, "
              "sequential, in process, query cache off")
        results = []
        base = measure(stack, questions, graph_pid)
        base.update(step_s=None, chars_per_s=None, chunks_per_s=None, disk_graph_mb=round(disk_mb(data / "graph")),
                    disk_vectors_mb=round(disk_mb(data / "vectors")))
        results.append(base)
        print(json.dumps(base, ensure_ascii=False), flush=True)
        k = 0
        for size in sizes:
            t0 = time.perf_counter()
            chars = chunks = 0
            while stack.index.count() < size:
                k += 1
                catalog, c = replica_catalog(k, rows, a.corpus_catalog, a.work / "replicas")
                report = import_catalog(stack.ingestor, catalog)
                chars += c
                chunks += report.documents.chunks
                shutil.rmtree(catalog.parent)
                if report.documents.failed:
                    print(f"replica {k}: {len(report.documents.failed)} documents failed: {report.documents.failed[:2]}")
            step = time.perf_counter() - t0
            t1 = time.perf_counter()
            stack.index.optimize()  # as `brokerkg ingest` and `catalog import` do at their end
            optimize_s = time.perf_counter() - t1
            row = measure(stack, questions, graph_pid)
            row.update(step_s=round(step), optimize_s=round(optimize_s), chars_per_s=round(chars / step),
                       chunks_per_s=round(chunks / step, 1),
                       disk_graph_mb=round(disk_mb(data / "graph")), disk_vectors_mb=round(disk_mb(data / "vectors")))
            results.append(row)
            print(json.dumps(row, ensure_ascii=False), flush=True)
        if a.index_to and stack.index.count() < a.index_to:
            graph_chunks = stack.index.count()
            print(f"growing the vector index alone from {graph_chunks} to {a.index_to} points (perturbed copies); "
                  "the graph stays as it is", flush=True)
            t0 = time.perf_counter()
            stack.ingestor.writer.embedder = real  # the seed vectors go: grow_index exports the points (with payloads) once more
            del pool
            grown = grow_index(stack, a.index_to)
            row = measure(stack, questions, graph_pid)
            row.update(step_s=round(time.perf_counter() - t0), chars_per_s=None, chunks_per_s=None,
                       disk_graph_mb=round(disk_mb(data / "graph")), disk_vectors_mb=round(disk_mb(data / "vectors")),
                       index_only=True, **grown)
            results.append(row)
            print(json.dumps(row, ensure_ascii=False), flush=True)
    finally:
        stack.close()
    print("| chunks | products | answer p50 | p95 | hybrid query p50 / p95 | product_status | list_products | RSS app | RSS graph "
          "| disk graph | disk vectors | ingest chars/s (no embedding) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        chunks = f"{r['chunks']:,}" + (" (index only)" if r.get("index_only") else "")
        print(f"| {chunks} | {r['products']:,} | {r['answer_p50_ms']} ms | {r['answer_p95_ms']} ms "
              f"| {r['hybrid_p50_ms']} / {r['hybrid_p95_ms']} ms | {r['product_status_ms']} ms "
              f"| {r['list_products_ms']} ms | {r['rss_app_mb']} MB | {r['rss_graph_mb']} MB | {r['disk_graph_mb']} MB "
              f"| {r['disk_vectors_mb']} MB | {r['chars_per_s'] or '–'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
