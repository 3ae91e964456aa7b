"""Linked data: the graph as RDF (Turtle, JSON-LD) under the BrokerKG ontology, SHACL-checked.

``export_graph`` reads the property graph through the GraphStore's executor (either
engine) and builds an rdflib Graph; ``validate`` runs the SHACL shapes; ``import_graph``
writes an export back into a graph (a partner's export, or a restore), so that
export → import → export is a round trip with equal counts.

Internal bookkeeping (content hashes, chunk ids, ingest state, version history, status
logs) is not exported; the texts are exported as ingested, i.e. with personal data masked.
"""

from __future__ import annotations

from collections import Counter
from importlib import resources
from typing import Any
from urllib.parse import quote, unquote

from rdflib import RDF, XSD, Graph, Literal, Namespace, URIRef
from rdflib.term import Node

from domain.errors import InputError
from graph import queries as q

BKG = Namespace("https://brokerkg.org/ontology#")
ID = "https://brokerkg.org/id/"

# label → (kind in IRIs, key property, RDF class)
NODES = {
    "Insurer": ("insurer", "name", BKG.Insurer),
    "Product": ("product", "product_id", BKG.Product),
    "Document": ("document", "doc_id", BKG.Document),
    "Article": ("article", "key", BKG.Article),
    "Clause": ("clause", "key", BKG.Clause),
}
DOC_CLASSES = {"regulation": BKG.Regulation, "clause": BKG.Wording, "case": BKG.Case}
PREDICATES = {
    "ISSUES": BKG.issues, "REPLACED_BY": BKG.replacedBy, "HAS_DOCUMENT": BKG.hasDocument,
    "HAS_ARTICLE": BKG.hasArticle, "HAS_CLAUSE": BKG.hasClause, "CITES": BKG.cites, "CONCERNS": BKG.concerns,
}
# property → (RDF predicate, datatype); lists become repeated values
ATTRIBUTES: dict[str, dict[str, tuple[URIRef, URIRef | None]]] = {
    "Insurer": {"name": (BKG.name, None)},
    "Product": {
        "product_id": (BKG.productId, None), "name": (BKG.name, None), "category": (BKG.category, None),
        "status": (BKG.status, None), "effective_date": (BKG.effectiveDate, XSD.date),
        "discontinued_date": (BKG.discontinuedDate, XSD.date), "aliases": (BKG.alias, None),
    },
    "Document": {
        "doc_id": (BKG.docId, None), "title": (BKG.title, None), "audience": (BKG.audience, None),
        "version": (BKG.version, None), "law_key": (BKG.lawKey, None), "aliases": (BKG.alias, None),
    },
    "Article": {
        "key": (BKG.key, None), "locator": (BKG.locator, None), "law_key": (BKG.lawKey, None),
        "heading": (BKG.heading, None), "text": (BKG.text, None),
    },
    "Clause": {
        "key": (BKG.key, None), "locator": (BKG.locator, None), "heading": (BKG.heading, None), "text": (BKG.text, None),
        "audience": (BKG.audience, None),
    },
}
FORMATS = {"turtle": "turtle", "json-ld": "json-ld", "nt": "nt"}


def iri(label: str, key: str) -> URIRef:
    kind = NODES[label][0]
    return URIRef(f"{ID}{kind}/{quote(str(key), safe='')}")


def _key_of(node: Node) -> str:
    return unquote(str(node).rsplit("/", 1)[1])


def ontology() -> Graph:
    return Graph().parse(data=resources.files("graph.rdf").joinpath("ontology.ttl").read_text("utf-8"), format="turtle")


def shapes() -> Graph:
    return Graph().parse(data=resources.files("graph.rdf").joinpath("shapes.ttl").read_text("utf-8"), format="turtle")


def _bind(g: Graph) -> Graph:
    g.bind("bkg", BKG)
    g.bind("xsd", XSD)
    return g


def export_graph(store: Any, audiences: tuple[str, ...] = ()) -> Graph:
    """The graph as RDF. ``audiences``: only documents (and their clauses) for these audiences."""
    run = store.executor.run
    g = _bind(Graph())
    kept: dict[str, set[str]] = {label: set() for label in NODES}
    for label, query in q.EXPORT_NODES.items():
        _, key_prop, cls = NODES[label]
        for row in run(query):
            props = row["props"]
            key = props.get(key_prop)
            if key is None:
                continue
            if audiences and label in ("Document", "Clause") and props.get("audience") not in audiences:
                continue
            node = iri(label, key)
            kept[label].add(str(key))
            g.add((node, RDF.type, cls))
            if label == "Document" and props.get("doc_type") in DOC_CLASSES:
                g.add((node, RDF.type, DOC_CLASSES[props["doc_type"]]))
            for prop, (predicate, datatype) in ATTRIBUTES[label].items():
                value = props.get(prop)
                for v in value if isinstance(value, list) else [value]:
                    if v is not None and v != "":
                        g.add((node, predicate, Literal(str(v), datatype=datatype)))
    for t, a, _ak, b, _bk in q.RELATIONS:
        for row in run(q.EXPORT_RELATIONS[(t, a, b)]):
            source, target = str(row["source"]), str(row["target"])
            if source in kept[a] and target in kept[b]:
                g.add((iri(a, source), PREDICATES[t], iri(b, target)))
    return g


def serialize(g: Graph, fmt: str) -> str:
    if fmt not in FORMATS:
        raise InputError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt == "json-ld":
        context = {"bkg": str(BKG), "xsd": str(XSD)}
        return g.serialize(format="json-ld", context=context, indent=2)
    return g.serialize(format=FORMATS[fmt])


def validate(g: Graph) -> tuple[bool, str]:
    """SHACL validation against graph/rdf/shapes.ttl, with the ontology's subclasses (RDFS inference)."""
    from pyshacl import validate as shacl

    conforms, _, text = shacl(g, shacl_graph=shapes(), ont_graph=ontology(), inference="rdfs", advanced=True)
    return bool(conforms), str(text)


def counts(g: Graph) -> Counter[str]:
    """Instances per class and links per predicate: what a round trip must preserve."""
    out: Counter[str] = Counter()
    for label, (_, _, cls) in NODES.items():
        out[label] = len(set(g.subjects(RDF.type, cls)))
    for name, cls in DOC_CLASSES.items():
        out[f"Document:{name}"] = len(set(g.subjects(RDF.type, cls)))
    for t, predicate in PREDICATES.items():
        out[t] = len(set(g.subject_objects(predicate)))
    return out


def import_graph(store: Any, g: Graph) -> Counter[str]:
    """Write an RDF export into the graph (MERGE: importing twice changes nothing). Returns what was read."""
    by_class: dict[Node, str] = {cls: label for label, (_, _, cls) in NODES.items()}
    rows: dict[str, list[dict[str, Any]]] = {label: [] for label in NODES}
    doc_types: dict[str, str] = {}
    for node, cls in g.subject_objects(RDF.type):
        label = by_class.get(cls)
        if label is None:
            if cls in DOC_CLASSES.values():
                doc_types[_key_of(node)] = next(k for k, v in DOC_CLASSES.items() if v == cls)
            continue
        props: dict[str, Any] = {}
        for prop, (predicate, _) in ATTRIBUTES[label].items():
            values = sorted(str(v) for v in g.objects(node, predicate))
            if values:
                props[prop] = values if prop == "aliases" else values[0]
        rows[label].append({"key": _key_of(node), "props": props})
    for row in rows["Document"]:
        row["props"].update(status="done", doc_type=doc_types.get(row["key"]))
        if not row["props"]["doc_type"]:
            raise InputError(f"document {row['key']}: no bkg:Regulation / bkg:Wording / bkg:Case type")
    statements: list[tuple[str, dict[str, Any]]] = [
        (q.IMPORT_NODES[label], {"rows": items}) for label, items in rows.items() if items
    ]
    for doc_type, query in q.IMPORT_DOC_LABELS.items():
        ids = [r["key"] for r in rows["Document"] if r["props"]["doc_type"] == doc_type]
        if ids:
            statements.append((query, {"ids": ids}))
    for t, a, _, b, _ in q.RELATIONS:
        links = [
            {"source": _key_of(s), "target": _key_of(o)}
            for s, o in g.subject_objects(PREDICATES[t])
            if str(s).startswith(f"{ID}{NODES[a][0]}/") and str(o).startswith(f"{ID}{NODES[b][0]}/")
        ]
        if links:
            statements.append((q.IMPORT_RELATIONS[(t, a, b)], {"rows": links}))
    store.executor.run_batch(statements, write=True)
    return counts(g)
