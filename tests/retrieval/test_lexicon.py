"""The synonym dictionary: file format, errors naming the line, leftmost-longest matching, rewriting."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.errors import ConfigError
from retrieval.lexicon import Lexicon


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.load()


def test_colloquial_words_are_rewritten_to_the_wording_of_documents(lexicon: Lexicon) -> None:
    assert lexicon.canonicalize("交强险条例第二十二条") == "机动车交通事故责任强制保险条例第二十二条"
    assert "酒后驾驶" in lexicon.expansions("酒驾赔不赔")
    assert "效力恢复" in lexicon.expansions("保单怎么复效")
    assert "合同约定以外的利益" in lexicon.expansions("经纪人能返佣吗")


def test_question_forms_and_canonical_words_are_left_alone(lexicon: Lexicon) -> None:
    # 赔不赔 is a question form: 不赔 inside it is not 拒赔
    assert lexicon.expansions("酒驾赔不赔") == ["酒后驾驶", "饮酒后驾驶"]
    # a canonical word is consumed whole: 保险法 inside 中华人民共和国保险法 is not rewritten
    assert lexicon.canonicalize("中华人民共和国保险法第十六条") == "中华人民共和国保险法第十六条"


def test_an_extra_file_extends_the_shipped_dictionary(tmp_path: Path) -> None:
    extra = tmp_path / "mine.txt"
    extra.write_text("# our brokers' slang\n重大疾病保险 = 大病保单\n", encoding="utf-8")
    lexicon = Lexicon.load(extra)
    assert lexicon.canonicalize("大病保单怎么买") == "重大疾病保险怎么买"
    assert "重疾" in lexicon.words()


def test_a_bad_line_is_named(tmp_path: Path) -> None:
    extra = tmp_path / "bad.txt"
    extra.write_text("重大疾病 = 重疾\nthis line has no equals sign\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.txt, line 2"):
        Lexicon.load(extra)
    with pytest.raises(ConfigError, match="cannot read"):
        Lexicon.load(tmp_path / "missing.txt")


def test_a_configured_cross_encoder_is_blended_into_the_top_candidates() -> None:
    """Behind sentence-transformers' CrossEncoder.predict contract: higher model scores move a passage up."""
    from retrieval.intents import understand
    from retrieval.linking import LinkedQuestion
    from retrieval.rerank import CrossEncoderReranker, Query, Reranker
    from retrieval.types import Evidence

    class Model:  # CrossEncoder.predict(pairs) -> one relevance logit per (query, passage) pair
        def predict(self, pairs: list[tuple[str, str]]) -> list[float]:
            return [4.0 if "宽限期" in passage else -4.0 for _, passage in pairs]

    encoder = CrossEncoderReranker("local-model")
    encoder._model = Model()
    pool = [
        Evidence("a", {"doc_id": "d", "doc_type": "clause", "text": "等待期为90日"}, fused=1.0),
        Evidence("b", {"doc_id": "d", "doc_type": "clause", "text": "宽限期为60日"}, fused=0.6),
    ]
    query = Query(text="交费晚了多久内还有保障", linked=LinkedQuestion(), intent=understand("交费晚了多久内还有保障"))
    assert [e.chunk_id for e in Reranker().rerank(query, [Evidence(e.chunk_id, e.payload, fused=e.fused) for e in pool])] == ["a", "b"]
    ranked = Reranker(encoder).rerank(query, pool)
    assert [e.chunk_id for e in ranked] == ["b", "a"] and ranked[0].features["cross_encoder"] > 0.9
