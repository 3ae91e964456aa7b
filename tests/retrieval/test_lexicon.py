"""The synonym dictionary: file format, errors naming the line, leftmost-longest matching, rewriting."""

from __future__ import annotations

from pathlib import Path

import pytest

from brokerkg.errors import ConfigError
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
