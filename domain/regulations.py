"""Whether a regulation is current law: its metadata, its status on a given day, and the keys that
match a regulation by title or by document number however it is written.

The status is derived when read, never only when ingested: a rule whose effective date was in the
future at ingest is in force once that day has passed. A rule is repealed when its folder's
manifest says so, or when an ingested regulation names it among the rules it repeals.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

IN_FORCE = "in_force"
REPEALED = "repealed"
NOT_YET_EFFECTIVE = "not_yet_effective"
LEGAL_STATUSES = (IN_FORCE, REPEALED, NOT_YET_EFFECTIVE)


@dataclass(frozen=True)
class RepealedRule:
    """A rule a regulation repeals, as it names it: 《保险许可证管理办法》（保监会令2007年第1号）."""

    title: str
    doc_no: str | None = None


@dataclass
class RegulationMeta:
    """What a regulation says about itself (or its folder's manifest says about it). Dates are ISO."""

    level: str | None = None  # 法律, 行政法规, 司法解释, 部门规章, 规范性文件…
    doc_no: str | None = None  # as printed: 国家金融监督管理总局令2023年第2号, 国务院令第629号
    published: str | None = None
    effective: str | None = None
    amended: str | None = None  # the latest 修订/修正
    declared_status: str | None = None  # from a manifest; None when the text is all there is
    title: str | None = None  # the manifest's title (matches the rule by name when the text's differs)
    repealed_by: str | None = None  # from a manifest: the title of the rule that repealed it
    repeals: list[RepealedRule] = field(default_factory=list)

    def merged_over(self, other: RegulationMeta) -> RegulationMeta:
        """These values where set, ``other``'s for the rest (a manifest over what the text says)."""
        return RegulationMeta(
            level=self.level or other.level, doc_no=self.doc_no or other.doc_no,
            published=self.published or other.published, effective=self.effective or other.effective,
            amended=self.amended or other.amended, declared_status=self.declared_status or other.declared_status,
            title=self.title or other.title, repealed_by=self.repealed_by or other.repealed_by,
            repeals=self.repeals or other.repeals,
        )


@dataclass(frozen=True)
class RegulationStatus:
    """A regulation as current law: what a compliance check or an answer's flag needs to know."""

    title: str
    doc_id: str
    level: str | None
    doc_no: str | None
    published: str | None
    effective: str | None
    status: str  # in_force, repealed, not_yet_effective
    repealed_by: str | None  # the title of the rule that repealed it
    amended: str | None = None
    ingested: bool = True  # False: known only because an ingested rule repeals it

    @property
    def in_force(self) -> bool:
        return self.status == IN_FORCE

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def legal_status(declared: str | None, effective: str | None, repealed_by: str | None, today: date | None = None) -> str:
    """The status on ``today``: repealed (declared so, or a repealing rule is known), not yet effective
    (its effective date is still to come), else in force."""
    if declared == REPEALED or repealed_by:
        return REPEALED
    day = (today or date.today()).isoformat()
    if effective:
        return NOT_YET_EFFECTIVE if effective > day else IN_FORCE
    return NOT_YET_EFFECTIVE if declared == NOT_YET_EFFECTIVE else IN_FORCE


_QUOTES = re.compile(r"[《》〈〉<>\"“”'‘’\s　]")
_VERSION_TAIL = re.compile(r"[（(][^（）()]*(?:修订|修正|试行)[^（）()]*[)）]$")


def title_key(title: str) -> str:
    """A title as matched: no book-title marks or spaces, brackets in one width, without a leading
    中华人民共和国 (《中华人民共和国保险法》, 保险法 and 《保险法》 meet)."""
    text = _QUOTES.sub("", title).replace("(", "（").replace(")", "）")
    return text.removeprefix("中华人民共和国")


def title_keys(*titles: str | None) -> list[str]:
    """Every key a regulation answers to: each title's key, with and without a version note
    (人身保险公司保险条款和保险费率管理办法（2015年修订）)."""
    keys: list[str] = []
    for title in titles:
        if not title:
            continue
        key = title_key(title)
        keys += [key, _VERSION_TAIL.sub("", key)]
    return list(dict.fromkeys(k for k in keys if k))


# Issuers as they are written out or abbreviated; the longest names first (银保监会 contains 保监会).
_ISSUERS = (
    ("国家金融监督管理总局", "NFRA"), ("金融监管总局", "NFRA"),
    ("中国银行保险监督管理委员会", "CBIRC"), ("中国银保监会", "CBIRC"), ("银保监会", "CBIRC"),
    ("中国保险监督管理委员会", "CIRC"), ("中国保监会", "CIRC"), ("保监会", "CIRC"),
    ("中国银行业监督管理委员会", "CBRC"), ("中国银监会", "CBRC"), ("银监会", "CBRC"),
    ("国务院", "SC"), ("主席令", "PRES"),
)
_NUMBER = re.compile(r"(?:(\d{4})\s*年\s*第?\s*|[〔\[［(（]\s*(\d{4})\s*[〕\]］)）]\s*第?\s*|第\s*)(\d+)\s*号")


def doc_no_key(doc_no: str | None) -> str | None:
    """保监会令2006年第8号 and 中国保险监督管理委员会令2006年第8号 → ``CIRC:2006:8``; None when it
    has no number. Only the issuer family, year and number count: the printed forms vary."""
    if not doc_no:
        return None
    text = re.sub(r"\s", "", doc_no)
    m = _NUMBER.search(text)
    if not m:
        return None
    issuer = next((code for name, code in _ISSUERS if name in text[: m.start()] or name in text), "")
    kind = "发" if re.search(r"发[〔\[［(（]", text) else "令"
    return f"{issuer}{kind}:{m.group(1) or m.group(2) or ''}:{int(m.group(3))}"


@dataclass(frozen=True)
class KnownRegulation:
    """A regulation the graph holds (ingested, or a stub named by a repealing rule), as repeal links match it."""

    doc_id: str
    title_keys: tuple[str, ...]
    doc_no_key: str | None
    published: str | None
    effective: str | None
    stub: bool = False
    repealed_on: str | None = None  # a stub: when the rule repealing it took effect


def _predates(earlier: str | None, later: str | None) -> bool:
    return not earlier or not later or earlier < later


def repeal_target(rule: RepealedRule, repealer_id: str, repealer_effective: str | None,
                  known: list[KnownRegulation]) -> str | None:
    """The regulation a repealing rule names: same title (a key of it), the same document number when
    both are known, else one published before the repealer took effect; an ingested one before a stub.
    None: not in the graph (a stub is made). A rule never repeals itself, though an older rule of
    the same title (健康保险管理办法 2006, repealed by 健康保险管理办法 2019) is a different one."""
    keys = set(title_keys(rule.title))
    number = doc_no_key(rule.doc_no)
    found = [
        k for k in known
        if k.doc_id != repealer_id and keys & set(k.title_keys)
        and ((k.doc_no_key == number) if (number and k.doc_no_key)
             else _predates(k.published or k.effective, repealer_effective))
    ]
    found.sort(key=lambda k: k.stub)
    return found[0].doc_id if found else None


def stub_is(stub: KnownRegulation, doc: KnownRegulation, repealer_ids: list[str]) -> bool:
    """An ingested regulation is the rule a stub stands for: a title in common, the same number when
    both are known, else published before its repealer took effect; never its own repealer."""
    if doc.doc_id in repealer_ids or not set(stub.title_keys) & set(doc.title_keys):
        return False
    if stub.doc_no_key and doc.doc_no_key:
        return stub.doc_no_key == doc.doc_no_key
    return _predates(doc.published or doc.effective, stub.repealed_on)


def stub_id(rule: RepealedRule) -> str:
    """The stable id of a rule known only as repealed: from its title and number."""
    seed = f"{title_key(rule.title)}|{doc_no_key(rule.doc_no) or ''}"
    return f"repealed-{hashlib.sha1(seed.encode()).hexdigest()[:12]}"
