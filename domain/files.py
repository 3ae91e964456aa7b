"""Files written whole: a reader sees the old content or the new, never half of it."""

from __future__ import annotations

import fcntl
import logging
import mmap
import os
import threading
from pathlib import Path

logger = logging.getLogger(__name__)


def replace_atomically(path: Path, data: bytes | str, *, mode: int = 0o644) -> None:
    """Write ``data`` (str as UTF-8) to a temporary file beside ``path``, then rename it over ``path``.

    ``mode`` applies from the first byte (0o600 for secrets: the file is never readable by others)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(raw)
    os.replace(tmp, path)


class ProcessLock:
    """A lock for threads and processes alike, ``with lock:``: a thread lock, then an flock on
    ``path`` (created, with its folder, on first use) while held. Reentrant: the thread that holds
    it may enter again, and the flock is let go when its outermost block ends. One instance per
    file and process: ``ProcessLock.at(path)``. OSError (the file cannot be opened) goes to the caller."""

    _by_path: dict[str, ProcessLock] = {}
    _by_path_guard = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread_lock = threading.RLock()
        self._fd: int | None = None
        self._depth = 0  # blocks entered by the holding thread; only that thread reads or changes it

    @classmethod
    def at(cls, path: Path) -> ProcessLock:
        """This process's lock on ``path``, shared by every caller that names the same file."""
        with cls._by_path_guard:
            return cls._by_path.setdefault(str(path.resolve()), cls(path))

    def __enter__(self) -> ProcessLock:
        self._thread_lock.acquire()
        if self._depth:
            self._depth += 1
            return self
        try:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            except FileNotFoundError:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # another process's holder makes this wait
            except BaseException:
                os.close(fd)
                raise
        except BaseException:
            self._thread_lock.release()
            raise
        self._fd, self._depth = fd, 1
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._depth -= 1
            if self._depth == 0:
                fd, self._fd = self._fd, None
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)
        finally:
            self._thread_lock.release()


class Generation:
    """The data dir's mark of the last write that changed what the catalog names (``generation``,
    a file): changed by the process that writes, read by every process before it trusts its name
    lists, at the start of each request.

    The mark is a counter in the file's first 8 bytes, changed in place (the file is never replaced)
    and read through a shared memory map: a read is a copy of 8 bytes, with no system call, and a
    change is seen by every process at once (they map the same page). A read that meets a write
    half done sees a mark that differs from the old one, as the finished write will: the name lists
    are then reloaded once more than needed, never missed. Any file of 8 bytes or more is a mark
    (the text marks of earlier versions too); until the file can be mapped, each read tries again
    and finds no mark."""

    SIZE = 8

    def __init__(self, path: Path) -> None:
        self.path = path
        self._map: mmap.mmap | None = None
        self._guard = threading.Lock()

    def current(self) -> bytes:
        view = self._map if self._map is not None else self._mapped()
        return view[:self.SIZE] if view is not None else b""

    def bump(self) -> bytes:
        """A new mark; returned (the current one if it could not be written, which is logged)."""
        view = self._mapped()
        if view is None:
            logger.warning("could not mark the catalog changed in %s: the file cannot be opened", self.path)
            return self.current()
        with ProcessLock.at(self.path):  # two processes' changes both land
            count = int.from_bytes(view[:self.SIZE], "little")
            view[:self.SIZE] = ((count + 1) % (1 << 64)).to_bytes(self.SIZE, "little")
            return view[:self.SIZE]

    def _mapped(self) -> mmap.mmap | None:
        with self._guard:
            if self._map is None:
                self._map = self._open()
            return self._map

    def _open(self) -> mmap.mmap | None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return None
        try:
            if os.fstat(fd).st_size < self.SIZE:
                os.ftruncate(fd, self.SIZE)  # only ever grown: another process's map stays valid
            return mmap.mmap(fd, self.SIZE)
        except OSError as exc:
            logger.warning("could not map %s: %s", self.path, exc)
            return None
        finally:
            os.close(fd)
