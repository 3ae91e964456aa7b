"""Files written whole: a reader sees the old content or the new, never half of it."""

from __future__ import annotations

import logging
import os
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
