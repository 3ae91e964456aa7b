"""Spread-out PDF text read as words; the stored text is untouched."""

from __future__ import annotations

import pytest

from domain.text import join_spread


@pytest.mark.parametrize(
    ("raw", "read"),
    [
        ("我 们 对 免 除 本 公 司 责 任 的 条 款", "我们对免除本公司责任的条款"),
        ("有 15 日的犹豫期", "有15日的犹豫期"),
        ("投保年龄范围为出生\n满 28 天至 55 周岁", "投保年龄范围为出生满28天至55周岁"),
        ("第一条 总则。\n第二条 定义", "第一条总则。\n第二条定义"),  # a sentence end keeps its line break
        ("HIV 病毒", "HIV 病毒"),
    ],
)
def test_spread_characters_and_broken_lines_are_joined(raw: str, read: str) -> None:
    assert join_spread(raw) == read
