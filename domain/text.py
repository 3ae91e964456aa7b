"""Text as PDF conversion leaves it, made readable: no I/O, used by ingest, the index and answers."""

from __future__ import annotations

import re

_CJK = "\u4e00-\u9fff"


def join_spread(text: str) -> str:
    """Undo what PDF conversion does to sentences: lines broken inside a sentence ("范围为出生\\n满28天"),
    characters and digits spread out ("有 15 日的犹豫期", "我 们"). For reading, matching and
    indexing; citations keep quoting the stored source as printed."""
    text = re.sub(r"\s*\n(?=[，。；、）%])", "", text)
    text = re.sub(rf"(?<=[^\n。；！？：:])\n+(?=[{_CJK}\d（(])", "", text)
    text = re.sub(rf"(?<=[{_CJK}（）%％,，、])[ \t\u3000]+(?=[{_CJK}\d（）])", "", text)
    text = re.sub(rf"(?<=\d)[ \t\u3000]+(?=[{_CJK}%％（）])", "", text)
    return re.sub(r"[ \t\u3000]+", " ", text)
