"""Chinese text analysis for BM25: jieba with an insurance dictionary, stop words, hashed term ids.

Documents get BM25 term-frequency weights; the index applies IDF (Qdrant's ``Idf`` modifier),
so the sparse dot product is the BM25 score.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import zlib
from collections import Counter
from importlib import resources

from index.vectors.base import SparseVec

logger = logging.getLogger(__name__)

K1 = 1.2
B = 0.75
AVG_LEN = 110.0  # typical analysed length of a chunk (≤ 480 characters), in terms

STOPWORDS = frozenset(
    """的 了 是 在 和 与 或 及 等 对 也 就 都 而 但 被 把 将 从 以 为 于 其 之 这 那 有 个 吗 呢 吧 啊 呀 么 嘛
    什么 怎么 怎样 怎么样 如何 多久 多少 多长 几 哪些 哪个 哪 是否 能否 可否 可以 能 会 要 需要 请问 一下 请 我 我们 你 您 他 她 它
    还 还是 吗？ 么？ 呢？ 说 讲 规定 问 想 知道 告诉 有没有 是不是 算不算 能不能 会不会 可不可以 赔不赔 保不保 多大
    一个 这个 那个 这些 那些 时候 情况 如果 因为 所以 并且 以及 或者 其他 之后 之前 以上 以下 里 中 内 上 下 后 前""".split()
)
_TOKEN_OK = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _content(tokens: list[str]) -> list[str]:
    """Lower-cased tokens that carry content: no stop words, no punctuation."""
    out = []
    for token in tokens:
        token = token.strip().lower()
        if token and token not in STOPWORDS and _TOKEN_OK.search(token):
            out.append(token)
    return out


def term_id(term: str) -> int:
    return zlib.crc32(term.encode("utf-8")) & 0x7FFFFFFF


class Analyzer:
    """Tokenises Chinese (jieba, search mode) plus an extensible insurance vocabulary."""

    def __init__(self) -> None:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        self._tokenizer = jieba.Tokenizer()
        self._lock = threading.Lock()
        self._extra: set[str] = set()
        terms = resources.files("index").joinpath("data/insurance_terms.txt").read_text(encoding="utf-8")
        self._vocabulary = hashlib.sha256(terms.encode("utf-8"))
        for line in terms.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                word, _, freq = line.partition(" ")
                self._tokenizer.add_word(word, int(freq) if freq.strip().isdigit() else 1000)

    @property
    def vocabulary(self) -> str:
        """Fingerprint of the static vocabulary (dictionary file and ``add_words(..., static=True)``)."""
        return self._vocabulary.hexdigest()[:12]

    def add_words(self, words: list[str], *, static: bool = False) -> None:
        """Teach the tokenizer words that must stay whole: synonyms (static), product names and aliases."""
        if static:
            self._vocabulary.update("\n".join(sorted(words)).encode("utf-8"))
        with self._lock:
            for word in words:
                word = word.strip()
                if len(word) >= 2 and word not in self._extra:
                    self._tokenizer.add_word(word, 3000)
                    self._extra.add(word)

    def terms(self, text: str) -> list[str]:
        """Search-mode terms (words and their dictionary sub-words): what BM25 indexes and queries."""
        with self._lock:
            raw = list(self._tokenizer.cut_for_search(text))
        return [t for t in _content(raw) if len(t) > 1 or _CJK.match(t) is not None or t.isdigit()]

    def words(self, text: str) -> list[str]:
        """Precise-mode words (no overlapping sub-words), filtered like ``terms``: for question analysis."""
        with self._lock:
            raw = list(self._tokenizer.cut(text))
        return _content(raw)

    def document_vector(self, text: str) -> SparseVec:
        counts = Counter(self.terms(text))
        length = sum(counts.values()) or 1
        norm = K1 * (1 - B + B * length / AVG_LEN)
        weights: dict[int, float] = {}
        for term, tf in counts.items():
            tid = term_id(term)
            weights[tid] = weights.get(tid, 0.0) + tf * (K1 + 1) / (tf + norm)
        return SparseVec(list(weights), list(weights.values()))

    def query_vector(self, text: str) -> SparseVec:
        ids = sorted({term_id(t) for t in self.terms(text)})
        return SparseVec(ids, [1.0] * len(ids))
