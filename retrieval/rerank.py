"""Reranking the fused candidates: scoring only (the query comes from analysis.py, the candidates from search.py).

Deterministic features, each explainable (they are kept on the evidence as ``features``):

- ``fused``: the hybrid (dense + BM25, RRF) rank, normalised;
- ``coverage``: how much of the question's content (IDF-weighted concepts, synonyms count)
  the passage contains, title and heading included;
- ``heading``: the same, on the section heading alone (等待期 asked → section 2.2 等待期);
- ``product``: the passage belongs to a product the question names (+), or to another product (−);
- ``doc_type``: the question asks for cases / clauses / regulations and the passage is one;
- ``law``: the passage belongs to a regulation the question names;
- ``case_section``: the question asks for a case's outcome / reasoning and this is that section;
- ``unit``: the question asks a quantity (多少天) and the passage states one in that unit;
- ``article``: the passage is the article the question cites by number.

An optional cross-encoder (sentence-transformers, ``BROKERKG_RERANKER_MODEL``) rescores the
top candidates and is blended with the deterministic score.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import threading
from typing import Any

from domain.refs import PREAMBLE
from retrieval.analysis import Query
from retrieval.types import Evidence

logger = logging.getLogger(__name__)

_INTERPRETATION = re.compile(r"^最高人民法院")

WEIGHTS = {
    "fused": 0.45,
    "coverage": 0.40,
    "heading": 0.15,
    "product": 0.25,
    "sibling": -0.20,
    "doc_type": 0.20,
    "law": 0.10,
    "case_section": 0.25,
    "generic": 0.12,
    "unit": 0.06,
    "definition": 0.25,
    "glossary": 0.08,
    "preamble": 0.10,
    "article": 1.0,
}
# A wording's definitions part (释义): the source when a term's meaning is asked, otherwise the
# clause that uses the term (保险责任, 保险金申请) answers, not the definition.
_STANDARD = re.compile(r"(?:使用规范|示范条款|指引|行业标准)(?:（[^）]*）)?$")
_GLOSSARY = re.compile(r"释义|名词解释|术语|定义")


def haystack(ev: Evidence) -> str:
    return f"{ev.payload.get('title', '')} {ev.payload.get('heading', '')} {ev.plain}"


def leaf_heading(ev: Evidence) -> str:
    """The section's heading and its own title as printed after its number (1.4 犹豫期 …): what the
    section is about, as opposed to what it mentions (7.1 您解除合同的手续 mentions 犹豫期)."""
    heading = str(ev.payload.get("heading") or "")
    leaf = heading.split(" > ")[-1]
    return f"{leaf} {_own_title(ev)} {ev.locator}"


_TITLE = re.compile(r"[^\s。，；：:,（(]{1,20}")


def _own_title(ev: Evidence) -> str:
    text = ev.text.lstrip()
    if not ev.locator or not text.startswith(ev.locator):
        return ""
    m = _TITLE.match(text[len(ev.locator):].lstrip())
    return m.group(0) if m else ""


def _defines(text: str, query: Query) -> bool:
    """Does the passage define one of the question's terms (保险经纪人是…, 本法所称X，是指…)?"""
    head = text[:200]
    for concept in query.concepts:
        for alt in concept.alternatives:
            if len(alt) >= 2 and alt not in ("定义", "是指") and alt in head and _definition(alt).search(head):
                return True
    return False


@functools.lru_cache(maxsize=4096)
def _definition(term: str) -> re.Pattern[str]:
    return re.compile(rf"(?:^\s*(?:第[零〇一二三四五六七八九十百千\d]+条)?|[。\n]|所称)\s*{re.escape(term)}[^。，；]{{0,4}}[，,]?\s*是")


def rank_key(ev: Evidence) -> tuple[float, int, str]:
    """Best score first; a tie goes to the earlier passage (general provisions precede specific ones),
    then to the chunk id, so that the same question always gets the same order."""
    return (-round(ev.score, 9), int(ev.payload.get("position") or 0), ev.chunk_id)


class Reranker:
    """The deterministic reranker; ``cross_encoder`` (optional) is blended into its top candidates."""

    def __init__(self, cross_encoder: CrossEncoderReranker | None = None, blend_top: int = 20) -> None:
        self.cross_encoder = cross_encoder
        self.blend_top = blend_top

    def rerank(self, query: Query, pool: list[Evidence]) -> list[Evidence]:
        products = set(query.linked.product_ids)
        laws = set(query.linked.law_doc_ids)
        intent = query.intent
        for ev in pool:
            f: dict[str, float] = {"fused": ev.fused}
            f["coverage"] = query.coverage(haystack(ev))
            # A clause's or case's section title says what the section is about; a law's chapter title is too broad.
            f["heading"] = query.coverage(leaf_heading(ev)) if query.concepts and ev.doc_type != "regulation" else 0.0
            if products and ev.product_id:
                f["product" if ev.product_id in products else "sibling"] = 1.0
            if intent.doc_type and ev.doc_type == intent.doc_type:
                f["doc_type"] = 1.0
                if intent.statute and _INTERPRETATION.match(str(ev.payload.get("title", ""))):
                    f["doc_type"] = 0.5  # 法律 asked: the statute before the court's interpretation
            elif not intent.doc_types and not products and ev.doc_type != "case":
                # A generic question: the law outranks one insurer's wording of it.
                # …and a statute outranks the court's interpretation of it, unless the question names the latter.
                if ev.doc_type != "regulation":
                    f["generic"] = -0.7
                else:
                    title = str(ev.payload.get("title", ""))
                    # a law before the court's interpretation of it, and both before an industry
                    # standard (疾病定义使用规范), which governs one line of products' wordings
                    standing = 0.75 if _INTERPRETATION.match(title) else 0.5 if _STANDARD.search(title) else 1.0
                    f["generic"] = standing if not laws else 1.0
            if laws and ev.doc_id in laws:
                f["law"] = 1.0
            if (
                ev.doc_type == "case"
                and intent.case_sections
                and intent.doc_type in (None, "case")
                and ev.locator in intent.case_sections
            ):
                f["case_section"] = 1.0
            if intent.unit is not None and intent.unit.search(ev.plain):
                f["unit"] = 1.0
            if intent.definition and _defines(ev.plain, query):
                f["definition"] = 1.0
            elif not intent.definition and ev.doc_type == "clause" and _GLOSSARY.search(str(ev.payload.get("heading") or "")):
                f["glossary"] = -1.0
            if ev.doc_type == "clause" and ev.locator == PREAMBLE:
                f["preamble"] = -1.0  # a wording's opening lines (简称, 您/我们) name the product, they answer little
            if "article" in ev.reasons:
                f["article"] = 1.0
            ev.features = f
            ev.score += sum(WEIGHTS[k] * v for k, v in f.items())
        pool.sort(key=rank_key)
        if self.cross_encoder is not None and pool:
            self.cross_encoder.blend(query.text, pool[: self.blend_top])
            pool.sort(key=rank_key)
        return pool


class CrossEncoderReranker:
    """A sentence-transformers ``CrossEncoder`` (e.g. a bge-reranker directory), loaded on first use."""

    def __init__(self, model: str, weight: float = 0.5, device: str | None = None) -> None:
        self.model_name = model
        self.weight = weight
        self.device = device
        self._model: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        with self._lock:
            if self._model is None:
                try:
                    from sentence_transformers import CrossEncoder
                except ImportError as exc:  # the optional extra is not installed
                    from domain.errors import ConfigError

                    raise ConfigError(
                        "BROKERKG_RERANKER_MODEL is set but sentence-transformers is not installed "
                        "(install torch for your hardware first, e.g. pip install torch==2.13.0, then pip install -e '.[st]')"
                    ) from exc
                self._model = CrossEncoder(self.model_name, device=self.device, local_files_only=True)
            return self._model

    def blend(self, question: str, candidates: list[Evidence]) -> None:
        scores = self._get().predict([(question, ev.text) for ev in candidates])
        for ev, raw in zip(candidates, scores, strict=True):
            prob = 1.0 / (1.0 + math.exp(-float(raw)))
            ev.features["cross_encoder"] = prob
            ev.score = (1 - self.weight) * ev.score + self.weight * prob * 2.0
