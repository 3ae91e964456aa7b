"""Linked data: export → SHACL-valid → import into an empty graph → export again: same counts
and the same triples; the SPARQL examples in docs/rdf.md run on the export."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rdflib import RDF, Graph, Literal
from rdflib.compare import to_isomorphic

from graph import rdf
from graph.falkor import EmbeddedFalkorDB, FalkorExecutor
from graph.rdf import BKG
from graph.store import GraphStore
from tests.conftest import ROOT, run_cli


@pytest.fixture(scope="module")
def exported(demo_stack: Any) -> Graph:
    return rdf.export_graph(demo_stack.graph)


@pytest.fixture()
def empty_graph(tmp_path: Path) -> Iterator[GraphStore]:
    server = EmbeddedFalkorDB(tmp_path / "graph", 20)
    server.start()
    store = GraphStore(FalkorExecutor("127.0.0.1", server.port, server.password, "imported", server=server))
    store.ensure_schema()
    try:
        yield store
    finally:
        store.close()
        server.stop()


def test_export_counts_equal_the_graph_and_conform_to_the_shapes(exported: Graph, demo_stack: Any, regulations_dir: Path) -> None:
    graph_counts = demo_stack.graph.counts()
    c = rdf.counts(exported)
    for label in ("Insurer", "Product", "Document", "Article", "Clause"):
        assert c[label] == graph_counts[label], label
    assert (c["Document:regulation"], c["Document:clause"], c["Document:case"]) == (
        graph_counts["Regulation"], graph_counts["Wording"], graph_counts["Case"])
    for rel in ("ISSUES", "REPLACED_BY", "HAS_DOCUMENT", "HAS_ARTICLE", "HAS_CLAUSE", "CITES", "CONCERNS"):
        assert c[rel] == graph_counts[rel], rel
    regulations = len(list(regulations_dir.glob("*.md")))  # every law file of the shared corpus, none lost
    assert c["Product"] == 9 and c["Document:regulation"] == regulations >= 20
    conforms, report = rdf.validate(exported)
    assert conforms, report


def test_shapes_catch_broken_exports(exported: Graph) -> None:
    broken = Graph()
    for triple in exported:
        broken.add(triple)
    old = rdf.iri("Product", "RH-CI-2019")
    broken.remove((old, BKG.discontinuedDate, None))           # off sale without a date
    broken.set((rdf.iri("Product", "AK-CI-2021"), BKG.status, Literal("withdrawn")))  # unknown status
    clause = next(broken.subjects(RDF.type, BKG.Clause))
    broken.remove((None, BKG.hasClause, clause))               # a clause of no wording
    conforms, report = rdf.validate(broken)
    assert not conforms
    assert "discontinuedDate" in report and "withdrawn" in report and "policy wording" in report


def test_round_trip_through_an_empty_graph(exported: Graph, empty_graph: GraphStore) -> None:
    text = rdf.serialize(exported, "turtle")
    parsed = Graph().parse(data=text, format="turtle")
    assert rdf.counts(parsed) == rdf.counts(exported)
    read = rdf.import_graph(empty_graph, parsed)
    rdf.import_graph(empty_graph, parsed)  # idempotent
    again = rdf.export_graph(empty_graph)
    assert rdf.counts(again) == read == rdf.counts(exported)
    assert to_isomorphic(again) == to_isomorphic(exported)  # not only the counts: the same triples
    imported_counts = empty_graph.counts()
    assert imported_counts["Product"] == 9 and imported_counts["Wording"] == 9
    # the imported graph serves the product pages' queries
    status = {r["product_id"]: r for r in empty_graph.product_status(["RH-CI-2019"])}
    assert status["RH-CI-2019"]["successor_id"] == "RH-CI-2023"


def test_json_ld_carries_the_same_graph(exported: Graph) -> None:
    data = json.loads(rdf.serialize(exported, "json-ld"))
    assert data["@context"]["bkg"] == str(BKG)
    parsed = Graph().parse(data=json.dumps(data), format="json-ld")
    assert rdf.counts(parsed) == rdf.counts(exported)


def test_the_sparql_examples_in_the_docs_run(exported: Graph) -> None:
    queries = re.findall(r"```sparql\n(.*?)```", (ROOT / "docs" / "rdf.md").read_text(encoding="utf-8"), re.S)
    assert len(queries) == 2
    off_sale = [tuple(str(v) if v is not None else None for v in row) for row in exported.query(queries[0])]
    by_id = {row[0]: row for row in off_sale}
    assert by_id["RH-CI-2019"][2:] == ("discontinued", "2023-06-30", "RH-CI-2023")
    assert by_id["DX-TL-2021"][2] == "suspended" and by_id["DX-TL-2021"][4] is None
    assert all(row[2] != "on_sale" for row in off_sale) and len(off_sale) == 4
    cited = [(str(r[0]), int(r[1])) for r in exported.query(queries[1])]
    assert cited and all(loc.startswith("第") and n >= 1 for loc, n in cited)
    assert "第十六条" in dict(cited)


def test_export_command_filters_by_audience_and_writes_valid_turtle(demo_stack: Any, tmp_path: Path) -> None:
    # the CLI needs the data dir: here a small one of its own
    data = tmp_path / "data"
    from tests.conftest import DEMO

    assert run_cli(["ingest", str(DEMO / "cases"), "--type", "case"], data).returncode == 0
    internal = DEMO / "cases" / "case-01-nondisclosure-kangning2019.md"
    assert run_cli(["ingest", str(internal), "--type", "case", "--audience", "internal"], data).returncode == 0
    out = tmp_path / "public.ttl"
    result = run_cli(["export", "--format", "turtle", "-o", str(out), "--audience", "public"], data)
    assert result.returncode == 0, result.stderr
    assert "SHACL: conforms" in result.stdout
    g = Graph().parse(out, format="turtle")
    assert rdf.counts(g)["Document:case"] == 6  # the internal case is left out
    assert run_cli(["import-rdf", str(out)], tmp_path / "other").returncode == 0
    bad = tmp_path / "bad.ttl"
    bad.write_text("@prefix bkg: <https://brokerkg.org/ontology#> .\n<x> a bkg:Product .\n", encoding="utf-8")
    refused = run_cli(["import-rdf", str(bad)], tmp_path / "other")
    assert refused.returncode == 1 and "does not conform" in refused.stderr
