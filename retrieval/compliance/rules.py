"""Compliance rules as data files that compliance staff edit; reloaded when a file changes.

One YAML file per rule. The packaged rules (``retrieval/compliance/rules/*.yaml``) are the
defaults; a file of the same ``id`` in the data dir's rules folder (``BROKERKG_COMPLIANCE_RULES_DIR``,
default ``<data dir>/compliance/rules``) replaces it, a new ``id`` adds a rule and
``enabled: false`` switches one off. A file that does not validate is reported by name and
field (``GET /v1/compliance/rules``) and the rule keeps its last good version.

A rule names the article it rests on and how it is found:
- ``check: conduct``: its ``patterns`` (regular expressions) in a sentence, unless a pattern of
  ``unless`` is in the same clause, and sentences close in meaning to its ``examples`` and
  further from its ``counter_examples`` (the embedding model; ``similarity`` is the floor).
  ``condition: no_stop_sale_notice`` keeps only findings about products the insurer has not
  announced to stop selling.
  ``model: false`` keeps the learned model (``model.npz`` beside the rules, see ``model.py``)
  from adding or dropping this rule's findings. ``defer_to`` names rules that take precedence:
  a finding of this rule over words a finding of one of them covers is dropped (零风险 inside a
  promise of returns is that promise, not a second breach); ``defer_scope: sentence`` widens this
  to the sentence (连本带利 in a sentence likening the policy to a deposit is that likeness).
- ``check: facts``: numbers a text states about a named product against the product's facts.
- ``check: status``: a named product that is not on sale, unless the sentence says so
  (``acknowledge``) without still selling it (``selling``).
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from domain.errors import InputError
from domain.files import replace_atomically
from domain.refs import article_key, law_key, normalize_article
from retrieval.compliance.model import MODEL_FILE, Model
from retrieval.compliance.model import load as load_model

logger = logging.getLogger(__name__)

PACKAGED = Path(__file__).with_name("rules")
BACKGROUND = "background.txt"
CHECKS = ("conduct", "facts", "status")
SEVERITIES = ("high", "medium", "low")
TEXT_KINDS = ("message", "script", "poster", "comparison")
CONDITIONS = ("no_stop_sale_notice",)
DEFAULT_SIMILARITY = 0.62  # in the background-free space of the embedding (see engine._similar)
_ID = re.compile(r"[a-z][a-z0-9_]{1,63}")


@dataclass(frozen=True)
class ArticleRef:
    law: str  # the regulation's title as printed (保险销售行为管理办法)
    article: str  # 第十七条

    def __str__(self) -> str:
        return f"{self.law} {self.article}"

    @property
    def key(self) -> str:
        """The article's graph key (保险销售行为管理办法#第十七条)."""
        return article_key(law_key(self.law), self.article)


@dataclass(frozen=True)
class Rule:
    id: str
    version: int
    title: str
    check: str
    severity: str
    explanation: str
    articles: tuple[ArticleRef, ...]  # the first is the one it breaks; the others also apply
    applies_to: tuple[str, ...] = TEXT_KINDS
    patterns: tuple[re.Pattern[str], ...] = ()
    unless: tuple[re.Pattern[str], ...] = ()
    acknowledge: tuple[re.Pattern[str], ...] = ()  # status: the text says the product is off sale
    selling: tuple[re.Pattern[str], ...] = ()  # status: …and still sells it
    concepts: tuple[tuple[re.Pattern[str], ...], ...] = ()  # each set: all its groups in one sentence
    window: int = 24  # the most characters a concept set's matches may span
    examples: tuple[str, ...] = ()
    counter_examples: tuple[str, ...] = ()
    similarity: float = 0.62
    condition: str | None = None
    enabled: bool = True
    model: bool = True  # the learned model may add findings of this rule and drop its doubtful ones
    defer_to: tuple[str, ...] = ()  # rules whose finding over the same words replaces this rule's
    defer_scope: str = "clause"  # clause | sentence: how far "the same words" reach
    source: str = ""  # the file it was read from
    sha: str = ""  # of the file's content: which text of the rule produced a finding

    @property
    def pattern_keys(self) -> list[str]:
        return [p.pattern for p in self.patterns] + [concept_key(g) for g in self.concepts]

    @property
    def version_label(self) -> str:
        return f"{self.version}-{self.sha[:8]}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "version": self.version, "rule_version": self.version_label, "title": self.title,
            "check": self.check, "severity": self.severity, "explanation": self.explanation,
            "articles": [{"law": a.law, "article": a.article} for a in self.articles],
            "applies_to": list(self.applies_to), "patterns": [p.pattern for p in self.patterns],
            "unless": [p.pattern for p in self.unless], "acknowledge": [p.pattern for p in self.acknowledge],
            "selling": [p.pattern for p in self.selling],
            "concepts": [[p.pattern for p in group] for group in self.concepts], "window": self.window, "examples": list(self.examples),
            "counter_examples": list(self.counter_examples), "similarity": self.similarity,
            "condition": self.condition, "enabled": self.enabled, "model": self.model, "defer_to": list(self.defer_to), "defer_scope": self.defer_scope, "source": self.source,
        }


def concept_key(group: tuple[re.Pattern[str], ...]) -> str:
    """A concept set named by its patterns (what a finding says matched, and what a model saw)."""
    return " & ".join(p.pattern for p in group)


def _article(value: Any, where: str) -> ArticleRef:
    text = str(value or "").strip()
    m = re.fullmatch(r"《?(.+?)》?\s*第([零〇一二两三四五六七八九十百千\d]+)条", text)
    if not m:
        raise InputError(f"{where}: article must be '法规名称 第X条', not {text!r}")
    return ArticleRef(m.group(1).strip(), normalize_article(m.group(2)))


def _strings(data: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = data.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InputError(f"{where}: field {key} must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _patterns(data: dict[str, Any], key: str, where: str) -> tuple[re.Pattern[str], ...]:
    out = []
    for i, p in enumerate(_strings(data, key, where)):
        try:
            out.append(re.compile(p))
        except re.error as exc:
            raise InputError(f"{where}: field {key}[{i}] is not a valid regular expression ({exc})") from None
    return tuple(out)


def _concepts(data: dict[str, Any], where: str) -> tuple[tuple[re.Pattern[str], ...], ...]:
    """``concepts``: a list of sets, each a list of regular expressions that must all match in one
    sentence within ``window`` characters (e.g. a return word and a certainty word)."""
    value = data.get("concepts") or []
    if not isinstance(value, list) or not all(isinstance(group, list) and len(group) >= 2 for group in value):
        raise InputError(f"{where}: field concepts must be a list of sets, each a list of two or more regular expressions")
    return tuple(_patterns({"concepts": group}, "concepts", where) for group in value)


def _window(data: dict[str, Any], where: str) -> int:
    value = data.get("window", 24)
    if not isinstance(value, int) or isinstance(value, bool) or not 2 <= value <= 200:
        raise InputError(f"{where}: field window must be a whole number of characters between 2 and 200")
    return value


def parse_rule(text: str, source: str) -> Rule:
    """One rule file's text → Rule; ``InputError`` naming the file and field when it does not validate."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{source}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise InputError(f"{source}: a rule file holds one mapping (id, title, check, article…)")
    where = source
    rule_id = str(data.get("id") or "")
    if not _ID.fullmatch(rule_id):
        raise InputError(f"{where}: field id must be lower-case letters, digits and _ (e.g. guaranteed_return)")
    check = data.get("check", "conduct")
    if check not in CHECKS:
        raise InputError(f"{where}: field check must be one of {', '.join(CHECKS)}")
    severity = data.get("severity", "medium")
    if severity not in SEVERITIES:
        raise InputError(f"{where}: field severity must be one of {', '.join(SEVERITIES)}")
    version = data.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InputError(f"{where}: field version must be a positive integer")
    for key in ("title", "explanation"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise InputError(f"{where}: field {key} is required")
    articles = [_article(a, f"{where}: field article") for a in ([data.get("article")] + list(data.get("also_articles") or []))]
    applies = _strings(data, "applies_to", where) or TEXT_KINDS
    bad = [k for k in applies if k not in TEXT_KINDS]
    if bad:
        raise InputError(f"{where}: field applies_to: unknown kind {bad[0]!r} (one of {', '.join(TEXT_KINDS)})")
    similarity = data.get("similarity", DEFAULT_SIMILARITY)
    if not isinstance(similarity, int | float) or not 0 < float(similarity) <= 1:
        raise InputError(f"{where}: field similarity must be a number in (0, 1]")
    condition = data.get("condition")
    if condition is not None and condition not in CONDITIONS:
        raise InputError(f"{where}: field condition must be one of {', '.join(CONDITIONS)}")
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise InputError(f"{where}: field enabled must be true or false")
    scope = data.get("defer_scope", "clause")
    if scope not in ("clause", "sentence"):
        raise InputError(f"{where}: field defer_scope must be clause or sentence")
    use_model = data.get("model", True)
    if not isinstance(use_model, bool):
        raise InputError(f"{where}: field model must be true or false")
    rule = Rule(
        id=rule_id, version=version, title=data["title"].strip(), check=check, severity=severity,
        explanation=" ".join(data["explanation"].split()), articles=tuple(articles), applies_to=applies,
        patterns=_patterns(data, "patterns", where), unless=_patterns(data, "unless", where),
        acknowledge=_patterns(data, "acknowledge", where), selling=_patterns(data, "selling", where),
        concepts=_concepts(data, where), window=_window(data, where),
        examples=_strings(data, "examples", where), counter_examples=_strings(data, "counter_examples", where),
        similarity=float(similarity), condition=condition, enabled=enabled, model=use_model, defer_to=_strings(data, "defer_to", where), defer_scope=scope, source=source,
        sha=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )
    if check == "conduct" and not (rule.patterns or rule.examples or rule.concepts):
        raise InputError(f"{where}: a conduct rule needs patterns, concepts or examples")
    return rule


@dataclass
class RuleBook:
    """The rules in force now: packaged defaults overridden by the data dir's files."""

    rules: dict[str, Rule] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    version: str = ""  # changes whenever any rule's text changes
    background: tuple[str, ...] = ()  # ordinary compliant sentences (background.txt of each folder)
    model: Model | None = None  # the learned model (the last folder's model.npz)

    def active(self, kind: str | None = None) -> list[Rule]:
        return [r for r in self.rules.values() if r.enabled and (kind is None or kind in r.applies_to)]


class RuleStore:
    """Reads the rule folders and reloads them when a file is added, changed or removed."""

    def __init__(self, folders: Iterable[Path]) -> None:
        self.folders = [Path(f) for f in folders]
        self._lock = threading.Lock()
        self._signature: tuple[tuple[str, int, int, int], ...] | None = None
        self._book = RuleBook()
        self._last_good: dict[str, Rule] = {}
        self._last_model: Model | None = None

    @property
    def writable(self) -> Path:
        """Where edits go: the last folder (the data dir's)."""
        return self.folders[-1]

    def _files(self) -> list[Path]:
        files: list[Path] = []
        for folder in self.folders:
            if folder.is_dir():
                files += sorted(p for p in folder.iterdir()
                                if (p.suffix in (".yaml", ".yml") or p.name in (BACKGROUND, MODEL_FILE)) and p.is_file())
        return files

    def _signature_now(self, files: list[Path]) -> tuple[tuple[str, int, int, int], ...]:
        """Name, time, size and inode: a rule rewritten (a new file renamed over it) within one tick
        of the clock, at the same size, is still seen as changed (by every process serving the dir)."""
        out = []
        for p in files:
            try:
                st = p.stat()
            except OSError:
                continue
            out.append((str(p), st.st_mtime_ns, st.st_size, st.st_ino))
        return tuple(out)

    def book(self) -> RuleBook:
        """The current rules; re-read first when any file changed (a few stat calls per check)."""
        files = self._files()
        signature = self._signature_now(files)
        if signature == self._signature:
            return self._book
        with self._lock:
            if signature != self._signature:
                self._book = self._load(files)
                self._signature = signature
        return self._book

    def _load(self, files: list[Path]) -> RuleBook:
        rules: dict[str, Rule] = {}
        errors: list[str] = []
        background: list[str] = []
        model: Model | None = None
        for path in files:
            if path.name == MODEL_FILE:
                try:
                    model = load_model(path)  # a later folder's model replaces the packaged one
                except InputError as exc:
                    errors.append(str(exc))
                    logger.warning("compliance model not loaded: %s", exc)
                    model = self._last_model if self._last_model is not None else model
                continue
            if path.name == BACKGROUND:
                try:
                    lines = path.read_text(encoding="utf-8").splitlines()
                except (OSError, UnicodeDecodeError) as exc:
                    errors.append(f"{path}: {exc}")
                    continue
                background += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
                continue
            try:
                rule = parse_rule(path.read_text(encoding="utf-8"), str(path))
            except (InputError, OSError, UnicodeDecodeError) as exc:
                errors.append(str(exc))
                logger.warning("compliance rule not loaded: %s", exc)
                stem = path.stem
                if stem in self._last_good and stem not in rules:  # keep its last good version
                    rules[stem] = self._last_good[stem]
                continue
            rules[rule.id] = rule  # a later folder's file of the same id replaces the packaged one
        self._last_good.update(rules)
        self._last_model = model
        digest = hashlib.sha256("".join(f"{r.id}:{r.sha}" for r in sorted(rules.values(), key=lambda r: r.id)).encode())
        if rules:
            logger.info("compliance rules loaded: %d (%d errors)", len(rules), len(errors))
        digest.update("\n".join(background).encode())
        digest.update((model.sha if model else "").encode())
        return RuleBook(rules, errors, digest.hexdigest()[:12], tuple(dict.fromkeys(background)), model)

    def save(self, rule_id: str, text: str) -> Rule:
        """Write one rule's file to the data dir's folder after validating it; the id in the text must be ``rule_id``."""
        rule = parse_rule(text, f"rule {rule_id}")
        if rule.id != rule_id:
            raise InputError(f"rule {rule_id}: field id is {rule.id!r}; it must match the rule being saved")
        replace_atomically(self.writable / f"{rule_id}.yaml", text)  # a check sees the old file or the new one
        self._signature = None
        return self.book().rules[rule_id]
