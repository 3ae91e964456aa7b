"""Draft a product catalog from a folder of an insurer's documents, for a person to review.

Every document is read for what it says about itself: the product's name as printed on the
title, the insurer above it, the filing number, the short name the wording gives itself
(“利安福重大疾病保险”简称“利安福重疾”). Documents of one product are grouped by the product code
in their file names where there is one (``115036_tk.md``, ``115036_sms.md``), else by the
product name; filings of the same product are ordered by filing number, the latest last (it
is the current one). What could not be decided is listed in the report, never guessed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from domain.errors import BrokerKGError
from domain.names import filing_order, insurer_brand, name_key
from ingest.catalog import COLUMNS
from ingest.parse import expand_paths
from ingest.readers import read_blocks
from ingest.structure import filing_number, find_title

EXTRA_COLUMNS = ("code", "filings")
# name endings → (category, what brokers call it)
CATEGORIES = (
    ("重大疾病保险", "重大疾病保险", "重疾"),
    ("恶性肿瘤疾病保险", "疾病保险", "防癌险"),
    ("疾病保险", "疾病保险", "疾病险"),
    ("医疗保险", "医疗保险", "医疗险"),
    ("定期寿险", "定期寿险", "定寿"),
    ("终身寿险", "终身寿险", "终身寿"),
    ("两全保险", "两全保险", "两全险"),
    ("养老年金保险", "年金保险", "养老金"),
    ("年金保险", "年金保险", "年金"),
    ("意外伤害保险", "意外伤害保险", "意外险"),
    ("护理保险", "护理保险", "护理险"),
)
# words that describe a cover rather than name a product: a name made only of them is no alias
_DESCRIPTIVE = re.compile(r"个人|团体|意外|伤害|住院|补贴|医疗|疾病|重大|学生|幼儿|少儿|城乡|居民|定期|终身|两全|年金|养老|寿险|保险|附加")
_TYPE_MARK = re.compile(r"[（(](?:分红型|万能型|投资连结型)[）)]")
_COMPANY = re.compile(r"^(\S{2,20}?(?:保险股份有限公司|保险有限责任公司|保险有限公司|股份有限公司|有限公司))")
_SHORT_NAME = re.compile(r"[“\"]([^”\"]{2,40})[”\"]\s*简称\s*[“\"]([^”\"]{2,20})[”\"]")
_CODE = re.compile(r"^(\d{4,10})(?=[_\-.])")
_DOC_KIND = (
    ("说明书", "manual"), ("费率", "rates"), ("免除", "exclusions"), ("责任免除", "exclusions"), ("条款", "wording"),
)


@dataclass
class DraftDocument:
    path: Path
    title: str
    kind: str  # wording, manual, rates, exclusions, other
    insurer: str | None
    name: str | None  # the product's name as printed (wordings only)
    filing_no: str | None
    short_name: str | None
    digest: str


@dataclass
class DraftProduct:
    key: str
    code: str | None
    documents: list[DraftDocument] = field(default_factory=list)

    @property
    def wordings(self) -> list[DraftDocument]:
        """Filings oldest first: by filing number (year, number), then file name (a history file first)."""
        return sorted((d for d in self.documents if d.kind == "wording"), key=_filing_order)


@dataclass
class Draft:
    rows: list[dict[str, str]]
    report: list[str]

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=[*COLUMNS, *EXTRA_COLUMNS], lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        return out.getvalue()


def _filing_order(doc: DraftDocument) -> tuple[int, int, int, str]:
    year, number = filing_order(doc.filing_no)
    historic = 0 if re.search(r"history|histor|old|旧|历史", doc.path.name, re.I) else 1
    return year, number, historic, doc.path.name


def _doc_kind(title: str, path: Path) -> str:
    for word, kind in _DOC_KIND:
        if word in title:
            return kind
    stem = path.stem.lower()
    for suffix, kind in (("_tk", "wording"), ("_sms", "manual"), ("_flbe", "rates"), ("_fl", "rates"), ("_mc", "exclusions")):
        if stem.endswith(suffix):
            return kind
    return "other"


def _split_title(title: str) -> tuple[str | None, str]:
    """利安人寿保险股份有限公司利安福重大疾病保险条款 → (利安人寿保险股份有限公司, 利安福重大疾病保险)."""
    text = title.strip()
    insurer = None
    m = _COMPANY.match(text)
    if m and len(text) > len(m.group(1)) + 2:
        insurer, text = m.group(1), text[len(m.group(1)):]
    text = re.sub(r"(条款|产品说明书|说明书|费率表|费率)$", "", text).strip()
    return insurer, text


def read_document(path: Path) -> DraftDocument:
    blocks, _ = read_blocks(path)
    title = find_title(blocks, path.stem)
    kind = _doc_kind(title, path)
    insurer, name = _split_title(title)
    head = "\n".join(b.text for b in blocks[:400])
    short = _SHORT_NAME.search(re.sub(r"\s+", "", head))
    return DraftDocument(
        path=path,
        title=title,
        kind=kind,
        insurer=insurer,
        name=name if kind == "wording" else None,
        filing_no=filing_number(blocks),
        short_name=short.group(2) if short else None,
        digest=hashlib.sha256(path.read_bytes()).hexdigest(),
    )


def category_of(name: str) -> tuple[str, str] | None:
    bare = _TYPE_MARK.sub("", name)
    bare = re.sub(r"[（(][^）)]{1,8}[）)]$", "", bare)
    for ending, category, short in CATEGORIES:
        if bare.endswith(ending):
            return category, short
    return None


def aliases_for(name: str, short_name: str | None, insurer: str | None) -> list[str]:
    """Names brokers use: the wording's own short name, the name without the brand or the
    dividend/universal marker, and the core name with the category as brokers say it
    (利安福重疾, 颐享年年臻享版养老金)."""
    out: list[str] = []
    if short_name:
        out.append(short_name)
    brand = insurer_brand(insurer)
    bare = _TYPE_MARK.sub("", name).strip()
    cat = category_of(name)
    core = bare
    for ending, _, _ in CATEGORIES:
        if ending in core:
            core = core[: core.index(ending)] + core[core.index(ending) + len(ending):]
            break
    core = re.sub(r"[（(]([^）)]{1,8})[）)]", r"\1", core).strip()
    # the brand is dropped only where what remains is still a name (利安金满堂 → 金满堂; 利安福 stays)
    debrand = bool(brand) and core.startswith(brand) and len(core) - len(brand) >= 2
    if bare != name:
        out.append(bare)
    if debrand:
        out.append(bare[len(brand):])
    rider = core.startswith("附加")
    if rider:  # a rider is named without 附加 too (附加保驾百万意外伤害保险 → 保驾百万)
        core = core[2:]
        debrand = bool(brand) and core.startswith(brand) and len(core) - len(brand) >= 2
    if cat and len(core) >= 2:
        out.append(core + cat[1])
        if debrand:
            out.append(core[len(brand):] + cat[1])
    # the bare name, when it is long enough not to be an ordinary word (颐享年年典藏版, 保驾百万; not 吉瑞)
    for bare_core in (core, core[len(brand):] if debrand else ""):
        if len(bare_core) >= 4 and len(_DESCRIPTIVE.sub("", bare_core)) >= 2:
            out.append(bare_core)
    return [a for a in dict.fromkeys(out) if a != name]


def draft_catalog(folder: Path, id_prefix: str = "P") -> Draft:
    files, _, failed = expand_paths([folder])
    if failed:
        raise BrokerKGError("; ".join(failed))
    if not files:
        raise BrokerKGError(f"{folder}: no documents found")
    report: list[str] = []
    groups: dict[str, DraftProduct] = {}
    loose: list[DraftDocument] = []
    for path in files:
        try:
            doc = read_document(path)
        except BrokerKGError as exc:
            report.append(f"{path.name}: could not be read ({exc}); left out")
            continue
        code_match = _CODE.match(path.name)
        if code_match:
            code = code_match.group(1)
            groups.setdefault(code, DraftProduct(code, code)).documents.append(doc)
        elif doc.kind == "wording" and doc.name:
            key = name_key(doc.name)
            groups.setdefault(key, DraftProduct(key, None)).documents.append(doc)
        else:
            loose.append(doc)
    for doc in loose:  # a manual or rate table without a code: attach by the product name in its title
        _, name = _split_title(doc.title)
        target = groups.get(name_key(name))
        if target is not None:
            target.documents.append(doc)
        else:
            report.append(f"{doc.path.name}: no product code in its name and no wording named '{name}'; left out")
    insurers = [d.insurer for g in groups.values() for d in g.documents if d.insurer]
    common_insurer = max(set(insurers), key=insurers.count) if insurers else None
    rows: list[dict[str, str]] = []
    alias_owner: dict[str, set[str]] = {}
    for group in sorted(groups.values(), key=lambda g: g.key):
        wordings = group.wordings
        label = group.code or group.key
        if not wordings:
            kinds = ", ".join(sorted({d.kind for d in group.documents}))
            report.append(f"{label}: no policy wording among its documents ({kinds}); not drafted")
            continue
        current = wordings[-1]
        name = current.name or ""
        if not name:
            report.append(f"{label}: no product name found on {current.path.name}; not drafted")
            continue
        insurer = current.insurer or common_insurer or ""
        if not current.insurer:
            report.append(f"{label} {name}: insurer not printed on the title; assumed {insurer or '(none)'}")
        cat = category_of(name)
        if cat is None:
            report.append(f"{label} {name}: category not recognised from the name; left empty")
        names = {name_key(w.name or "") for w in wordings}
        if len(names) > 1:
            report.append(f"{label}: its filings print different names ({', '.join(sorted(w.name or '' for w in wordings))}); "
                          f"the current one is used")
        digests = [w.digest for w in wordings]
        if len(set(digests)) < len(digests):
            report.append(f"{label} {name}: {len(digests) - len(set(digests))} filing file(s) identical to another")
        product_id = f"{id_prefix}-{group.code}" if group.code else f"{id_prefix}-{hashlib.sha1(group.key.encode()).hexdigest()[:8]}"
        short_name = next((w.short_name for w in reversed(wordings) if w.short_name), None)
        aliases = aliases_for(name, short_name, insurer)
        for alias in aliases:
            alias_owner.setdefault(alias, set()).add(product_id)
        others = [d for d in group.documents if d.kind != "wording"]
        documents = [*wordings, *sorted(others, key=lambda d: d.path.name)]
        rows.append({
            "product_id": product_id,
            "name": name,
            "insurer": insurer,
            "category": cat[0] if cat else "",
            "status": "on_sale",
            "effective_date": "",
            "discontinued_date": "",
            "replaced_by": "",
            "aliases": "|".join(aliases),
            "documents": "|".join(str(d.path.relative_to(folder)) for d in documents),
            "code": group.code or "",
            "filings": "|".join(w.filing_no or "" for w in wordings),
        })
    shared = {a: ids for a, ids in alias_owner.items() if len(ids) > 1}
    for row in rows:
        kept = [a for a in row["aliases"].split("|") if a and a not in shared]
        row["aliases"] = "|".join(kept)
    for alias, ids in sorted(shared.items()):
        report.append(f"alias '{alias}' fits {', '.join(sorted(ids))}; dropped from all of them")
    report.append("status: every product drafted as on_sale; apply the insurer's stop-sale list with `brokerkg status sync`")
    report.append("effective_date: not printed in the documents; left empty")
    return Draft(rows, report)
