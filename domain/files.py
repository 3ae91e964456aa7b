"""Files written whole: a reader sees the old content or the new, never half of it."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
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
    ``path`` (created, with its folder, on first use) while held. One instance per file and
    process: ``ProcessLock.at(path)``. OSError (the file cannot be opened) goes to the caller."""

    _by_path: dict[str, ProcessLock] = {}
    _by_path_guard = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread_lock = threading.Lock()
        self._fd: int | None = None

    @classmethod
    def at(cls, path: Path) -> ProcessLock:
        """This process's lock on ``path``, shared by every caller that names the same file."""
        with cls._by_path_guard:
            return cls._by_path.setdefault(str(path.resolve()), cls(path))

    def __enter__(self) -> ProcessLock:
        self._thread_lock.acquire()
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
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        fd, self._fd = self._fd, None
        try:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
        finally:
            self._thread_lock.release()


class Generation:
    """The data dir's mark of the last write that changed what the catalog names (``generation``,
    a file): set by the process that writes, read by every process before it trusts its name lists."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def current(self) -> str:
        try:
            return self.path.read_text(encoding="ascii")
        except (FileNotFoundError, UnicodeDecodeError):
            return ""

    def bump(self) -> str:
        """A new mark; returned (the current one if it could not be written, which is logged)."""
        mark = f"{os.getpid()}-{time.time_ns()}-{os.urandom(4).hex()}"
        try:
            replace_atomically(self.path, mark)
        except OSError as exc:
            logger.warning("could not mark the catalog changed in %s: %s", self.path, exc)
            return self.current()
        return mark
