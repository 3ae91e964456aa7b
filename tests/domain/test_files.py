"""ProcessLock: what the write lock, the audit log and the alert store rely on to share a data dir
between threads and processes (``brokerkg serve --workers N``, a CLI beside a server)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from domain.files import ProcessLock

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
