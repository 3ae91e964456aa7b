"""Generated answers through any LangChain chat model, with every sentence checked against its sources.

The model sees the evidence as numbered, delimited sources (``<source n=…>``) under a system
prompt that treats their content as data. What it writes is then verified sentence by
sentence:

- every ``[n]`` must name a source that exists (an invented ``[9]`` is dropped; a sentence
  left with no valid marker is removed);
- every number in the sentence (90日, 六十日, 80%, 1,268元) must occur in a cited source;
- most of the sentence's content words must occur in its cited sources;
- a substantive sentence with no marker at all is removed.

If too little survives, the caller falls back to the extractive answer. Flags never come
from the model: they are read from the graph and prepended by the caller.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from domain.errors import ConfigError, DependencyError
from domain.numerals import cn_to_int
from index.analyzer import STOPWORDS, Analyzer
from prompts import Prompt, message_text
from retrieval.types import Evidence

logger = logging.getLogger(__name__)

_MARKER = re.compile(r"\[(\d{1,3})\]")
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;])|\n")
_ARABIC = re.compile(r"\d+(?:[,，]\d{3})*(?:\.\d+)?")
_CN_QUANTITY = re.compile(r"([零〇一二三四五六七八九十百千万两]+)(?=\s*(?:个月|周岁|日|天|年|月|岁|元|万元|次|种|倍|条|款|项|%|％))")
_NO_ANSWER = "未找到依据"
MIN_SUPPORT = 0.5  # share of a sentence's content words found in its cited sources
MIN_KEPT_SHARE = 0.35  # below this share of the generated text, fall back to the extractive answer


@dataclass
class Verified:
    text: str
    kept: list[str] = field(default_factory=list)
    removed: list[tuple[str, str]] = field(default_factory=list)  # (sentence, why)
    fallback: bool = False


def _numbers(text: str) -> set[float]:
    values: set[float] = set()
    for m in _ARABIC.finditer(text):
        try:
            values.add(float(re.sub(r"[,，]", "", m.group(0))))
        except ValueError:
            continue
    for m in _CN_QUANTITY.finditer(text):
        value = cn_to_int(m.group(1).replace("两", "二"))
        if value is not None:
            values.add(float(value))
    return values


def format_sources(evidence: list[Evidence]) -> str:
    """Numbered, delimited sources. Angle brackets inside a passage cannot close or open a tag."""
    blocks = []
    for i, ev in enumerate(evidence, 1):
        title = str(ev.payload.get("title") or "").replace('"', "'")
        text = ev.text.replace("<", "＜").replace(">", "＞")
        blocks.append(f'<source n="{i}" title="{title}" locator="{ev.locator}" type="{ev.doc_type}">\n{text}\n</source>')
    return "\n".join(blocks)


class Verifier:
    def __init__(self, analyzer: Analyzer) -> None:
        self.analyzer = analyzer

    def _content(self, sentence: str) -> list[str]:
        words = self.analyzer.words(_MARKER.sub("", sentence))
        return [w for w in words if len(w) >= 2 and w not in STOPWORDS]

    def check(self, sentence: str, evidence: list[Evidence]) -> tuple[str | None, str]:
        """(the sentence to keep, possibly with invalid markers stripped, or None; the reason)."""
        stripped = sentence.strip()
        if not stripped:
            return None, "empty"
        if _NO_ANSWER in stripped:
            return None, "model found no answer"
        markers = [int(n) for n in _MARKER.findall(stripped)]
        valid = [n for n in markers if 1 <= n <= len(evidence)]
        content = self._content(stripped)
        if not markers:
            return (stripped, "connective") if len(content) < 2 and not _numbers(stripped) else (None, "no citation")
        if not valid:
            return None, f"cites {', '.join(f'[{n}]' for n in markers)}, which do not exist"
        if len(valid) < len(markers):
            stripped = _MARKER.sub(lambda m: m.group(0) if 1 <= int(m.group(1)) <= len(evidence) else "", stripped)
        cited = "\n".join(
            f"{evidence[n - 1].payload.get('title', '')} {evidence[n - 1].locator} {evidence[n - 1].text}" for n in set(valid)
        )
        missing_numbers = _numbers(_MARKER.sub("", stripped)) - _numbers(cited)
        if missing_numbers:
            shown = ", ".join(f"{v:g}" for v in sorted(missing_numbers))
            return None, f"number {shown} is not in the cited source"
        if content:
            support = sum(1 for w in content if w in cited) / len(content)
            if support < MIN_SUPPORT:
                return None, f"only {support:.0%} of its words are in the cited source"
        return stripped, "supported"

    def verify(self, text: str, evidence: list[Evidence]) -> Verified:
        out = Verified(text="")
        for sentence in _SENTENCE_END.split(text):
            if not sentence.strip():
                continue
            kept, why = self.check(sentence, evidence)
            if kept is None:
                out.removed.append((sentence.strip(), why))
            else:
                out.kept.append(kept)
        substantive = [s for s in out.kept if _MARKER.search(s)]
        kept_chars = sum(len(s) for s in out.kept)
        total_chars = sum(len(s.strip()) for s in _SENTENCE_END.split(text) if s.strip()) or 1
        out.fallback = not substantive or kept_chars < MIN_KEPT_SHARE * total_chars
        out.text = "".join(_join(out.kept)).strip()
        for sentence, why in out.removed:
            logger.info("generated sentence removed (%s): %d chars", why, len(sentence))
        return out


def _join(sentences: list[str]) -> list[str]:
    """Sentences back into text: a sentence ending a paragraph-like unit keeps its own line."""
    return [s + ("" if s.endswith(("。", "！", "？", "；", "!", "?", ";")) else "\n") for s in sentences]


class Generator:
    """A LangChain chat model answering from numbered sources, then verified."""

    def __init__(self, model: Any, prompts: dict[tuple[str, str], Prompt], analyzer: Analyzer, name: str = "") -> None:
        self.model = model
        self.prompts = prompts
        self.verifier = Verifier(analyzer)
        self.name = name or type(model).__name__

    def messages(self, question: str, evidence: list[Evidence], audience: str) -> list[Any]:
        from langchain_core.messages import HumanMessage, SystemMessage

        prompt = self.prompts.get(("answer", audience)) or self.prompts[("answer", "broker")]
        system, user = prompt.render(question=question, sources=format_sources(evidence), today=date.today().isoformat())
        return [SystemMessage(content=system), HumanMessage(content=user)]

    def generate(self, question: str, evidence: list[Evidence], audience: str = "broker") -> Verified:
        try:
            reply = self.model.invoke(self.messages(question, evidence, audience))
        except Exception as exc:  # any provider error: the extractive answer is the safety net
            logger.warning("chat model %s failed (%s); extractive answer used", self.name, type(exc).__name__)
            return Verified(text="", fallback=True, removed=[("", f"model error: {type(exc).__name__}")])
        return self.verifier.verify(message_text(reply), evidence)

    def stream(self, question: str, evidence: list[Evidence], audience: str = "broker") -> Iterator[tuple[str, Verified]]:
        """Yield verified sentences as the model writes them: (sentence or '', running result)."""
        result = Verified(text="")
        buffer = ""
        raw = ""
        try:
            for chunk in self.model.stream(self.messages(question, evidence, audience)):
                piece = message_text(chunk)
                buffer += piece
                raw += piece
                parts = _SENTENCE_END.split(buffer)
                buffer = parts.pop()  # the unfinished tail
                for sentence in parts:
                    kept = self._take(sentence, evidence, result)
                    if kept:
                        yield kept, result
        except Exception as exc:
            logger.warning("chat model %s failed while streaming (%s)", self.name, type(exc).__name__)
            result.fallback = True
            result.removed.append(("", f"model error: {type(exc).__name__}"))
            yield "", result
            return
        kept = self._take(buffer, evidence, result)
        if kept:
            yield kept, result
        final = self.verifier.verify(raw, evidence)
        result.fallback = final.fallback
        result.text = final.text
        yield "", result

    def _take(self, sentence: str, evidence: list[Evidence], result: Verified) -> str | None:
        if not sentence.strip():
            return None
        kept, why = self.verifier.check(sentence, evidence)
        if kept is None:
            result.removed.append((sentence.strip(), why))
            return None
        result.kept.append(kept)
        return _join([kept])[0]


def chat_model(provider: str, *, base_url: str, model: str, api_key: str, temperature: float, timeout_s: float) -> Any:
    """The configured LangChain chat model, or None (extractive answers)."""
    provider = provider.strip().lower()
    if not provider:
        return None
    if not model:
        raise ConfigError("BROKERKG_LLM_MODEL is required when BROKERKG_LLM_PROVIDER is set")
    try:
        if provider == "openai":
            from langchain_openai import ChatOpenAI
            from pydantic import SecretStr

            return ChatOpenAI(
                model=model,
                base_url=base_url or None,
                api_key=SecretStr(api_key or "not-needed"),  # local servers (vLLM, Ollama's OpenAI API) ignore it
                temperature=temperature,
                timeout=timeout_s,
                max_retries=1,
            )
        if provider == "ollama":
            from langchain_ollama import ChatOllama

            return ChatOllama(model=model, base_url=base_url or None, temperature=temperature, client_kwargs={"timeout": timeout_s})
    except ImportError as exc:
        raise DependencyError(f"the LangChain integration for {provider} is not installed: {exc}") from exc
    raise ConfigError(f"BROKERKG_LLM_PROVIDER must be empty, 'openai' or 'ollama', not {provider!r}")
