"""The graph package's contract: an executor runs parameterised Cypher and returns plain records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from graph.dialect import Dialect


class GraphExecutor(Protocol):
    """Runs one Cypher statement. Records are dicts of plain values (no driver node objects)."""

    dialect: Dialect

    def run(self, query: str, params: Mapping[str, Any] | None = None, *, write: bool = False) -> list[dict[str, Any]]:
        ...

    def close(self) -> None:
        ...
