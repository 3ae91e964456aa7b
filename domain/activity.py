"""How many requests are at work, counted by the HTTP layer: in this process, and in every process
serving the data dir once ``share`` is called (``serve --workers N``).

The query embedder spreads a call over every core only when its request is the only one at work:
beside other requests its second thread waits, at each of the engine's barriers, for a core that
another request holds (index/embedders/e5.py). The cores are the machine's, so the requests of the
other processes serving the data dir count too: each process writes its own count into its slot of
a small shared file (``activity`` in the data dir, read through a memory map: no system call per
request). Outside a server (the CLI, a script) nothing is counted and every query has the process
to itself.
"""

from __future__ import annotations

import logging
import mmap
import os
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)

_SLOT = struct.Struct("<q")
_lock = threading.Lock()
_requests = 0
_shared: mmap.mmap | None = None
_offset = 0


@contextmanager
def request() -> Iterator[None]:
    """One request at work for as long as the block runs."""
    _count(+1)
    try:
        yield
    finally:
        _count(-1)


def _count(step: int) -> None:
    global _requests
    with _lock:
        _requests += step
        if _shared is not None:
            _SLOT.pack_into(_shared, _offset, _requests)


def others() -> int:
    """Requests at work besides the caller's own (0 outside a request)."""
    shared = _shared
    if shared is None:
        return max(0, _requests - 1)
    total: int = sum(n for (n,) in _SLOT.iter_unpack(shared))
    return max(0, total - 1)


def share(path: Path, process: int, processes: int | None = None) -> None:
    """Count this process's requests in slot ``process`` of the file at ``path``, and read every
    slot in ``others``. The process that starts the others passes ``processes`` and makes the file
    anew (every slot 0); the others map it as it is and start their own slot at 0, and the first
    forgets the count of one that exits (``forget``). If the file cannot be used this process counts
    alone, as before, with a warning."""
    global _shared, _offset
    try:
        if processes:  # a new file, never one shrunk under a process of an earlier run that still maps it
            path.unlink(missing_ok=True)
        fd = os.open(path, os.O_RDWR | (os.O_CREAT if processes else 0), 0o600)
        try:
            if processes:
                os.ftruncate(fd, processes * _SLOT.size)
            size = os.fstat(fd).st_size
            if not (0 <= process and (process + 1) * _SLOT.size <= size):
                raise OSError(f"no slot {process} in a file of {size} bytes")
            shared = mmap.mmap(fd, size)
        finally:
            os.close(fd)
    except OSError as exc:
        logger.warning("requests are counted in this process only: cannot share the count in %s: %s", path, exc)
        return
    with _lock:
        _SLOT.pack_into(shared, process * _SLOT.size, _requests)
        _shared, _offset = shared, process * _SLOT.size


def forget(process: int) -> None:
    """Process ``process`` has exited (its parent reaped it): its requests are at work no more."""
    shared = _shared
    if shared is not None and 0 <= process and (process + 1) * _SLOT.size <= len(shared):
        _SLOT.pack_into(shared, process * _SLOT.size, 0)
