"""Optimizing a Qdrant Edge shard aside: a copy is optimized in a child process, then swapped in.

Qdrant Edge's ``optimize()`` holds the GIL for its whole run (measured: 858 Python steps/s
beside it against 4.6 M idle; 23 s for 20k new points), so a server that optimizes in its own
process answers nothing meanwhile (105k chunks: 238 s, 1 answer). A child process optimizes a
copy instead, at a lower CPU priority; the server keeps answering from the live shard and only
stops for the swap (close, two renames, load).

The directories beside the live shard ``vectors``:
- ``vectors.next.tmp``: the copy being optimized (deleted at start-up: incomplete);
- ``vectors.next``: optimized, with every write made meanwhile replayed into it: complete;
- ``vectors.old``: the shard before the swap (deleted once the swap is done);
- ``vectors.bad``: a copy that would not open, on its way out (``swap_back``).
A crash at any point leaves either the live shard or a complete ``vectors.next``; ``recover``
puts the right one in place before the shard is opened.
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

NICE = 10  # the child yields the cores to the server's answers


def sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def recover(path: Path) -> None:
    """Finish or undo a swap that a crash interrupted; drop what an unfinished optimize left."""
    tmp, ready, old, bad = (sibling(path, s) for s in (".next.tmp", ".next", ".old", ".bad"))
    shutil.rmtree(tmp, ignore_errors=True)
    if ready.exists():
        if path.exists():  # the swap had not begun: the live shard holds everything
            shutil.rmtree(ready, ignore_errors=True)
        else:  # between the two renames: the optimized copy is complete
            os.rename(ready, path)
            logger.warning("vector index: finished the swap a crash interrupted (%s)", path)
    if old.exists():
        if path.exists():
            shutil.rmtree(old, ignore_errors=True)
        else:  # swap_back was cut short after its first rename: the old shard is the whole one
            os.rename(old, path)
    shutil.rmtree(bad, ignore_errors=True)
    sync_dir(path.parent)


def sync_dir(folder: Path) -> None:
    """Make renames in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy(path: Path) -> Path:
    """Copy the (flushed, unwritten) live shard to ``vectors.next.tmp``."""
    tmp = sibling(path, ".next.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(path, tmp)
    return tmp


def make_durable() -> None:
    """The optimized copy on disk before the live shard is let go (a power loss after the swap
    must not find the copy's files only in the page cache)."""
    os.sync()


def short_of_disk(path: Path, margin_mb: int = 256) -> str:
    """Why an optimize aside would not fit, or "": the copy, and as much again for the segments
    the child builds before it drops the copy's own, plus a margin."""
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    free = shutil.disk_usage(path.parent).free
    if free < 2 * size + margin_mb * 2**20:
        return f"it needs 2 × {size / 2**20:.0f} MB + {margin_mb} MB and {free / 2**20:.0f} MB are free beside {path}"
    return ""


def start_child(tmp: Path, dim: int, threshold_kb: int) -> subprocess.Popen[bytes]:
    """``python -m index.vectors.edge_aside PATH DIM THRESHOLD_KB PARENT_PID`` optimizes the copy
    (its stderr ends up in the reason of a failure)."""
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p))
    # -P: the server's working directory is not searched first (an index.py there would shadow the
    # package); its own session: a Ctrl-C to the server reaches the server, which stops the child
    return subprocess.Popen(
        [sys.executable, "-P", "-m", "index.vectors.edge_aside", str(tmp), str(dim), str(threshold_kb), str(os.getpid())],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True,
    )


def swap_in(path: Path, ready: Path) -> None:
    """The live shard (closed) becomes ``vectors.old``, ``ready`` becomes the live shard."""
    old = sibling(path, ".old")
    if old.exists():
        shutil.rmtree(old)
    os.rename(path, old)
    os.rename(ready, path)
    sync_dir(path.parent)


def swap_back(path: Path) -> None:
    """Undo ``swap_in``: the shard it replaced (``vectors.old``) is the live one again. Renames
    first, deletion last: a crash in between leaves the whole old shard in place."""
    bad = sibling(path, ".bad")
    shutil.rmtree(bad, ignore_errors=True)
    os.rename(path, bad)
    os.rename(sibling(path, ".old"), path)
    sync_dir(path.parent)
    shutil.rmtree(bad, ignore_errors=True)


def _die_with(parent: int) -> None:
    """Have the kernel end this child when the thread that started it ends (PR_SET_PDEATHSIG):
    no optimize outlives the server that asked for it."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return
    prctl(1, signal.SIGTERM)
    if os.getppid() != parent:  # the parent ended before the signal was armed
        os._exit(1)


def _main(argv: list[str]) -> int:
    from index.vectors.edge import open_shard

    path, dim, threshold_kb, parent = Path(argv[0]), int(argv[1]), int(argv[2]), int(argv[3])
    _die_with(parent)
    os.nice(NICE)
    shard = open_shard(path, dim, threshold_kb)
    try:
        shard.optimize()
        shard.flush()
    finally:
        shard.close()
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(_main(sys.argv[1:]))
