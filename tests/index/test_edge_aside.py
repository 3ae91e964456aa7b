"""The embedded index optimized aside (index/vectors/edge_aside.py): a copy is optimized in a
child process while the live shard answers and takes writes, the writes are replayed into the
copy, and the copy is swapped in; a crash at any step leaves a whole index behind."""

from __future__ import annotations

import math
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from index.vectors import edge_aside
from index.vectors.base import IndexPoint, SearchFilter, SparseVec
from index.vectors.edge import EdgeIndex
from tests.conftest import ROOT, run_cli, start_server, two_demo_products

DIM = 32
THRESHOLD_KB = 1  # every unindexed vector is past it: a few hundred points get an HNSW index


def _vec(seed: int) -> list[float]:
    raw = [math.sin(seed * 1.3 + i * 0.7) + math.cos(seed * 0.11 * i) for i in range(DIM)]
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]


def _pid(i: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"p{i}"))


def _points(start: int, n: int) -> list[IndexPoint]:
    return [
        IndexPoint(_pid(i), _vec(i), SparseVec([i % 11, 50 + i % 5], [1.0, 0.5]), {"doc_id": f"doc-{i % 7}", "state": "done", "n": i})
        for i in range(start, start + n)
    ]


def _child_doing(work: Callable[[subprocess.Popen[bytes]], None]) -> Any:
    """A stand-in for ``edge_aside.start_child``: the real child, with ``work(child)`` done while it
    runs (after the copy was taken, before the index waits for it)."""
    real_start = edge_aside.start_child

    class Child:
        def __init__(self, *args: Any) -> None:
            self._child = real_start(*args)
            self.returncode: int | None = None

        def poll(self) -> int | None:
            return self._child.poll()

        def terminate(self) -> None:
            self._child.terminate()

        def communicate(self) -> tuple[bytes, bytes]:
            work(self._child)
            out = self._child.communicate()
            self.returncode = self._child.returncode
            return out

    return Child


def _filled(tmp_path: Path, n: int) -> tuple[Path, EdgeIndex]:
    """An index at ``tmp_path/vectors`` holding points 0..n-1, every vector past the threshold."""
    path = tmp_path / "vectors"
    index = EdgeIndex(path, DIM, threshold_kb=THRESHOLD_KB)
    index.upsert(_points(0, n))
    return path, index


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name + "."))


def test_a_copy_is_optimized_in_a_child_while_the_index_answers_and_takes_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, index = _filled(tmp_path, 400)
    assert index.needs_optimize()
    probe = _points(5, 1)[0]

    def _hits() -> list[str]:
        return [h.id for h in index.hybrid(probe.dense, None, SearchFilter(), limit=5, prefetch=50)]

    expected = _hits()

    seen: dict[str, Any] = {}

    def meanwhile(child: subprocess.Popen[bytes]) -> None:
        seen["hits"] = _hits()
        index.upsert(_points(400, 50))
        index.delete([_pid(0), _pid(1)])
        index.set_payload([_pid(2)], {"audience": "internal"})
        seen["hits after writes"] = _hits()
        seen["running"] = child.poll() is None

    monkeypatch.setattr(edge_aside, "start_child", _child_doing(meanwhile))
    report = index.optimize_aside()

    assert report is not None and report.swapped, report
    assert report.replayed == 3  # the upsert, the delete and the payload change made during the child
    assert seen["running"] and seen["hits"] == expected  # the live shard answered while the child worked
    assert index.count() == 448
    assert not index.retrieve([_pid(0), _pid(1)])
    assert index.retrieve([_pid(2)])[0].payload["audience"] == "internal"
    assert index.retrieve([_pid(449)])[0].payload["n"] == 449
    assert _hits() == seen["hits after writes"]
    assert _siblings(path) == []  # the old shard and the copy are gone

    # the 50 points replayed into the copy are not indexed yet: the next optimize builds them
    monkeypatch.undo()
    assert index.needs_optimize()
    again = index.optimize_aside()
    assert again is not None and again.swapped and again.replayed == 0
    assert not index.needs_optimize()
    index.close()

    reopened = EdgeIndex(path, DIM, threshold_kb=THRESHOLD_KB)  # what was swapped in is what is on disk
    assert reopened.count() == 448 and not reopened.retrieve([_pid(0)])
    assert not reopened.needs_optimize()
    reopened.close()


def test_updates_and_deletes_count_as_work_though_the_shard_counts_do_not_show_them(tmp_path: Path) -> None:
    """A re-ingest upserts a document's chunks again and deletes the old ones: Qdrant keeps counting
    moved vectors as indexed, so the shard's own counts miss it."""
    index = EdgeIndex(tmp_path / "vectors", DIM, threshold_kb=THRESHOLD_KB)
    index.upsert(_points(0, 300))
    index.optimize()
    assert not index.needs_optimize()
    index.set_payload([_pid(i) for i in range(100)], {"audience": "internal"})  # moves 100 vectors
    assert index.needs_optimize()
    index.optimize()
    assert not index.needs_optimize()
    index.upsert(_points(0, 100))  # the same ids again
    assert index.needs_optimize()
    index.upsert(_points(300, 1200))
    index.optimize()
    index.delete([_pid(i) for i in range(999)])
    assert not index.needs_optimize()  # below Qdrant's vacuum minimum (1,000 points)
    index.delete([_pid(999), _pid(1000)])  # and a fifth of what is left: the vacuum has work
    assert index.needs_optimize()
    index.close()


def test_too_many_writes_during_the_child_stop_it_and_keep_every_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from index.vectors import edge

    path, index = _filled(tmp_path, 100)
    monkeypatch.setattr(edge, "JOURNAL_MAX_POINTS", 30)
    def meanwhile(child: subprocess.Popen[bytes]) -> None:
        for start in range(100, 150, 10):
            index.upsert(_points(start, 10))  # the fourth batch passes the cap

    monkeypatch.setattr(edge_aside, "start_child", _child_doing(meanwhile))
    report = index.optimize_aside()
    assert report is not None and not report.swapped and "written meanwhile" in report.reason
    assert index.count() == 150 and _siblings(path) == []
    assert index.needs_optimize()  # everything written is still to be indexed
    monkeypatch.undo()
    again = index.optimize_aside()
    assert again is not None and again.swapped and index.count() == 150
    index.close()


@pytest.mark.parametrize("fault", ["child fails", "copy loses points"])
def test_a_failed_optimize_leaves_the_live_index_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    path, index = _filled(tmp_path, 100)

    def broken(tmp: Path, dim: int, threshold_kb: int) -> subprocess.Popen[bytes]:
        if fault == "child fails":
            return real_start(tmp, dim + 1, threshold_kb)  # the copy does not load with another size
        shutil.rmtree(tmp / "segments")
        shutil.rmtree(tmp / "wal")
        return real_start(tmp, dim, threshold_kb)

    real_start = edge_aside.start_child
    monkeypatch.setattr(edge_aside, "start_child", broken)
    report = index.optimize_aside()
    assert report is not None and not report.swapped
    assert ("exited" if fault == "child fails" else "holds 0 points") in report.reason, report.reason
    assert index.count() == 100 and _siblings(path) == []
    index.upsert(_points(100, 10))  # still writable
    assert index.count() == 110
    index.close()


def test_no_copy_is_made_without_the_disk_for_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, index = _filled(tmp_path, 100)
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=50 * 2**20))
    report = index.optimize_aside()
    assert report is not None and not report.swapped and "MB are free" in report.reason
    assert _siblings(path) == [] and index.count() == 100
    index.close()


def test_a_swap_whose_second_rename_fails_still_ends_with_a_whole_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, index = _filled(tmp_path, 120)

    def half(live: Path, ready: Path) -> None:
        live.rename(edge_aside.sibling(live, ".old"))
        raise OSError("disk went away")

    monkeypatch.setattr(edge_aside, "swap_in", half)
    with pytest.raises(OSError):
        index.optimize_aside()
    assert index.count() == 120 and _siblings(path) == []  # the optimized copy, complete, was put in place
    assert not index.needs_optimize()
    index.upsert(_points(120, 5))
    assert index.count() == 125
    index.close()


def test_closing_the_index_stops_its_child_and_drops_the_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, index = _filled(tmp_path, 100)
    # a child that takes its time, as one does on a large index
    monkeypatch.setattr(edge_aside, "start_child", lambda *a: subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
    reports: list[Any] = []
    worker = threading.Thread(target=lambda: reports.append(index.optimize_aside()))
    worker.start()
    deadline = time.monotonic() + 30
    while index._child is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    child = index._child
    index.close()
    worker.join(timeout=30)
    assert child.poll() is not None  # stopped, not left to run
    assert reports and not reports[0].swapped and reports[0].reason == "the index was closed"
    assert _siblings(path) == []
    reopened = EdgeIndex(path, DIM)
    assert reopened.count() == 100
    reopened.close()


_PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", (
    "import os, sys, time; from index.vectors.edge_aside import _die_with; "
    "_die_with(int(sys.argv[1])); print(os.getpid(), flush=True); time.sleep(120)"), str(__import__("os").getpid())],
    stdout=sys.stdout)
time.sleep(120)
"""


def test_an_optimize_child_dies_with_the_server_that_started_it(tmp_path: Path) -> None:
    """The child's first step (``_die_with``): a server killed outright (SIGKILL, OOM) takes its
    optimize child with it, as it does its graph server."""
    server = subprocess.Popen([sys.executable, "-c", _PARENT], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        child = int(server.stdout.readline())  # printed once the parent-death signal is armed
        server.kill()
        server.wait(timeout=30)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{child}").exists() and Path(f"/proc/{child}/stat").read_text().split(")")[1].split()[0] != "Z":
            assert time.monotonic() < deadline, "the optimize child outlived its server"
            time.sleep(0.05)
    finally:
        if server.poll() is None:
            server.kill()


def _shard_with(path: Path, n: int) -> None:
    index = EdgeIndex(path, DIM)
    index.upsert(_points(0, n))
    index.close()


@pytest.mark.parametrize(
    ("left", "count"),
    [
        ({"live": 10, ".next.tmp": 20}, 10),  # the child had not finished: its copy is dropped
        ({"live": 10, ".next": 20}, 10),  # complete, but the swap had not begun: the live shard holds everything
        ({".old": 10, ".next": 20}, 20),  # between the two renames: the swap is finished
        ({"live": 20, ".old": 10}, 20),  # swapped, the old shard not yet deleted
        ({".old": 10, ".bad": 20}, 10),  # a copy that would not open, cut short while it was put back
        ({"live": 10, ".bad": 20}, 10),  # put back, the copy not yet deleted
    ],
)
def test_a_swap_cut_short_by_a_crash_is_finished_or_undone_at_the_next_open(
    tmp_path: Path, left: dict[str, int], count: int
) -> None:
    path = tmp_path / "vectors"
    for name, n in left.items():
        _shard_with(path if name == "live" else edge_aside.sibling(path, name), n)
    index = EdgeIndex(path, DIM)
    assert index.count() == count
    assert _siblings(path) == []
    index.close()


QUESTION = "畅行意外险意外医疗的免赔额"


def test_a_server_optimizes_what_is_written_through_it_and_keeps_answering(tmp_path: Path) -> None:
    """A catalog import forwarded to a running server: the new vectors are indexed by a child
    process once writes are quiet, and the index it swapped in is the one the next process opens."""
    data = tmp_path / "data"
    catalog = two_demo_products(tmp_path / "docs")
    env = {"BROKERKG_OPTIMIZE_QUIET_S": "0.5", "BROKERKG_INDEXING_THRESHOLD_KB": "1"}
    url, server, log = start_server(data, env=env)
    try:
        imported = run_cli(["catalog", "import", str(catalog)], data, env=env)
        assert imported.returncode == 0, imported.stdout + imported.stderr
        # optimized aside, maybe first with writes of the import replayed, then with nothing left
        deadline = time.monotonic() + 120
        while "0 write(s) replayed" not in log.read_text(encoding="utf-8") or _siblings(data / "vectors"):
            assert time.monotonic() < deadline, log.read_text(encoding="utf-8")[-3000:]
            answer = httpx.post(f"{url}/v1/ask", json={"question": QUESTION}, timeout=30)
            assert answer.status_code == 200
            time.sleep(0.2)
        answer = httpx.post(f"{url}/v1/ask", json={"question": QUESTION}, timeout=30).json()
        assert answer["citations"][0]["locator"] == "2.3"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    asked = run_cli(["ask", QUESTION, "--json"], data)
    assert asked.returncode == 0, asked.stdout + asked.stderr
    assert '"locator": "2.3"' in asked.stdout
