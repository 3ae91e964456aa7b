"""The few differences between FalkorDB's and Neo4j's Cypher, kept in one place.

- schema: FalkorDB has no ``CREATE CONSTRAINT … REQUIRE``; uniqueness comes from MERGE on
  indexed keys. Neo4j gets real uniqueness constraints (which also index).
- FalkorDB rejects ``datetime()``: timestamps are passed in as ISO strings from Python.
- FalkorDB's ``collect()`` keeps map projections of unmatched OPTIONAL MATCH nodes as maps of
  nulls, Neo4j drops them: queries collect scalars, and the store drops null entries.
- FalkorDB's full-text index does not segment Chinese: text search is the vector index's job.
"""

from __future__ import annotations

from dataclasses import dataclass

# (label, key property) pairs that identify nodes.
NODE_KEYS: tuple[tuple[str, str], ...] = (
    ("Document", "doc_id"),
    ("Product", "product_id"),
    ("Insurer", "name"),
    ("Article", "key"),
    ("Clause", "key"),
    ("Version", "key"),
    ("Fact", "key"),
)


@dataclass(frozen=True)
class Dialect:
    name: str
    schema: tuple[str, ...]
    benign_schema_errors: tuple[str, ...]

    def is_benign_schema_error(self, message: str) -> bool:
        return any(fragment in message for fragment in self.benign_schema_errors)


FALKORDB = Dialect(
    name="falkordb",
    schema=tuple(f"CREATE INDEX FOR (n:{label}) ON (n.{prop})" for label, prop in NODE_KEYS)
    + ("CREATE INDEX FOR (n:Article) ON (n.law_key)", "CREATE INDEX FOR (n:Fact) ON (n.doc_id)"),
    benign_schema_errors=("already indexed",),
)

NEO4J = Dialect(
    name="neo4j",
    schema=tuple(
        f"CREATE CONSTRAINT {label.lower()}_{prop} IF NOT EXISTS FOR (n:{label}) REQUIRE n.{prop} IS UNIQUE"
        for label, prop in NODE_KEYS
    )
    + (
        "CREATE INDEX article_law_key IF NOT EXISTS FOR (n:Article) ON (n.law_key)",
        "CREATE INDEX product_status IF NOT EXISTS FOR (n:Product) ON (n.status)",
        "CREATE INDEX fact_doc IF NOT EXISTS FOR (n:Fact) ON (n.doc_id)",
        "CREATE INDEX document_source IF NOT EXISTS FOR (n:Document) ON (n.source)",
        # Neo4j's CJK analyzer segments Chinese into bigrams: product names and clause headings
        # become searchable from Cypher (db.index.fulltext.queryNodes) for ad-hoc compliance queries.
        "CREATE FULLTEXT INDEX clause_text IF NOT EXISTS FOR (n:Clause|Article) ON EACH [n.heading, n.text] "
        "OPTIONS {indexConfig: {`fulltext.analyzer`: 'cjk'}}",
        "CREATE FULLTEXT INDEX product_names IF NOT EXISTS FOR (n:Product) ON EACH [n.name] "
        "OPTIONS {indexConfig: {`fulltext.analyzer`: 'cjk'}}",
    ),
    benign_schema_errors=("EquivalentSchemaRuleAlreadyExists", "already exists"),
)
