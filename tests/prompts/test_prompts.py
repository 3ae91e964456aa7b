"""Prompt templates: shipped ones load; a broken one stops start-up with the file and the problem named."""

from __future__ import annotations

from pathlib import Path

import pytest

import prompts
from domain.errors import ConfigError


def test_shipped_templates_cover_every_audience() -> None:
    loaded = prompts.load()
    assert {("answer", a) for a in prompts.AUDIENCES} <= set(loaded)
    system, user = loaded[("answer", "broker")].render(question="问{题}", sources="<source n=\"1\">x</source>", today="2026-11-24")
    assert "2026-11-24" in system and "问{题}" in user  # values are inserted once, never formatted again


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("# system\nx\n# user\n{question}", "front matter"),
        ("---\ntask: answer\naudience: broker\nplaceholders: [question]\n---\n# system\nx\n", "'# system' and a '# user'"),
        ("---\ntask: answer\naudience: robot\nplaceholders: [question]\n---\n# system\nx\n# user\n{question}", "audience 'robot'"),
        ("---\ntask: answer\naudience: broker\nplaceholders: [question]\n---\n# system\n{today}\n# user\n{question}", "undeclared"),
        ("---\ntask: answer\naudience: broker\nplaceholders: [question, sources]\n---\n# system\nx\n# user\n{question}", "unused"),
    ],
)
def test_a_broken_template_is_named(tmp_path: Path, text: str, problem: str) -> None:
    for audience in prompts.AUDIENCES:  # otherwise valid set …
        (tmp_path / f"{audience}.md").write_text(
            f"---\ntask: answer\naudience: {audience}\nplaceholders: [question]\n---\n# system\nx\n# user\n{{question}}\n",
            encoding="utf-8",
        )
    (tmp_path / "broker.md").write_text(text, encoding="utf-8")  # … with one broken file
    with pytest.raises(ConfigError, match="broker.md") as err:
        prompts.load(tmp_path)
    assert problem in str(err.value)
