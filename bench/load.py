"""Load: N concurrent clients on /v1/ask and /v1/search against `brokerkg serve`, with a graph-server kill mid-run.

    .venv/bin/python bench/load.py --data-dir DIR [--clients 32] [--seconds 60] [--kill-at 30]

DIR must hold an ingested corpus (e.g. after `make demo`). Starts `brokerkg serve` on a free
port, runs the clients (threads with their own HTTP connections), kills the bundled FalkorDB
server with SIGKILL at --kill-at seconds, and reports latency percentiles, throughput, status
counts (only 200 outside the outage, only 503 inside it), the server's memory over time and
how long recovery took.
"""

from __future__ import annotations

import argparse
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

import httpx

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [json.loads(line)["q"] for line in (ROOT / "tests/golden/questions.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--kill-at", type=float, default=30, help="seconds into the run; 0: no kill")
    a = p.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "BROKERKG_DATA_DIR": str(a.data_dir), "BROKERKG_RATE_LIMIT_PER_MINUTE": "0", "BROKERKG_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([str(Path(sys.executable).parent / "brokerkg"), "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    results: list[tuple[float, float, int, str]] = []  # (start offset, ms, status, endpoint)
    lock = threading.Lock()
    start = time.monotonic()
    stop = start + a.seconds

    def client(i: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            n = i
            while time.monotonic() < stop:
                q = QUESTIONS[n % len(QUESTIONS)]
                n += a.clients
                endpoint = "/v1/ask" if n % 2 else "/v1/search"
                body = {"question": q} if endpoint == "/v1/ask" else {"query": q}
                t0 = time.monotonic()
                try:
                    status = http.post(endpoint, json=body).status_code
                except httpx.HTTPError:
                    status = 0
                with lock:
                    results.append((t0 - start, (time.monotonic() - t0) * 1000, status, endpoint))

    memory: list[tuple[float, float]] = []
    threads = [threading.Thread(target=client, args=(i,)) for i in range(a.clients)]
    for t in threads:
        t.start()
    killed_at = recovered_at = None
    graph_state = a.data_dir / "graph" / "server.json"
    while time.monotonic() < stop:
        now = time.monotonic() - start
        memory.append((now, rss_mb(server.pid)))
        if a.kill_at and killed_at is None and now >= a.kill_at:
            pid = json.loads(graph_state.read_text())["pid"]
            os.kill(pid, signal.SIGKILL)
            killed_at = now
        time.sleep(1)
    for t in threads:
        t.join()
    server.send_signal(signal.SIGINT)
    server.wait(timeout=30)

    ok = [r for r in results if r[2] == 200]
    end = lambda r: r[0] + r[1] / 1000  # noqa: E731 (when the response came back)
    if killed_at is not None:
        failed = [r for r in results if r[2] != 200]
        recovered_at = max((end(r) for r in failed), default=killed_at)
        # the outage: responses that came back between the kill and the last failure
        inside = [r for r in results if killed_at <= end(r) <= recovered_at]
        outside = [r for r in results if not killed_at <= end(r) <= recovered_at]
    else:
        outside, inside = results, []
    lat = sorted(r[1] for r in ok)
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else 0.0  # noqa: E731
    print(f"{a.clients} clients, {a.seconds:.0f} s, {len(results)} requests, throughput {len(ok) / a.seconds:.1f} answers/s")
    print(f"latency of 200s: p50 {pct(0.5):.0f} ms, p95 {pct(0.95):.0f} ms, p99 {pct(0.99):.0f} ms, mean {statistics.mean(lat):.0f} ms")
    print(f"statuses outside the outage: {dict(Counter(r[2] for r in outside))}")
    if killed_at is not None:
        print(f"graph server killed at {killed_at:.1f} s; last failure at {recovered_at:.1f} s "
              f"(recovered in {recovered_at - killed_at:.1f} s); statuses during the outage: {dict(Counter(r[2] for r in inside))}")
    mem = [m for _, m in memory if m]
    quarters = [mem[min(len(mem) - 1, int(q * len(mem)))] for q in (0.0, 0.25, 0.5, 0.75)] + [mem[-1]]
    print("server RSS at 0/25/50/75/100 % of the run: " + " / ".join(f"{m:.0f}" for m in quarters) + " MB")
    good = all(r[2] == 200 for r in outside) and all(r[2] in (200, 503) for r in inside)
    print("OK" if good else "FAILED")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
