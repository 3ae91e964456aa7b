"""The typo index finds a product written with a homophone or a misspelling exactly as a scan of
every name would, on the real insurer's catalog (58 products, their aliases and the family names
made from them) and questions with typos made from those names."""

from __future__ import annotations

import csv
import random
from typing import Any

from rapidfuzz import fuzz

from retrieval import linking
from retrieval.linking import _norm, _product_surfaces, _surface_pinyin, _TypoIndex
from retrieval.variants import pinyin
from tests.conftest import ROOT

# Characters that sound like others (the kind brokers type): 和/禾, 珍/臻, 康/慷, 安/按, 利/力, 福/富.
SOUND_ALIKE = {"禾": "和", "臻": "珍", "康": "慷", "安": "按", "利": "力", "福": "富", "寿": "受", "保": "宝"}


def _rows() -> list[dict[str, Any]]:
    with open(ROOT / "demo" / "lian" / "catalog-full.csv", encoding="utf-8") as f:
        return [{**row, "aliases": [a for a in row["aliases"].split("|") if a]} for row in csv.DictReader(f)]


def _scan_homophones(text: str, table: dict[str, Any]) -> list[tuple[Any, str]]:
    sounds = pinyin(text)
    best = None
    for surface, entry in table.items():
        if len(surface) < 4 or (best is not None and len(surface) <= len(best[0].text)):
            continue
        target = _surface_pinyin(surface)
        n = len(target)
        for i in range(len(sounds) - n + 1):
            if sounds[i : i + n] == target and sum(a == b for a, b in zip(text[i : i + n], surface, strict=False)) * 2 > n:
                best = (entry, text[i : i + n])
                break
    return [best] if best else []


def _scan_misspelt(text: str, table: dict[str, Any]) -> list[tuple[Any, str]]:
    best = None
    for surface, entry in table.items():
        if len(surface) < 5:
            continue
        hit = fuzz.partial_ratio_alignment(surface, text, score_cutoff=linking._FUZZY_CUTOFF)
        if hit is None:
            continue
        window = text[hit.dest_start : hit.dest_end]
        if set(linking._YEAR.findall(window)) != set(linking._YEAR.findall(surface)):
            continue
        if best is None or hit.score > best[0]:
            best = (hit.score, entry, window)
    return [(best[1], best[2])] if best else []


def _questions(table: dict[str, Any]) -> list[str]:
    rng = random.Random(7)
    names = [s for s in table if len(s) >= 4]
    out = []
    for name in rng.sample(names, min(120, len(names))):
        chars = list(name)
        i = rng.randrange(len(chars))
        sound = [j for j, ch in enumerate(chars) if ch in SOUND_ALIKE]
        if sound:
            j = rng.choice(sound)
            out.append("请问" + "".join(chars[:j]) + SOUND_ALIKE[chars[j]] + "".join(chars[j + 1 :]) + "的等待期多久")
        out.append("".join(chars[:i] + chars[i + 1 :]) + "能买吗")  # a character left out
        out.append("想了解" + "".join(chars[:i] + ["的"] + chars[i:]) + "的保障")  # one let in
    out += ["保险法第十六条说什么", "重大疾病保险的等待期一般多久", "增额终身寿现金价值怎么算", "。", ""]
    return out


def test_typo_index_chooses_what_a_scan_of_every_name_chooses() -> None:
    table = _product_surfaces(_rows())
    index = _TypoIndex(table)
    questions = [_norm(q) for q in _questions(table)]
    found = 0
    for q in questions:
        assert index.homophones(q) == _scan_homophones(q, table), q
        assert index.misspelt(q) == _scan_misspelt(q, table), q
        found += bool(index.homophones(q) or index.misspelt(q))
    assert found > len(questions) // 2  # the questions do name products with typos
