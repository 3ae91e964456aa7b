"""The synonym and abbreviation dictionary (``retrieval/data/synonyms.txt`` plus an optional file of your own).

Questions say 酒驾, 重疾, 交强险, 复效; documents say 酒后驾驶, 重大疾病, 机动车交通事故责任强制保险,
效力恢复. The lexicon finds such variants in a question (leftmost-longest) and gives:

- ``canonicalize``: the question with each variant replaced by its canonical wording, for
  matching law and product names;
- ``expansions``: the canonical wordings to add to the BM25 query and to the text the dense
  model reads, while the question's own words stay in.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from domain.errors import ConfigError

logger = logging.getLogger(__name__)

_LINE = re.compile(r"^\s*([^=#]+?)\s*=\s*(.+?)\s*$")


@dataclass(frozen=True)
class Match:
    surface: str
    canonicals: tuple[str, ...]
    start: int
    end: int
    keep: bool = False  # a question form (赔不赔): not content


class Lexicon:
    def __init__(self, groups: list[tuple[str, list[str]]], keep: list[str] | None = None) -> None:
        table: dict[str, list[str]] = {w: [] for w in keep or []}
        self._keep = frozenset(keep or [])
        for canonical, variants in groups:
            for surface in variants:
                targets = table.setdefault(surface, [])
                if canonical not in targets and canonical != surface:
                    targets.append(canonical)
        for canonical, _ in groups:
            table.setdefault(canonical, [])  # consumed as a whole, so its inner words are not rewritten
        self._table = {k: tuple(v) for k, v in table.items()}
        self._canonicals = {c for c, _ in groups}
        self._lengths = sorted({len(k) for k in self._table}, reverse=True)
        self.groups = groups

    @classmethod
    def parse(cls, text: str, source: str) -> tuple[list[tuple[str, list[str]]], list[str]]:
        """(groups, keep): ``canonical = a | b`` lines, and ``! a | b`` phrases kept as they are."""
        groups: list[tuple[str, list[str]]] = []
        keep: list[str] = []
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("!"):
                keep += [w.strip() for w in line[1:].split("|") if w.strip()]
                continue
            m = _LINE.match(line)
            variants = [v.strip() for v in m.group(2).split("|") if v.strip()] if m else []
            if not m or not variants:
                raise ConfigError(f"{source}, line {number}: expected 'canonical = variant | variant', got {raw!r}")
            groups.append((m.group(1).strip(), variants))
        return groups, keep

    @classmethod
    def load(cls, extra: Path | None = None) -> Lexicon:
        """The shipped dictionary, plus ``extra`` (same format) when given."""
        shipped = resources.files("retrieval").joinpath("data/synonyms.txt").read_text(encoding="utf-8")
        groups, keep = cls.parse(shipped, "retrieval/data/synonyms.txt")
        if extra is not None:
            try:
                more, more_keep = cls.parse(extra.read_text(encoding="utf-8"), str(extra))
            except OSError as exc:
                raise ConfigError(f"cannot read the synonyms file {extra}: {exc.strerror or exc}") from exc
            groups, keep = groups + more, keep + more_keep
        return cls(groups, keep)

    def words(self) -> list[str]:
        """Short surfaces worth keeping whole in the tokenizer (variants and short canonical words)."""
        out = {w for w, targets in self._table.items() if targets}
        out |= {c for c in self._canonicals if len(c) <= 4}
        return sorted(w for w in out if len(w) >= 2)

    def matches(self, text: str) -> list[Match]:
        """Variants in ``text``, leftmost-longest, not overlapping."""
        out: list[Match] = []
        i = 0
        while i < len(text):
            for length in self._lengths:
                surface = text[i : i + length]
                if len(surface) == length and surface in self._table:
                    out.append(Match(surface, self._table[surface], i, i + length, surface in self._keep))
                    i += length
                    break
            else:
                i += 1
        return out

    def canonicalize(self, text: str) -> str:
        parts: list[str] = []
        last = 0
        for m in self.matches(text):
            parts += [text[last : m.start], m.canonicals[0] if m.canonicals else m.surface]
            last = m.end
        return "".join(parts) + text[last:]

    def expansions(self, text: str) -> list[str]:
        """Canonical wordings of the variants in ``text`` that the text does not already contain."""
        out: list[str] = []
        for m in self.matches(text):
            for canonical in m.canonicals:
                if canonical not in text and canonical not in out:
                    out.append(canonical)
        return out
