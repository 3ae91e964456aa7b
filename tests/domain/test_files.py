"""ProcessLock: what the write lock, the audit log and the alert store rely on to share a data dir
between threads and processes (``brokerkg serve --workers N``, a CLI beside a server)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from domain.files import Generation, ProcessLock

ROOT = Path(__file__).resolve().parents[2]

_BUMP = """
import sys
from pathlib import Path
from domain.files import ProcessLock
lock, counter = ProcessLock.at(Path(sys.argv[1])), Path(sys.argv[2])
for _ in range(int(sys.argv[3])):
    with lock:
        n = int(counter.read_text())
        counter.write_text(str(n + 1))
"""


def test_no_update_is_lost_between_threads_and_processes(tmp_path: Path) -> None:
    """Read-modify-write of one file by two processes and two threads of this one: every increment lands."""
    counter = tmp_path / "counter"
    counter.write_text("0")
    lock_path = tmp_path / "locks" / "count.lock"  # its folder does not exist yet
    rounds = 300
    procs = [subprocess.Popen([sys.executable, "-c", _BUMP, str(lock_path), str(counter), str(rounds)], cwd=ROOT)
             for _ in range(2)]

    def bump() -> None:
        for _ in range(rounds):
            with ProcessLock.at(lock_path):
                n = int(counter.read_text())
                counter.write_text(str(n + 1))

    threads = [threading.Thread(target=bump) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert int(counter.read_text()) == 4 * rounds


def test_one_lock_per_file_and_released_on_error(tmp_path: Path) -> None:
    a = ProcessLock.at(tmp_path / "x.lock")
    assert ProcessLock.at(tmp_path / "." / "x.lock") is a
    assert ProcessLock.at(tmp_path / "y.lock") is not a
    try:
        with a:
            raise ValueError("boom")
    except ValueError:
        pass
    acquired = threading.Event()

    def take() -> None:
        with a:
            acquired.set()

    t = threading.Thread(target=take)
    t.start()
    t.join(timeout=10)
    assert acquired.is_set()  # the failed block let go of the thread lock and the flock


_HOLDS = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    print("held")
else:
    print("free")
"""


def _flock_state(path: Path) -> str:
    return subprocess.run([sys.executable, "-c", _HOLDS, str(path)], capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()


def test_reentrant_in_its_thread_and_the_flock_held_to_the_outermost_block(tmp_path: Path) -> None:
    """An append inside a locked block (the alert store) enters the lock again; another process still
    waits until the outer block ends, and another thread of this one too."""
    lock = ProcessLock.at(tmp_path / "r.lock")
    other_thread_got_it = threading.Event()

    def take() -> None:
        with lock:
            other_thread_got_it.set()

    with lock:
        with lock:
            assert _flock_state(lock.path) == "held"
        assert _flock_state(lock.path) == "held"  # the inner block's end did not let go
        t = threading.Thread(target=take)
        t.start()
        assert not other_thread_got_it.wait(0.3)
    t.join(timeout=10)
    assert other_thread_got_it.is_set()
    assert _flock_state(lock.path) == "free"


_BUMPS = """
import sys, time
from pathlib import Path
from domain.files import Generation
g, go = Generation(Path(sys.argv[1])), Path(sys.argv[3])
g.current()
while not go.exists():  # both processes bump at the same time
    time.sleep(0.001)
for _ in range(int(sys.argv[2])):
    g.bump()
"""


def test_generation_changes_are_seen_at_once_by_a_process_that_mapped_it_earlier(tmp_path: Path) -> None:
    """`serve --workers N`: a catalog write in one process bumps the mark; every other process sees it
    on its next read, and two processes' bumps all land."""
    path = tmp_path / "generation"
    reader = Generation(path)
    first = reader.current()
    rounds, go = 3000, tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", _BUMPS, str(path), str(rounds), str(go)], cwd=ROOT)
             for _ in range(2)]
    time.sleep(0.5)
    go.touch()
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    now = reader.current()
    assert now != first
    assert int.from_bytes(now, "little") - int.from_bytes(first, "little") == 2 * rounds
    mine = reader.bump()
    assert mine != now and Generation(path).current() == mine  # a newcomer reads the same mark


def test_generation_takes_an_earlier_text_mark(tmp_path: Path) -> None:
    path = tmp_path / "generation"
    path.write_text("12345-1764600000000000000-0a1b2c3d", encoding="ascii")  # the mark of earlier versions
    g = Generation(path)
    before = g.current()
    assert before == b"12345-17"
    assert g.bump() != before and g.current() != before
    assert Generation(path).current() == g.current()
    nowhere = Generation(tmp_path / "missing" / "generation")  # cannot be opened: no mark, nothing raised
    assert nowhere.current() == b"" and nowhere.bump() == b""
