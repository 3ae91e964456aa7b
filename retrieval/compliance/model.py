"""A learned second opinion for the conduct rules, trained on labelled sales texts.

Patterns and examples catch the wordings someone wrote down; texts written by other people
break the same rules in other words. This model is a logistic regression per conduct rule over
each unit the checker compares (a sentence, a clause, two neighbouring clauses): the unit's
embedding (the same vectors the rules' examples use) and its character 1–3-grams (tf-idf), trained
on the labelled sets (a unit overlapping a labelled quote of a rule is a positive, every other
unit a negative). The checker uses it twice (``engine.Checker``):

- ``add``: a unit the model is this sure of is a finding even when no pattern or example matched;
- ``veto``: a conduct finding of a rule the model knows, where no unit it covers reaches this
  probability, is dropped (a pattern that matched words used in a compliant sense).

Inference needs numpy only; ``train`` needs scikit-learn (``brokerkg train-checker``). The file
is an ``.npz`` beside the rules (``model.npz``): a data dir's file replaces the packaged one.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from domain.errors import InputError
from domain.files import replace_atomically
from retrieval.compliance.text import sentences, windows

MODEL_FILE = "model.npz"
ADD = 0.97  # chosen by leave-one-set-out runs over the labelled sets (tests/golden/compliance.md)
VETO = 0.5
_SPACES = re.compile(r"\s\s+")


@dataclass
class Model:
    rules: tuple[str, ...]
    mean: np.ndarray  # (dim,) the training units' mean embedding
    emb_coef: np.ndarray  # (rules, dim)
    vocab: dict[str, int]
    idf: np.ndarray  # (grams,)
    gram_coef: np.ndarray  # (rules, grams)
    intercept: np.ndarray  # (rules,)
    emb_weight: float = 1.0
    add: float = ADD
    veto: float = VETO
    meta: dict[str, Any] = field(default_factory=dict)
    sha: str = ""

    def probabilities(self, texts: list[str], vectors: np.ndarray) -> dict[str, np.ndarray]:
        """Per rule, the probability that each unit breaks it (``vectors``: the units' raw embeddings)."""
        if not texts:
            return {r: np.zeros(0, dtype=np.float32) for r in self.rules}
        e = np.asarray(vectors, dtype=np.float32) - self.mean
        e /= np.linalg.norm(e, axis=1, keepdims=True) + 1e-9
        scores = (e * self.emb_weight) @ self.emb_coef.T + self.intercept
        for n, text in enumerate(texts):
            cols, vals = self._grams(text)
            if len(cols):
                scores[n] += vals @ self.gram_coef[:, cols].T
        probs = 1.0 / (1.0 + np.exp(-scores))
        return {r: probs[:, i] for i, r in enumerate(self.rules)}

    def _grams(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The unit's tf-idf over the model's character n-grams, as scikit-learn's char analyzer
        computes it (lower case, runs of white space as one, sublinear tf, l2 norm)."""
        counts = Counter(g for g in _char_grams(text) if g in self.vocab)
        if not counts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        cols = np.fromiter((self.vocab[g] for g in counts), dtype=np.int64, count=len(counts))
        vals = np.fromiter((1.0 + math.log(c) for c in counts.values()), dtype=np.float32, count=len(counts))
        vals *= self.idf[cols]
        vals /= np.linalg.norm(vals) or 1.0
        return cols, vals

    # --- file ---------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        grams = sorted(self.vocab, key=self.vocab.__getitem__)
        buf = io.BytesIO()
        np.savez_compressed(
            buf, rules=np.array(self.rules), mean=self.mean, emb_coef=self.emb_coef, grams=np.array(grams),
            idf=self.idf, gram_coef=self.gram_coef, intercept=self.intercept,
            meta=np.array(json.dumps({**self.meta, "emb_weight": self.emb_weight, "add": self.add, "veto": self.veto},
                                     ensure_ascii=False)))
        return buf.getvalue()


def load(path: Path) -> Model:
    """Read a model file; a file that is not one is an error naming it."""
    try:
        data = path.read_bytes()
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            grams = [str(g) for g in z["grams"]]
            model = Model(
                tuple(str(r) for r in z["rules"]), z["mean"].astype(np.float32), z["emb_coef"].astype(np.float32),
                {g: i for i, g in enumerate(grams)}, z["idf"].astype(np.float32), z["gram_coef"].astype(np.float32),
                z["intercept"].astype(np.float32), float(meta.get("emb_weight", 1.0)), float(meta.get("add", ADD)),
                float(meta.get("veto", VETO)), meta, hashlib.sha256(data).hexdigest())
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a compliance model file ({exc})") from None
    n = len(model.rules)
    if model.emb_coef.shape[0] != n or model.gram_coef.shape != (n, len(grams)) or model.intercept.shape != (n,):
        raise InputError(f"{path}: not a compliance model file (its arrays do not agree in shape)")
    return model


def _char_grams(text: str) -> Iterable[str]:
    t = _SPACES.sub(" ", text.lower())
    for n in (1, 2, 3):
        for i in range(len(t) - n + 1):
            yield t[i : i + n]


# --- training -------------------------------------------------------------------------------------


def units(item: dict[str, Any], rules: Iterable[str]) -> list[tuple[str, set[str], set[str]]]:
    """A labelled text's units with the rules they break and the rules they touch only in part
    (left out of that rule's training: neither clearly a breach nor clearly clean)."""
    text = item["text"]
    wanted = set(rules)
    spans = []
    for e in item["expected"]:
        if e["rule"] in wanted:
            a = text.find(e["quote"])
            spans.append((e["rule"], a, a + len(e["quote"])))
    out = []
    for s in sentences(text):
        for w in windows(text, s):
            pos: set[str] = set()
            part: set[str] = set()
            for rule, a, b in spans:
                overlap = min(b, w.end) - max(a, w.start)
                if overlap >= 0.5 * min(b - a, w.end - w.start):
                    pos.add(rule)
                elif overlap > 0:
                    part.add(rule)
            out.append((w.text, pos, part - pos))
    return out


def train(items: list[dict[str, Any]], rules: list[str], embed: Callable[[list[str]], list[list[float]]],
          embedder: str, c: float = 16.0, emb_weight: float = 1.0, sources: list[str] | None = None,
          patterns: dict[str, list[str]] | None = None) -> Model:
    """``patterns``: each rule's patterns now; the model vetoes findings of these only (a pattern
    written later is trusted until the model is trained again)."""
    try:
        from scipy.sparse import csr_matrix, hstack
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
    except ImportError as exc:  # pragma: no cover - scikit-learn is a dependency
        raise InputError(f"training the compliance model needs scikit-learn ({exc})") from None
    rows = [u for item in items for u in units(item, rules)]
    trained = [r for r in rules if sum(r in pos for _, pos, _ in rows) >= 5]
    if not trained:
        raise InputError("no rule has five labelled quotes: nothing to train")
    texts = [t for t, _, _ in rows]
    distinct = list(dict.fromkeys(texts))
    raw = np.asarray(embed(distinct), dtype=np.float32)
    at = {t: i for i, t in enumerate(distinct)}
    e = raw[[at[t] for t in texts]]
    mean = e.mean(axis=0)
    e = e - mean
    e /= np.linalg.norm(e, axis=1, keepdims=True) + 1e-9
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
    grams = vectorizer.fit_transform(texts)
    x = hstack([csr_matrix(e * emb_weight), grams]).tocsr()
    dim = e.shape[1]
    emb_coef = np.zeros((len(trained), dim), dtype=np.float32)
    gram_coef = np.zeros((len(trained), grams.shape[1]), dtype=np.float32)
    intercept = np.zeros(len(trained), dtype=np.float32)
    counts = {}
    for i, rule in enumerate(trained):
        keep = np.array([rule not in part for _, _, part in rows])
        y = np.array([rule in pos for _, pos, _ in rows])
        fit = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(x[keep], y[keep])
        emb_coef[i] = fit.coef_[0, :dim]
        gram_coef[i] = fit.coef_[0, dim:]
        intercept[i] = fit.intercept_[0]
        counts[rule] = int(y.sum())
    vocab = {str(g): int(n) for g, n in vectorizer.vocabulary_.items()}
    meta: dict[str, Any] = {"embedder": embedder, "texts": len(items), "units": len(rows), "positives": counts, "c": c,
                            "sources": sources or []}
    if patterns is not None:
        meta["patterns"] = {r: patterns.get(r, []) for r in trained}
    return Model(tuple(trained), mean.astype(np.float32), emb_coef, vocab, vectorizer.idf_.astype(np.float32),
                 gram_coef, intercept, emb_weight, ADD, VETO, meta)


def save(model: Model, path: Path) -> str:
    """Write atomically (a check sees the old model or the new one); returns the file's sha256."""
    data = model.to_bytes()
    replace_atomically(path, data)
    return hashlib.sha256(data).hexdigest()
