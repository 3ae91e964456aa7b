"""The graph built from the demo corpus on the bundled FalkorDB server."""

from __future__ import annotations

from typing import Any


def _one(stack: Any, query: str, **params: Any) -> list[dict[str, Any]]:
    return stack.graph.executor.run(query, params)


def test_regulations_have_their_articles_with_chunk_ids(demo_stack: Any) -> None:
    rows = _one(
        demo_stack,
        "MATCH (d:Regulation {law_key: '保险法'})-[:HAS_ARTICLE]->(a:Article) RETURN count(a) AS n, collect(a.key) AS keys",
    )
    assert rows[0]["n"] == 185 and "保险法#第十六条" in rows[0]["keys"]
    article = _one(demo_stack, "MATCH (a:Article {key: '保险法#第十六条'}) RETURN a.chunk_ids AS ids")[0]
    payloads = demo_stack.index.retrieve(article["ids"])
    assert [p.payload["locator"] for p in payloads] == ["第十六条"]


def test_products_insurers_and_succession(demo_stack: Any) -> None:
    rows = _one(
        demo_stack,
        "MATCH (i:Insurer)-[:ISSUES]->(p:Product)-[:REPLACED_BY]->(s:Product) "
        "RETURN i.name AS insurer, p.product_id AS old, s.product_id AS new ORDER BY old",
    )
    assert [(r["old"], r["new"]) for r in rows] == [
        ("AK-MED-2020", "AK-MED-2022"),
        ("HN-ACC-2018", "HN-ACC-2022"),
        ("RH-CI-2019", "RH-CI-2023"),
    ]
    assert rows[2]["insurer"] == "瑞禾人寿保险股份有限公司"


def test_products_have_clauses_that_cite_articles(demo_stack: Any) -> None:
    rows = _one(
        demo_stack,
        "MATCH (p:Product {product_id: 'RH-CI-2023'})-[:HAS_CLAUSE]->(c:Clause) "
        "OPTIONAL MATCH (c)-[:CITES]->(a:Article) RETURN c.locator AS locator, collect(a.key) AS cites",
    )
    cites = {r["locator"]: r["cites"] for r in rows}
    assert {"1.3", "2.2", "2.3"} <= set(cites)
    assert set(cites["8.1"]) == {"保险法#第十六条", "保险法#第十七条"}
    assert cites["8.2"] == ["保险法#第三十二条"]


def test_cases_concern_products_and_cite_articles(demo_stack: Any) -> None:
    rows = _one(
        demo_stack,
        "MATCH (c:Case)-[:CONCERNS]->(p:Product) OPTIONAL MATCH (c)-[:CITES]->(a:Article) "
        "RETURN p.product_id AS product, collect(a.key) AS cites",
    )
    by_product = {r["product"]: set(r["cites"]) for r in rows}
    assert len(by_product) == 7
    assert by_product["RH-CI-2019"] == {"保险法#第十六条"}
    assert by_product["HN-ACC-2018"] == {"保险法解释（二）#第十条", "保险法#第十七条"}
    assert by_product["AK-CI-2021"] == {"保险法解释（三）#第五条", "保险法#第十六条"}
    # citations resolve to the real article of the ingested interpretation
    art = _one(demo_stack, "MATCH (:Regulation)-[:HAS_ARTICLE]->(a:Article {key: '保险法解释（二）#第十条'}) RETURN a.locator AS l")
    assert art == [{"l": "第十条"}]


def test_interpretation_articles_cite_the_law(demo_stack: Any) -> None:
    rows = _one(
        demo_stack,
        "MATCH (a:Article {key: '保险法解释（二）#第五条'})-[:CITES]->(b:Article) RETURN b.key AS key",
    )
    assert {"key": "保险法#第十六条"} in rows


def test_graph_and_vector_index_hold_the_same_chunks(demo_stack: Any) -> None:
    rows = _one(demo_stack, "MATCH (d:Document) RETURN d.chunk_ids AS ids, d.stub AS stub")
    # a stub (a repealed rule known only from its repealer) is in the graph without any text
    assert all(r["ids"] is None for r in rows if r["stub"]) and any(r["stub"] for r in rows)
    graph_ids = {cid for r in rows if not r["stub"] for cid in r["ids"]}
    assert graph_ids == set(demo_stack.index.all_ids())
