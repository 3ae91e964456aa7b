"""Text as PDF conversion leaves it, made readable: no I/O, used by ingest, the index and answers."""

from __future__ import annotations

import re

_CJK = "\u4e00-\u9fff"


_JOINS = (
    re.compile(r"\s*\n(?=[，。；、）%])"),
    re.compile(rf"(?<=[^\n。；！？：:])\n+(?=[{_CJK}\d（(])"),
    re.compile(rf"(?<=[{_CJK}（）%％,，、])[ \t\u3000]+(?=[{_CJK}\d（）])"),
    re.compile(rf"(?<=\d)[ \t\u3000]+(?=[{_CJK}%％（）])"),
)
_SPACES = re.compile(r"[ \t\u3000]+")


def join_spread(text: str) -> str:
    """Undo what PDF conversion does to sentences: lines broken inside a sentence ("范围为出生\\n满28天"),
    characters and digits spread out ("有 15 日的犹豫期", "我 们"). For reading, matching and
    indexing; citations keep quoting the stored source as printed."""
    for pattern in _JOINS:
        text = pattern.sub("", text)
    return _SPACES.sub(" ", text)
