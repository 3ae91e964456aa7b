"""Files written whole: a reader sees the old content or the new, never half of it."""

from __future__ import annotations

import os
from pathlib import Path


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
