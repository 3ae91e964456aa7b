"""Throughput against the CPU floor: a sequential pass, then N concurrent clients, on `brokerkg serve`.

    .venv/bin/python bench/load.py --data-dir DIR [--clients 32] [--seconds 60] [--kill-at 0]
                                   [--endpoint ask|search|mix] [--env NAME=VALUE ...]

DIR must hold an ingested corpus (e.g. after `make demo`). Starts `brokerkg serve` on a free
port and measures, in the same run:

1. a sequential pass (every golden question once on a connection to each serving process, one
   request at a time, after a warm-up pass of them): latency p50/p95 and the CPU seconds the
   server and its graph server burned per answer. The floor is cores / p50: what the machine
   could serve if concurrent requests cost what one costs.
2. the load: ``--clients`` connections (keep-alive, one thread each, plain ``http.client`` so
   the clients cost little CPU) for ``--seconds``; throughput, its share of the floor, latency
   percentiles, CPU seconds per answer, status counts and the server's memory over time.
   ``--kill-at S`` kills the bundled graph server with SIGKILL S seconds in and reports the
   outage (only 503 inside it, only 200 outside) and how long recovery took.

Questions are the demo golden set's, in an order each client starts at its own offset; repeats
are what bots send. ``--env BROKERKG_QUERY_CACHE=0`` measures with the query cache off,
``--env BROKERKG_WORKERS=1`` with one serving process (the default is one per core).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from procstat import children, cpu_s, pct, rss_mb  # bench/ (the script's folder)

from brokerkg.settings import serving_processes

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [json.loads(line)["q"] for line in (ROOT / "tests/golden/questions.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]


def graph_pid(data_dir: Path) -> int | None:
    try:
        return int(json.loads((data_dir / "graph" / "server.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


class NoDelay(http.client.HTTPConnection):
    """http.client sends a request's headers and body in two writes: with Nagle's algorithm on, the
    body waits for the server's delayed ACK of the headers (up to 40 ms on Linux), which is the
    client's time, not the server's. Browsers and HTTP libraries set TCP_NODELAY; so does this."""

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Client:
    """One keep-alive HTTP connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = NoDelay("127.0.0.1", port, timeout=30)
        self.served: Counter[str] = Counter()  # responses per serving process (X-BrokerKG-Process)

    def post(self, path: str, body: dict[str, str]) -> int:
        data = json.dumps(body, ensure_ascii=False).encode()
        try:
            self.conn.request("POST", path, body=data, headers={"content-type": "application/json"})
            response = self.conn.getresponse()
            response.read()
            self.served[response.getheader("X-BrokerKG-Process") or "?"] += 1
            return response.status
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = NoDelay("127.0.0.1", self.port, timeout=30)
            return 0


def request_for(endpoint: str, n: int, q: str) -> tuple[str, dict[str, str]]:
    if endpoint == "ask" or (endpoint == "mix" and n % 2):
        return "/v1/ask", {"question": q}
    return "/v1/search", {"query": q}


def embeddings(port: int) -> dict[str, float]:
    """The owner's query-embedding counts from /metrics (with workers: asked until the owner answers)."""
    for _ in range(50):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", "/metrics")
            response = conn.getresponse()
            text = response.read().decode()
            if response.getheader("X-BrokerKG-Process", "0") != "0":
                continue
        except OSError:
            return {}
        finally:
            conn.close()
        out = {}
        for line in text.splitlines():
            if line.startswith(("brokerkg_query_embeddings_total", "brokerkg_query_embedding_batches_total")):
                name, value = line.rsplit(" ", 1)
                out[name.split('how="')[-1].rstrip('"}') if "how=" in name else "batches"] = float(value)
        return out
    return {}


def app_cpu_s(pids: list[int]) -> float:
    return sum(cpu_s(pid) for pid in pids)


def per_process(port: int, workers: int) -> list[Client]:
    """One keep-alive connection to each serving process (the kernel spreads new connections by
    hash: opened until each process has answered on one), the owner's first."""
    found: dict[str, Client] = {}
    deadline = time.monotonic() + 120
    while len(found) < workers and time.monotonic() < deadline:
        client = Client(port)
        try:
            client.conn.request("GET", "/healthz")
            response = client.conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            time.sleep(0.2)
            continue
        process = response.getheader("X-BrokerKG-Process") or "?"
        if process in found:
            client.conn.close()
        else:
            found[process] = client
    return [found[p] for p in sorted(found)]


def sequential(ones: list[Client], endpoint: str, app_pid: list[int], gpid: int | None) -> tuple[float | None, str]:
    """Every question once on each process, one request at a time (a lone request is served by
    whichever process the kernel gives its connection): p50 latency over all (None on a failure),
    and a line with CPU per answer."""
    before = app_cpu_s(app_pid), cpu_s(gpid)
    seq: list[float] = []
    by_process: list[list[float]] = [[] for _ in ones]
    t_seq = time.monotonic()
    for n, q in enumerate(QUESTIONS):
        for i, one in enumerate(ones):
            t0 = time.monotonic()
            status = one.post(*request_for(endpoint, n, q))
            by_process[i].append((time.monotonic() - t0) * 1000)
            seq.append(by_process[i][-1])
            if status != 200:
                return None, f"sequential pass: status {status} for {q!r}"
    wall = time.monotonic() - t_seq
    app_cpu, graph_cpu = app_cpu_s(app_pid) - before[0], cpu_s(gpid) - before[1]
    seq.sort()
    p50 = statistics.median(seq)
    each = f" (p50 by process {' / '.join(f'{statistics.median(ms):.1f}' for ms in by_process)} ms)" if len(ones) > 1 else ""
    return p50, (f"{len(seq)} requests, p50 {p50:.1f} ms{each}, p95 {pct(seq, 0.95):.1f} ms, mean {statistics.mean(seq):.1f} ms; "
                 f"CPU per answer {1000 * (app_cpu + graph_cpu) / len(seq):.1f} ms (app {1000 * app_cpu / len(seq):.1f}, "
                 f"graph server {1000 * graph_cpu / len(seq):.1f}) vs wall {1000 * wall / len(seq):.1f} ms")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--kill-at", type=float, default=0, help="seconds into the load; 0: no kill")
    p.add_argument("--endpoint", choices=["ask", "search", "mix"], default="ask")
    p.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    a = p.parse_args()
    cores = len(os.sched_getaffinity(0))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "BROKERKG_DATA_DIR": str(a.data_dir), "BROKERKG_RATE_LIMIT_PER_MINUTE": "0", "BROKERKG_LOG_LEVEL": "WARNING"}
    env.update(item.split("=", 1) for item in a.env)
    server = subprocess.Popen([str(Path(sys.executable).parent / "brokerkg"), "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return run(a, server, port, cores)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)


def run(a: argparse.Namespace, server: subprocess.Popen[bytes], port: int, cores: int) -> int:
    for _ in range(600):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.2)
    workers = serving_processes(int({**os.environ, **dict(item.split("=", 1) for item in a.env)}.get("BROKERKG_WORKERS", "0")))
    gpid = graph_pid(a.data_dir)
    app = [server.pid] + [pid for pid in children(server.pid) if pid != gpid]  # the owner and its workers
    print(f"{cores} cores; server pids {app}, graph server pid {gpid}; endpoint {a.endpoint}; "
          f"{len(QUESTIONS)} questions; server env {' '.join(a.env) or '(default)'}")

    # 1. sequential pass
    ones = per_process(port, workers)
    for n, q in enumerate(QUESTIONS):  # warm-up: lazy parts, first connections, each question's first-time work
        for one in ones:
            one.post(*request_for(a.endpoint, n, q))
    p50, line = sequential(ones, a.endpoint, app, gpid)
    if p50 is None:
        print(line)
        return 1
    floor = cores * 1000 / p50
    print(f"sequential before the load: {line}")
    print(f"floor: {cores} cores / p50 = {floor:.1f} answers/s")

    # 2. load
    results: list[tuple[float, float, int]] = []  # (start offset, ms, status)
    lock = threading.Lock()
    served: Counter[str] = Counter()
    start = time.monotonic()
    stop = start + a.seconds

    def client(i: int) -> None:
        c = Client(port)
        n = i * 7
        while time.monotonic() < stop:
            path, body = request_for(a.endpoint, n, QUESTIONS[n % len(QUESTIONS)])
            n += 1
            t0 = time.monotonic()
            status = c.post(path, body)
            with lock:
                results.append((t0 - start, (time.monotonic() - t0) * 1000, status))
        with lock:
            served.update(c.served)

    counts_before = embeddings(port)
    before = app_cpu_s(app), cpu_s(gpid)
    own_before = time.process_time()
    memory: list[float] = []
    threads = [threading.Thread(target=client, args=(i,)) for i in range(a.clients)]
    for t in threads:
        t.start()
    killed_at = None
    while time.monotonic() < stop:
        now = time.monotonic() - start
        memory.append(sum(rss_mb(pid) for pid in app))
        if a.kill_at and killed_at is None and now >= a.kill_at:
            pid = graph_pid(a.data_dir)
            if pid:
                os.kill(pid, signal.SIGKILL)
            killed_at = now
        time.sleep(0.5)
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    app_cpu = app_cpu_s(app) - before[0]
    own_cpu = time.process_time() - own_before
    graph_cpu = cpu_s(gpid) - before[1] if killed_at is None else float("nan")

    counts = {k: v - counts_before.get(k, 0.0) for k, v in embeddings(port).items()}
    p50_after, line_after = sequential(per_process(port, workers), a.endpoint, app, graph_pid(a.data_dir))
    print(f"sequential after the load: {line_after}")

    ok = [r for r in results if r[2] == 200]
    end = lambda r: r[0] + r[1] / 1000  # noqa: E731 (when the response came back)
    inside: list[tuple[float, float, int]] = []
    outside = results
    recovered_at = None
    if killed_at is not None:
        failed = [r for r in results if r[2] != 200]
        recovered_at = max((end(r) for r in failed), default=killed_at)
        inside = [r for r in results if killed_at <= end(r) <= recovered_at]
        outside = [r for r in results if not killed_at <= end(r) <= recovered_at]
    lat = sorted(r[1] for r in ok)
    throughput = len(ok) / elapsed
    print(f"load: {a.clients} clients, {elapsed:.0f} s, {len(results)} requests, {throughput:.1f} answers/s "
          f"= {100 * throughput / floor:.0f} % of the floor")
    if p50_after:  # the machine's speed drifts (shared host): the floor measured after the load too
        floor_after = cores * 1000 / p50_after
        print(f"floor after the load {floor_after:.1f} answers/s; throughput = {100 * throughput / floor_after:.0f} % of it, "
              f"{100 * throughput / ((floor + floor_after) / 2):.0f} % of the two floors' mean")
    print(f"latency of 200s: p50 {pct(lat, 0.5):.0f} ms, p95 {pct(lat, 0.95):.0f} ms, p99 {pct(lat, 0.99):.0f} ms, "
          f"mean {statistics.mean(lat) if lat else 0:.0f} ms")
    if ok:
        print(f"CPU per answer under load: app {1000 * app_cpu / len(ok):.1f} ms + graph server "
              f"{1000 * graph_cpu / len(ok):.1f} ms + these clients {1000 * own_cpu / len(ok):.1f} ms; "
              f"the cores' wall time per answer {1000 * cores * elapsed / len(ok):.1f} ms")
    if counts:
        print(f"query vectors under load (the owner's): {counts.get('cached', 0):.0f} cached, {counts.get('alone', 0):.0f} alone on every core, "
              f"{counts.get('batched', 0):.0f} batched in {counts.get('batches', 0):.0f} one-thread calls "
              f"(mean batch {counts.get('batched', 0) / max(1.0, counts.get('batches', 0)):.2f})")
    print(f"statuses outside the outage: {dict(Counter(r[2] for r in outside))}; "
          f"responses per serving process: {dict(sorted(served.items()))}")
    if killed_at is not None and recovered_at is not None:
        print(f"graph server killed at {killed_at:.1f} s; last failure at {recovered_at:.1f} s "
              f"(recovered in {recovered_at - killed_at:.1f} s); statuses during the outage: {dict(Counter(r[2] for r in inside))}")
    mem = [m for m in memory if m]
    if mem:
        quarters = [mem[min(len(mem) - 1, int(q * len(mem)))] for q in (0.0, 0.25, 0.5, 0.75)] + [mem[-1]]
        print("server RSS at 0/25/50/75/100 % of the load: " + " / ".join(f"{m:.0f}" for m in quarters) + " MB")
    good = all(r[2] == 200 for r in outside) and all(r[2] in (200, 503) for r in inside)
    print("OK" if good else "FAILED")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
