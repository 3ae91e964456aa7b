"""kill -9 the ingesting process at random points, restart, re-run; check nothing is lost or doubled.

    .venv/bin/python bench/crash_ingest.py [--docs 1000] [--trials 20] [--data-dir DIR]

Generates ``--docs`` small Markdown regulations (distinct text), then ``--trials`` times: start
``brokerkg ingest`` on the folder, kill -9 it after a random delay, run ``brokerkg doctor
--repair``. Finally ingests to completion and checks: every document done, chunk ids unique,
index and graph identical (doctor), each document's chunks present. Prints the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent / "brokerkg"


def generate(folder: Path, n: int, rng: random.Random) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    topics = ["等待期", "犹豫期", "宽限期", "免赔额", "保单贷款", "如实告知", "受益人", "现金价值"]
    for i in range(n):
        t = rng.choice(topics)
        days = rng.randint(10, 365)
        (folder / f"rule-{i:05d}.md").write_text(
            f"# 示例规定第{i}号\n\n第一条 本规定适用于第{i}号示例产品的{t}。\n\n"
            f"第二条 {t}为{days}日，自合同生效之日起计算。\n", encoding="utf-8")


def run(args: list[str], data: Path, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BROKERKG_DATA_DIR": str(data)}
    return subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True, timeout=timeout)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--min-delay", type=float, default=4.0, help="seconds before the kill (start-up takes ~3 s)")
    parser.add_argument("--max-delay", type=float, default=12.0)
    a = parser.parse_args()
    rng = random.Random(a.seed)
    work = a.data_dir or Path(tempfile.mkdtemp(prefix="brokerkg-crash-"))
    docs, data = work / "docs", work / "data"
    generate(docs, a.docs, rng)
    env = {**os.environ, "BROKERKG_DATA_DIR": str(data)}
    repaired = 0
    started = time.perf_counter()
    for trial in range(a.trials):
        proc = subprocess.Popen([str(BIN), "ingest", str(docs), "--type", "regulation"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(a.min_delay, a.max_delay))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        doctor = run(["doctor", "--repair", "--json"], data, timeout=600)
        before = json.loads(doctor.stdout)["before"]
        if not before["consistent"]:
            repaired += 1
        after = json.loads(doctor.stdout)["after"]
        assert after["consistent"], f"trial {trial}: doctor could not repair: {after}"
        print(f"trial {trial + 1:2d}: killed; before repair orphans {before['orphans']}, pending {before['pending']}, "
              f"duplicates {before['duplicates']}, "
              f"interrupted {len(before['interrupted'])}; done {after['done']}/{a.docs}", flush=True)
    final = run(["ingest", str(docs), "--type", "regulation"], data, timeout=3600)
    assert final.returncode == 0, final.stderr[-2000:]
    doctor = json.loads(run(["doctor", "--json"], data, timeout=600).stdout)["before"]
    again = run(["ingest", str(docs), "--type", "regulation"], data, timeout=3600)
    print(f"\n{a.trials} kills over {a.docs} documents in {time.perf_counter() - started:.0f} s; "
          f"{repaired} needed a repair")
    print(f"final: {doctor['done']} documents done, {doctor['failed']} failed, {doctor['points']} index points, "
          f"orphans {doctor['orphans']}, duplicates {doctor['duplicates']}, missing {len(doctor['missing'])}, "
          f"consistent {doctor['consistent']}")
    print(f"re-run after completion: {again.stdout.strip()}")
    ok = doctor["consistent"] and doctor["done"] == a.docs and doctor["points"] == 2 * a.docs and "ingested 0" in again.stdout
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
