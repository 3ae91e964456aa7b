"""Personal-data masking: 身份证号, mobile numbers, bank cards, e-mail addresses.

Applied to every block at ingest, before anything reaches the graph, the index or a log,
and again to every answer. Numbers are recognised with their check digits (ID: ISO 7064
MOD 11-2; bank cards: Luhn) so that policy numbers, dates and amounts stay readable.
Full-width digits and spaces/dashes inside a number are handled.
"""

from __future__ import annotations

import re
from datetime import date

_FULLWIDTH = str.maketrans("０１２３４５６７８９ＸｘＡ-－", "0123456789Xxa--")
# A run of digits (half- or full-width) with single spaces/dashes inside; an ID may end in X.
_CANDIDATE = re.compile(
    r"(?<![0-9０-９A-Za-zＡ-Ｚａ-ｚ_])(?:\+?86[ \-－]?)?[0-9０-９](?:[ \-－]?[0-9０-９]){9,22}(?:[ \-－]?[XxＸｘ])?(?![0-9０-９A-Za-zＡ-Ｚａ-ｚ_])"
)
# A UUID (a document or chunk id) is not personal data, even when its hex digits are all decimal.
_UUID = re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![0-9A-Za-z])")
_EMAIL = re.compile(r"(?<![\w.+-])([A-Za-z0-9._%+-]{1,64})@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def _valid_date(y: int, m: int, d: int) -> bool:
    try:
        date(y, m, d)
    except ValueError:
        return False
    return 1900 <= y <= 2100


def is_id18(digits: str) -> bool:
    if len(digits) != 18 or not digits[:17].isdigit() or digits[0] == "0":
        return False
    if not _valid_date(int(digits[6:10]), int(digits[10:12]), int(digits[12:14])):
        return False
    total = sum(int(c) * w for c, w in zip(digits[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == digits[17].upper()


def is_id15(digits: str) -> bool:
    return (
        len(digits) == 15
        and digits.isdigit()
        and digits[0] != "0"
        and _valid_date(1900 + int(digits[6:8]), int(digits[8:10]), int(digits[10:12]))
    )


def is_mobile(digits: str) -> bool:
    return len(digits) == 11 and digits.isdigit() and digits[0] == "1" and digits[1] in "3456789"


def luhn_ok(digits: str) -> bool:
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def is_bank_card(digits: str) -> bool:
    return 15 <= len(digits) <= 19 and digits[0] in "3456789" and luhn_ok(digits)


def _mask_number(raw: str) -> str | None:
    digits = re.sub(r"[ \-]", "", raw.translate(_FULLWIDTH))
    country = ""
    if digits.startswith("+86"):
        country, digits = "+86", digits[3:]
    elif digits.startswith("86") and is_mobile(digits[2:]):
        country, digits = "86", digits[2:]
    if is_mobile(digits):
        return f"{country}{digits[:3]}****{digits[-4:]}"
    if country:
        return None
    if is_id18(digits) or is_id15(digits):
        return f"{digits[:4]}{'*' * (len(digits) - 8)}{digits[-4:]}"
    if is_bank_card(digits):
        return f"{digits[:4]}{'*' * (len(digits) - 8)}{digits[-4:]}"
    return None


def _uuid_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _UUID.finditer(text)] if "-" in text else []


def _inside(span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    return any(start < span[1] and span[0] < end for start, end in spans)


def _replace_number(match: re.Match[str]) -> str:
    masked = _mask_number(match.group(0))
    return match.group(0) if masked is None else masked


def _replace_email(match: re.Match[str]) -> str:
    local = match.group(1)
    return f"{local[:1]}***@{match.group(2)}"


def mask_pii(text: str) -> str:
    """Return ``text`` with ID numbers, mobile numbers, bank cards and e-mails masked."""
    if not text:
        return text
    uuids = _uuid_spans(text)
    if uuids:
        text = _CANDIDATE.sub(lambda m: m.group(0) if _inside(m.span(), uuids) else _replace_number(m), text)
    else:
        text = _CANDIDATE.sub(_replace_number, text)
    return _EMAIL.sub(_replace_email, text)


def find_pii(text: str) -> list[str]:
    """The unmasked personal-data items in ``text`` (used by scans and tests)."""
    uuids = _uuid_spans(text)
    found = [
        m.group(0)
        for m in _CANDIDATE.finditer(text)
        if not _inside(m.span(), uuids) and _mask_number(m.group(0)) is not None
    ]
    found += [m.group(0) for m in _EMAIL.finditer(text) if not m.group(1).endswith("***")]
    return found
