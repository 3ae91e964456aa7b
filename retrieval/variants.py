"""Siblings that differ by one word: 颐享年年（典藏版）/（臻享版）, 爱无限（C款）, 鑫利来（金瑜版）/（金琪版）.

A product name with a variant in brackets belongs to a family (the name before the bracket). A
question that names the family with a variant the catalog does not have (颐享年年尊享版) is not
answered from a sibling; one that names a family of several variants without saying which is
told which exist. A variant-looking name that is no family at all (国寿福臻享版) is an unknown
product.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domain.names import insurer_brand, name_key

_BRACKET_VARIANT = re.compile(r"^(.{2,20}?)[（(]([^）)]{1,6})[）)]")
_NOT_VARIANT = re.compile(r"^(?:分红型|万能型|投资连结型|\d{2,4}版?)$")
# a variant as brokers write it after the name: 臻享版, 金瑜版, C款, B款, 尊享1号, 青松2号
_ASKED_VARIANT = re.compile(r"^的?((?:[\u4e00-\u9fff]{1,2}\d?号)|(?:[\u4e00-\u9fff]{2}版)|(?:[A-Za-z]\d?款?))")
_NAME_WITH_VARIANT = re.compile(
    r"([\u4e00-\u9fff]{2,8}?)((?:臻享|尊享|典藏|惠民|智享|馨享|青松|青竹|金瑜|金琪|至尊|优享|悦享|乐享|畅享|精选|升级|旗舰)版|[A-Z]款)"
)
@dataclass
class Family:
    stem: str  # normalised name before the variant (利安颐享年年)
    members: dict[str, str] = field(default_factory=dict)  # normalised variant → product name


@dataclass
class VariantCheck:
    missing: str | None = None  # "颐享年年尊享版": a variant the family does not have
    ambiguous: str | None = None  # "颐享年年": a family named without its variant
    siblings: list[str] = field(default_factory=list)  # the family's product names
    unknown: list[str] = field(default_factory=list)  # variant-looking names that are no product
    not_meant: list[str] = field(default_factory=list)  # linked names the question means another variant of


def pinyin(text: str) -> tuple[str, ...]:
    """One syllable per character, tones dropped (瑞禾 and 瑞和 both rui he); other characters as they are."""
    from pypinyin import Style, lazy_pinyin

    out: list[str] = []
    for ch in text:
        out.extend(lazy_pinyin(ch, style=Style.NORMAL) if "\u4e00" <= ch <= "\u9fff" else [ch])
    return tuple(out)


def families(products: list[dict[str, Any]]) -> dict[str, Family]:
    """Families by stem (also without the insurer's brand: 颐享年年 for 利安颐享年年)."""
    out: dict[str, Family] = {}
    for p in products:
        name = unicodedata.normalize("NFKC", str(p.get("name") or ""))
        m = _BRACKET_VARIANT.match(name)
        if not m or _NOT_VARIANT.match(m.group(2).strip()):
            continue
        stem, variant = name_key(m.group(1)), name_key(m.group(2))
        stems = {stem}
        mark = insurer_brand(str(p.get("insurer") or ""))
        if mark and stem.startswith(mark) and len(stem) - len(mark) >= 2:
            stems.add(stem[len(mark):])
        for s in stems:
            out.setdefault(s, Family(s)).members[variant] = str(p.get("name"))
    return out


_NAMED_VARIANT = re.compile(r"^((?:[\u4e00-\u9fff]{1,2}\d?号)|(?:[\u4e00-\u9fff]{2}版)|(?:[A-Za-z]\d?款))")


def check(question: str, table: dict[str, Family], linked_names: list[str], known_names: list[str],
          brands: tuple[str, ...] = (), spans: tuple[str, ...] = ()) -> VariantCheck:
    """``linked_names``: the catalog names of the products the question links; ``known_names``:
    every catalog name and alias (to tell an unknown product from a known one)."""
    result = VariantCheck()
    text = name_key(question)
    linked = {name_key(n) for n in linked_names}
    # a variant written right after a linked product's name that the product does not have (吉瑞尊享版)
    for span in sorted(spans, key=len, reverse=True):
        at = text.find(name_key(span))
        m = _NAMED_VARIANT.match(text[at + len(name_key(span)):]) if at >= 0 else None
        if m and not any(m.group(1) in n for n in linked) and not any(name_key(span) in stem or stem in name_key(span) for stem in table):
            result.missing, result.siblings = f"{name_key(span)}{m.group(1)}", sorted(linked_names)
            result.not_meant = list(linked_names)  # 吉瑞尊享版 is not 吉瑞: no answer from it, no flag for it
            return result
    for stem in sorted(table, key=len, reverse=True):
        at = text.find(stem)
        if at < 0:
            continue
        family = table[stem]
        rest = text[at + len(stem):]
        m = _ASKED_VARIANT.match(rest)
        asked = m.group(1) if m else None
        if asked and not asked.endswith(("版", "款", "号")):
            asked += "款"  # 爱无限C → C款
        names = sorted(family.members.values())
        if asked and asked not in family.members:
            asked = next((v for v in family.members if pinyin(v) == pinyin(asked)), asked)  # 珍享版 → 臻享版
        if asked and asked not in family.members and not any(name_key(n) in linked for n in names if asked in name_key(n)):
            result.missing, result.siblings = f"{stem}{asked}", names
            return result
        if not asked and len(family.members) > 1 and not any(name_key(n) in linked for n in names):
            result.ambiguous, result.siblings = stem, names
        return result
    known = " ".join(name_key(n) for n in known_names)
    for m in _NAME_WITH_VARIANT.finditer(text):
        stem = m.group(1)
        if not linked_names and stem not in known and stem[-2:] not in known:
            result.unknown.append(m.group(0))
    if not linked_names:
        result.unknown += [n for n in product_like_names(text, brands) if n not in result.unknown]
    return result


# A product's name ends in its kind of cover; what stands before it names the product (利安传家福终身寿险,
# 太平洋金佑人生终身寿险). Questions (什么是终身寿险) and kinds of product (增额终身寿险) are no names.
KINDS = ("养老年金保险|年金保险|终身寿险|定期寿险|两全保险|重大疾病保险|疾病保险|医疗保险|"
         "意外伤害保险|护理保险|重疾险|医疗险|意外险|年金险|寿险")  # how a product's name ends
_KIND = re.compile(rf"([\u4e00-\u9fffA-Za-z0-9]{{3,12}}?)(?:{KINDS})")
_NOT_A_NAME = re.compile(r"[么哪些怎样是的买有这那个种类和或与跟给帮让把被对在从向我你他她它们请问吗呢吧想要能可会该]|"
                         r"^(?:增额|定额|团体|个人|少儿|成人|养老|分红|万能|投连|终身|定期|百万|长期|短期|综合|普通|高端|中端|"
                         r"附加|主险|商业|传统|网红|互联网|线上|返还|消费)+$")


def product_like_names(text: str, brands: tuple[str, ...]) -> list[str]:
    """Names shaped like a product's in a question: an insurer's brand, a name, then the kind of
    cover (利安传家福终身寿险, 太平洋金佑人生终身寿险)."""
    out = []
    for m in _KIND.finditer(text):
        stem = m.group(1)
        at = next((i for i in range(len(stem)) if stem.startswith(brands, i)), None) if brands else None
        if at is None:
            continue
        stem = stem[at:]
        if len(stem) >= 4 and not _NOT_A_NAME.search(stem):
            out.append(stem + m.group(0)[len(m.group(1)):])
    return out


def load_brands() -> tuple[str, ...]:
    """Insurers' short names (利安, 太平洋, 国寿…) from the data file, longest first."""
    path = Path(__file__).parent / "data" / "insurers.txt"
    names = [line.split("#")[0].strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return tuple(sorted({n for n in names if n}, key=len, reverse=True))
