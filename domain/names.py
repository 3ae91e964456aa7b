"""Product and insurer names, and filing numbers, compared the way a person reads them (no I/O)."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_IGNORED = re.compile(r"[()（）\[\]【】〔〕<>《》「」\"'“”‘’·・\s]")
_INSURER_SUFFIX = re.compile(r"(人寿|健康|财产|养老)?保险.*$")
# 利安人寿[2021]医疗保险011号: the year in brackets, then the number before 号
_FILING = re.compile(r"[\[［【〔(（]\s*((?:19|20)\d{2})\s*[\]］】〕)）](?:.*?(\d+)\s*号)?")


@lru_cache(maxsize=100_000)  # the linker keys every product name for every question: 16 ms at 1,241 products
def name_key(name: str) -> str:
    """A name compared the way a person would: full-width folded, no spaces, brackets or quotes, lower case."""
    return _IGNORED.sub("", unicodedata.normalize("NFKC", name)).lower()


def insurer_brand(insurer: str | None) -> str:
    """利安人寿保险股份有限公司 → 利安: what an insurer puts in front of some product names."""
    if not insurer:
        return ""
    return name_key(_INSURER_SUFFIX.sub("", unicodedata.normalize("NFKC", insurer)))[:4]


def filing_order(filing_no: str | None) -> tuple[int, int]:
    """(year, number) of a filing number, for ordering filings oldest first; (0, 0) when unreadable."""
    m = _FILING.search(filing_no or "")
    return (int(m.group(1)), int(m.group(2))) if m and m.group(2) else (0, 0)


def filing_year(filing_no: str | None) -> str | None:
    """利安人寿[2011]医疗保险038号 → 2011."""
    m = _FILING.search(filing_no or "")
    return m.group(1) if m else None
