"""Every Cypher statement BrokerKG sends, checked by Neo4j's own Cypher 5 parser and linter
(@neo4j-cypher/language-support, the engine behind Neo4j's editors; tests/graph/cypher5/).

No Neo4j server runs here: this keeps the Neo4j side of "one query module, two executors"
honest at the syntax level, while test_neo4j_executor.py runs the same statements through
the Neo4j executor on the bundled graph.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from graph import queries as q
from graph.dialect import NEO4J

CHECKER = Path(__file__).parent / "cypher5"


def all_statements() -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in vars(q).items():
        if name.startswith("_"):
            continue
        if isinstance(value, str) and value.strip() and name.isupper():
            out[name] = value
        elif isinstance(value, dict) and name.isupper():
            for key, statement in value.items():
                if isinstance(statement, str):
                    out[f"{name}[{key}]"] = statement
    for i, statement in enumerate(NEO4J.schema):
        out[f"NEO4J.schema[{i}]"] = statement
    out["GraphStore.ping"] = "RETURN 1 AS ok"
    return out


def _lint(statements: dict[str, str]) -> dict[str, list[str]]:
    node = shutil.which("node")
    assert node, "node is needed for the Cypher 5 check"
    assert (CHECKER / "node_modules" / "@neo4j-cypher" / "language-support").is_dir(), (
        "run `npm ci --prefix tests/graph/cypher5` (make install does)"
    )
    result = subprocess.run([node, "check.mjs"], input=json.dumps(statements), capture_output=True, text=True,
                            cwd=CHECKER, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_every_query_is_valid_neo4j_5_cypher() -> None:
    statements = all_statements()
    assert len(statements) > 60  # the queries module, the generated RDF queries and the Neo4j schema
    errors = {name: found for name, found in _lint(statements).items() if found}
    assert not errors, errors


def test_the_checker_rejects_what_neo4j_rejects() -> None:
    found = _lint({
        "typo": "MATCH (n) RETRN n",
        "skip_after_limit": "MATCH (n) RETURN n LIMIT 1 SKIP 2",
        "falkordb_index_without_name_ok": "CREATE INDEX FOR (n:Product) ON (n.product_id)",
    })
    assert found["typo"] and found["skip_after_limit"]
    assert found["falkordb_index_without_name_ok"] == []  # also valid Neo4j syntax


@pytest.mark.parametrize("name", ["UPSERT_PRODUCTS", "EXPORT_RELATIONS[('HAS_CLAUSE', 'Product', 'Clause')]"])
def test_statement_names_cover_generated_queries(name: str) -> None:
    assert name in all_statements()
