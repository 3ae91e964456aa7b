"""The graph package's contract: an executor runs parameterised Cypher and returns plain records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from graph.dialect import Dialect


class GraphExecutor(Protocol):
    """Runs one Cypher statement. Records are dicts of plain values (no driver node objects)."""

    dialect: Dialect

    def run(self, query: str, params: Mapping[str, Any] | None = None, *, write: bool = False) -> list[dict[str, Any]]:
        ...

    def run_batch(
        self, statements: Sequence[tuple[str, Mapping[str, Any] | None]], *, write: bool = True
    ) -> list[list[dict[str, Any]]]:
        """Several statements as one unit: one transaction on Neo4j; in order on FalkorDB, which has
        no multi-statement transactions (there the document's content hash, written last, marks a
        complete write)."""
        ...

    def close(self) -> None:
        ...
