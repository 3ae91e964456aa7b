from __future__ import annotations

from domain.refs import find_references, law_key


def test_law_keys_unify_the_names_people_use() -> None:
    assert law_key("中华人民共和国保险法") == law_key("《保险法》") == "保险法"
    full = "最高人民法院关于适用《中华人民共和国保险法》若干问题的解释（二）"
    assert law_key(full) == law_key("保险法司法解释（二）") == law_key("保险法解释二") == "保险法解释（二）"


def test_references_in_running_text() -> None:
    text = "依据《中华人民共和国保险法》第十六条、第二十三条，保险人履行了保险法第十七条规定的提示义务；依照民法典第1165条。"
    refs = {(r.law_key, r.article) for r in find_references(text, "法院认为")}
    assert refs == {("保险法", "第十六条"), ("保险法", "第二十三条"), ("保险法", "第十七条"), ("民法典", "第一千一百六十五条")}


def test_self_references_resolve_to_the_citing_law() -> None:
    refs = find_references("违反本法第十六条规定的", "第二十条", self_key="保险法")
    assert [(r.law_key, r.article) for r in refs] == [("保险法", "第十六条")]
    assert find_references("被保险人在第三条约定期间", "1.1") == []
