"""Everything that speaks Cypher: one query module, one store, two executors (FalkorDB, Neo4j)."""
