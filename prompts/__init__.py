"""Prompt templates as files, one per task and audience, loaded and validated at start-up.

A template file is Markdown with a small front matter::

    ---
    task: answer
    audience: broker
    placeholders: [question, sources, today]
    ---
    # system
    …{today}…
    # user
    …{question}…{sources}…

Validation: the front matter names the task, audience and placeholders; both ``# system``
and ``# user`` parts exist; every ``{name}`` used is declared and every declared one is used.
A broken template stops start-up with the file and the problem named.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from domain.errors import ConfigError

AUDIENCES = ("broker", "cs_bot", "compliance")
# Templates of tasks done while ingesting (reading facts) serve no audience.
INGEST = "ingest"
_FRONT = re.compile(r"^---\n(.*?)\n---\n", re.S)
_PART = re.compile(r"^# (system|user)\s*$", re.M)


@dataclass(frozen=True)
class Prompt:
    task: str
    audience: str
    system: str
    user: str
    placeholders: tuple[str, ...]
    source: str

    def render(self, **values: str) -> tuple[str, str]:
        missing = [p for p in self.placeholders if p not in values]
        if missing:
            raise ValueError(f"{self.source}: missing values for {missing}")
        # str.format on the template only; the values (questions, documents) are never formatted again.
        return self.system.format(**values), self.user.format(**values)


def message_text(message: Any) -> str:
    """The text of a chat model's reply (a LangChain message, content blocks or a string)."""
    content = getattr(message, "content", message)
    if isinstance(content, list):  # content blocks
        return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    return str(content or "")


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def parse(text: str, source: str) -> Prompt:
    m = _FRONT.match(text)
    if not m:
        raise ConfigError(f"{source}: missing the '---' front matter (task, audience, placeholders)")
    meta: dict[str, str] = {}
    for line in m.group(1).splitlines():
        key, _, value = line.partition(":")
        meta[key.strip()] = value.strip()
    for key in ("task", "audience", "placeholders"):
        if not meta.get(key):
            raise ConfigError(f"{source}: front matter lacks '{key}'")
    if meta["audience"] not in (*AUDIENCES, INGEST):
        raise ConfigError(f"{source}: audience '{meta['audience']}' is not one of {', '.join((*AUDIENCES, INGEST))}")
    declared = tuple(p.strip() for p in meta["placeholders"].strip("[]").split(",") if p.strip())
    body = text[m.end() :]
    parts = _PART.split(body)
    sections = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}
    if set(sections) != {"system", "user"}:
        raise ConfigError(f"{source}: needs a '# system' and a '# user' part")
    try:
        used = _fields(sections["system"]) | _fields(sections["user"])
    except ValueError as exc:
        raise ConfigError(f"{source}: bad placeholder syntax: {exc}") from exc
    if used - set(declared):
        raise ConfigError(f"{source}: undeclared placeholders {sorted(used - set(declared))}")
    if set(declared) - used:
        raise ConfigError(f"{source}: declared but unused placeholders {sorted(set(declared) - used)}")
    return Prompt(meta["task"], meta["audience"], sections["system"], sections["user"], declared, source)


def load(directory: Path | None = None) -> dict[tuple[str, str], Prompt]:
    """All templates, keyed by (task, audience); every audience must have an ``answer`` template."""
    files = (
        sorted(directory.glob("*.md"))
        if directory is not None
        else [f for f in resources.files("prompts").iterdir() if f.name.endswith(".md")]
    )
    prompts: dict[tuple[str, str], Prompt] = {}
    for f in files:
        prompt = parse(f.read_text(encoding="utf-8"), f"prompts/{f.name}")
        key = (prompt.task, prompt.audience)
        if key in prompts:
            raise ConfigError(f"{prompt.source}: a second template for {key}")
        prompts[key] = prompt
    missing = [a for a in AUDIENCES if ("answer", a) not in prompts]
    if missing:
        raise ConfigError(f"prompts: no 'answer' template for {', '.join(missing)}")
    return prompts
