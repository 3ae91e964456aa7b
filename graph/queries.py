"""All Cypher, as named parameterised constants. Values are never formatted into a query string.

Model:
  (:Insurer)-[:ISSUES]->(:Product)-[:REPLACED_BY]->(:Product)
  (:Product)-[:HAS_DOCUMENT]->(:Document:Wording)-[:HAS_CLAUSE]->(:Clause)<-[:HAS_CLAUSE]-(:Product)
  (:Document:Regulation)-[:HAS_ARTICLE]->(:Article)
  (:Document:Case)-[:CONCERNS]->(:Product)
  (:Document:Case | :Clause | :Article)-[:CITES]->(:Article)
  (:Document:Regulation)-[:REPEALS]->(:Document:Regulation)  (the target may be a stub: stub = true)
Articles are keyed ``law_key#第十六条`` so a citation may arrive before its regulation.
"""

# --- products -----------------------------------------------------------------------------

UPSERT_PRODUCTS = """
UNWIND $rows AS r
MERGE (p:Product {product_id: r.product_id})
SET p += r.props
WITH p, r
OPTIONAL MATCH (p)<-[old:ISSUES]-(:Insurer)
DELETE old
WITH DISTINCT p, r
MERGE (i:Insurer {name: r.insurer})
MERGE (i)-[:ISSUES]->(p)
"""

SET_SUCCESSORS = """
UNWIND $rows AS r
MATCH (p:Product {product_id: r.product_id})
OPTIONAL MATCH (p)-[old:REPLACED_BY]->(:Product)
DELETE old
WITH DISTINCT p, r
WHERE r.replaced_by IS NOT NULL
MATCH (s:Product {product_id: r.replaced_by})
MERGE (p)-[:REPLACED_BY]->(s)
"""

UPDATE_PRODUCT = """
MATCH (p:Product {product_id: $product_id})
SET p += $props
RETURN p.product_id AS product_id
"""

GET_PRODUCT = """
MATCH (p:Product {product_id: $product_id})
RETURN properties(p) AS product
"""

PRODUCT_DOCUMENTS = """
MATCH (p:Product {product_id: $product_id})-[:HAS_DOCUMENT]->(d:Document)
RETURN d.doc_id AS doc_id, d.title AS title, d.filing_no AS filing_no, d.superseded_by AS superseded_by
ORDER BY d.title, d.filing_no
"""

LIST_PRODUCTS = """
MATCH (p:Product)
OPTIONAL MATCH (p)-[:REPLACED_BY]->(s:Product)
RETURN p.product_id AS product_id, p.name AS name, p.aliases AS aliases, p.status AS status,
       p.insurer AS insurer, p.category AS category, p.effective_date AS effective_date,
       p.discontinued_date AS discontinued_date, s.product_id AS successor_id, s.name AS successor_name,
       p.filings AS filings
ORDER BY product_id
"""

# Product ids for a search's compliance filters. An empty list leaves its field unfiltered, a null
# date likewise; dates are ISO strings compared as strings (FalkorDB has no datetime()), so a
# product without an effective date never passes a date filter.
FILTER_PRODUCT_IDS = """
MATCH (p:Product)
WHERE (size($insurers) = 0 OR p.insurer IN $insurers)
  AND (size($product_ids) = 0 OR p.product_id IN $product_ids)
  AND (size($statuses) = 0 OR p.status IN $statuses)
  AND ($effective_from IS NULL OR (p.effective_date IS NOT NULL AND p.effective_date <> ''
                                   AND p.effective_date >= $effective_from))
  AND ($effective_to IS NULL OR (p.effective_date IS NOT NULL AND p.effective_date <> ''
                                 AND p.effective_date <= $effective_to))
RETURN p.product_id AS product_id
ORDER BY product_id
"""

PRODUCT_STATUS = """
UNWIND $ids AS pid
MATCH (p:Product {product_id: pid})
OPTIONAL MATCH (p)-[:REPLACED_BY]->(s:Product)
RETURN p.product_id AS product_id, p.name AS name, p.status AS status, p.effective_date AS effective_date,
       p.discontinued_date AS discontinued_date, s.product_id AS successor_id, s.name AS successor_name,
       s.status AS successor_status
"""

# --- documents ----------------------------------------------------------------------------

GET_DOCUMENT = """
MATCH (d:Document {doc_id: $doc_id})
RETURN d.doc_id AS doc_id, d.content_hash AS content_hash, d.chunk_ids AS chunk_ids, d.title AS title,
       d.doc_type AS doc_type, d.product_id AS product_id, d.audience AS audience, d.source AS source,
       d.superseded_by AS superseded_by, d.filing_no AS filing_no
"""

UPSERT_DOCUMENT = """
MERGE (d:Document {doc_id: $doc_id})
SET d += $props
"""

LABEL_REGULATION = "MATCH (d:Document {doc_id: $doc_id}) SET d:Regulation"
LABEL_WORDING = "MATCH (d:Document {doc_id: $doc_id}) SET d:Wording"
LABEL_CASE = "MATCH (d:Document {doc_id: $doc_id}) SET d:Case"

# Articles outlive their regulation's versions (citations point at them), so they are unlinked, not deleted.
UNLINK_ARTICLES = """
MATCH (d:Document {doc_id: $doc_id})-[r:HAS_ARTICLE]->(a:Article)
SET a.chunk_ids = [], a.text = null
DELETE r
"""

DELETE_CLAUSES = """
MATCH (d:Document {doc_id: $doc_id})-[:HAS_CLAUSE]->(c:Clause)
DETACH DELETE c
"""

DELETE_FACTS = """
MATCH (f:Fact {doc_id: $doc_id})
DETACH DELETE f
"""

# Facts read from a wording's clauses: on the product, each linked to the clause that states it.
UPSERT_FACTS = """
UNWIND $facts AS r
MATCH (p:Product {product_id: r.product_id})
MERGE (f:Fact {key: r.key})
SET f += r.props
MERGE (p)-[:HAS_FACT]->(f)
WITH f, r
MATCH (c:Clause {key: r.clause_key})
MERGE (f)-[:STATED_IN]->(c)
"""

# A product's facts are its current filing's: an earlier filing (superseded_by set) keeps its
# facts for the filings diff, but matching, comparison and the product page read the current one.
PRODUCT_FACTS = """
MATCH (p:Product)-[:HAS_FACT]->(f:Fact)
WHERE $ids IS NULL OR p.product_id IN $ids
OPTIONAL MATCH (d:Document {doc_id: f.doc_id})
WITH p, f, d
WHERE d IS NULL OR d.superseded_by IS NULL
RETURN p.product_id AS product_id, properties(f) AS fact
ORDER BY product_id
"""

DELETE_DOCUMENT_EDGES = """
MATCH (d:Document {doc_id: $doc_id})-[r:CITES|CONCERNS]->()
DELETE r
"""

DELETE_ARTICLE_CITATIONS = """
MATCH (d:Document {doc_id: $doc_id})-[:HAS_ARTICLE]->(:Article)-[r:CITES]->(:Article)
DELETE r
"""

UNLINK_PRODUCT_DOCUMENT = """
MATCH (:Product)-[r:HAS_DOCUMENT]->(d:Document {doc_id: $doc_id})
DELETE r
"""

LINK_PRODUCT_DOCUMENT = """
MATCH (d:Document {doc_id: $doc_id}), (p:Product {product_id: $product_id})
MERGE (p)-[:HAS_DOCUMENT]->(d)
"""

UPSERT_ARTICLES = """
MATCH (d:Document {doc_id: $doc_id})
UNWIND $parts AS part
MERGE (a:Article {key: part.key})
SET a += part.props
MERGE (d)-[:HAS_ARTICLE]->(a)
"""

UPSERT_CLAUSES = """
MATCH (d:Document {doc_id: $doc_id})
UNWIND $parts AS part
MERGE (c:Clause {key: part.key})
SET c += part.props
MERGE (d)-[:HAS_CLAUSE]->(c)
WITH c, part
WHERE part.props.product_id IS NOT NULL
MATCH (p:Product {product_id: part.props.product_id})
MERGE (p)-[:HAS_CLAUSE]->(c)
"""

CITE_FROM_CLAUSES = """
UNWIND $refs AS ref
MATCH (c:Clause {key: ref.source_key})
MERGE (a:Article {key: ref.article_key})
ON CREATE SET a.law_key = ref.law_key, a.locator = ref.article
MERGE (c)-[:CITES]->(a)
"""

CITE_FROM_ARTICLES = """
UNWIND $refs AS ref
MATCH (s:Article {key: ref.source_key})
MERGE (a:Article {key: ref.article_key})
ON CREATE SET a.law_key = ref.law_key, a.locator = ref.article
MERGE (s)-[:CITES]->(a)
"""

CITE_FROM_DOCUMENT = """
MATCH (d:Document {doc_id: $doc_id})
UNWIND $refs AS ref
MERGE (a:Article {key: ref.article_key})
ON CREATE SET a.law_key = ref.law_key, a.locator = ref.article
MERGE (d)-[:CITES]->(a)
"""

CONCERNS_PRODUCTS = """
MATCH (d:Document {doc_id: $doc_id})
UNWIND $product_ids AS pid
MATCH (p:Product {product_id: pid})
MERGE (d)-[:CONCERNS]->(p)
"""

# Written last: a document whose content_hash is set is complete in the graph.
MARK_DOCUMENT_DONE = """
MATCH (d:Document {doc_id: $doc_id})
SET d.content_hash = $content_hash, d.chunk_ids = $chunk_ids, d.status = 'done', d.last_error = null
"""

DELETE_DOCUMENT = """
MATCH (d:Document {doc_id: $doc_id})
DETACH DELETE d
"""

DOCUMENTS_BY_SOURCE = """
MATCH (d:Document)
WHERE d.source IN $sources
RETURN d.source AS source, d.doc_id AS doc_id
"""

# --- retrieval ----------------------------------------------------------------------------

REGULATION_NAMES = """
MATCH (d:Regulation)
WHERE d.stub IS NULL
RETURN d.doc_id AS doc_id, d.title AS title, d.law_key AS law_key, d.aliases AS aliases
"""

ARTICLE_CHUNKS = """
UNWIND $keys AS k
MATCH (a:Article {key: k})
WHERE size(a.chunk_ids) > 0
RETURN a.key AS key, a.chunk_ids AS chunk_ids
"""

# （见9.3）: a clause pointing at the clause that defines a term it uses
LINK_CLAUSE_REFERENCES = """
UNWIND $refs AS r
MATCH (a:Clause {key: r.from_key}), (b:Clause {key: r.to_key})
MERGE (a)-[:REFERS_TO]->(b)
"""

# The WITH after the indexed lookup keeps the planner from starting at the other end: FalkorDB
# scanned every Clause (72k at 100k chunks: 640 ms) instead of the index (1.4 ms); bench/scale.py.
REFERRED_CLAUSES = """
UNWIND $keys AS k
MATCH (c:Clause {key: k})
WITH k, c
MATCH (c)-[:REFERS_TO]->(d:Clause)
WHERE size(d.chunk_ids) > 0
RETURN k AS source, d.key AS key, d.locator AS locator, d.chunk_ids AS chunk_ids
"""

CITED_BY_CLAUSES = """
UNWIND $keys AS k
MATCH (c:Clause {key: k})
WITH k, c
MATCH (c)-[:CITES]->(a:Article)
WHERE size(a.chunk_ids) > 0
RETURN k AS source, a.key AS key, a.chunk_ids AS chunk_ids
"""

CITED_BY_DOCUMENTS = """
UNWIND $doc_ids AS id
MATCH (doc:Document {doc_id: id})
WITH id, doc
MATCH (doc)-[:CITES]->(a:Article)
WHERE size(a.chunk_ids) > 0
RETURN id AS source, a.key AS key, a.chunk_ids AS chunk_ids
"""

CASE_PRODUCTS = """
UNWIND $doc_ids AS id
MATCH (doc:Document {doc_id: id})
WITH id, doc
MATCH (doc)-[:CONCERNS]->(p:Product)
RETURN id AS doc_id, p.product_id AS product_id
"""

# --- inspection ---------------------------------------------------------------------------

# a stub (a rule known only as repealed, see below) is not counted: it is no document of this graph
COUNT_NODES = "MATCH (n) WHERE n.stub IS NULL RETURN labels(n) AS labels, count(n) AS n"
COUNT_RELATIONSHIPS = "MATCH ()-[r]->() RETURN type(r) AS type, count(r) AS n"

# --- product page ---------------------------------------------------------------------------

PRODUCT_CLAUSE_CITATIONS = """
MATCH (p:Product {product_id: $product_id})-[:HAS_CLAUSE]->(c:Clause)-[:CITES]->(a:Article)
OPTIONAL MATCH (r:Regulation)-[:HAS_ARTICLE]->(a)
RETURN c.locator AS clause, c.doc_id AS doc_id, a.key AS article_key, a.locator AS article, a.law_key AS law_key,
       r.doc_id AS regulation_doc_id, r.title AS regulation_title
"""

PRODUCT_CASES = """
MATCH (d:Case)-[:CONCERNS]->(p:Product {product_id: $product_id})
RETURN d.doc_id AS doc_id, d.title AS title
"""

CASE_CITATIONS = """
UNWIND $doc_ids AS id
MATCH (doc:Case {doc_id: id})
WITH id, doc
MATCH (doc)-[:CITES]->(a:Article)
OPTIONAL MATCH (r:Regulation)-[:HAS_ARTICLE]->(a)
RETURN id AS doc_id, a.key AS article_key, a.locator AS article, a.law_key AS law_key,
       r.doc_id AS regulation_doc_id, r.title AS regulation_title
"""

PREDECESSORS = """
MATCH (x:Product)-[:REPLACED_BY]->(p:Product {product_id: $product_id})
RETURN x.product_id AS product_id, x.name AS name, x.status AS status
"""

APPEND_STATUS_LOG = """
MATCH (p:Product {product_id: $product_id})
SET p.status_log = coalesce(p.status_log, []) + [$entry]
"""

DOCUMENT_INFO = """
MATCH (d:Document {doc_id: $doc_id})
RETURN d.doc_id AS doc_id, d.title AS title, d.doc_type AS doc_type, d.product_id AS product_id,
       d.audience AS audience, d.ingested_at AS ingested_at, d.version AS version, d.filing_no AS filing_no,
       d.superseded_by AS superseded_by
"""

# An earlier filing of a product's wording points at the filing that replaced it (null: current).
SET_SUPERSEDED = """
MATCH (d:Document {doc_id: $doc_id})
SET d.superseded_by = $by
WITH d
OPTIONAL MATCH (d)-[r:SUPERSEDED_BY]->()
DELETE r
RETURN d.chunk_ids AS chunk_ids
"""

LINK_SUPERSEDED = """
MATCH (d:Document {doc_id: $doc_id}), (n:Document {doc_id: $by})
MERGE (d)-[:SUPERSEDED_BY]->(n)
"""

SET_AUDIENCE = """
MATCH (d:Document {doc_id: $doc_id})
SET d.audience = $audience
WITH d
OPTIONAL MATCH (d)-[:HAS_CLAUSE|HAS_ARTICLE]->(part)
SET part.audience = $audience
RETURN d.chunk_ids AS chunk_ids
"""

RECORD_FAILURE = """
MERGE (d:Document {doc_id: $doc_id})
ON CREATE SET d.status = 'failed', d.source = $source
SET d.last_error = $reason, d.failed_at = $at
WITH d
WHERE d.content_hash IS NULL
SET d.status = 'failed'
"""

LEDGER = """
MATCH (d:Document)
WHERE d.stub IS NULL
RETURN d.doc_id AS doc_id, d.status AS status, d.content_hash AS content_hash, d.chunk_ids AS chunk_ids,
       d.source AS source, d.last_error AS last_error, d.title AS title
"""

MARK_INTERRUPTED = """
MATCH (d:Document {doc_id: $doc_id})
SET d.status = 'failed', d.last_error = $reason, d.content_hash = null
"""

ADD_VERSION = """
MATCH (d:Document {doc_id: $doc_id})
MERGE (v:Version {key: $key})
SET v.doc_id = $doc_id, v.version = $version, v.ingested_at = $at, v.sections = $sections, v.title = $title
MERGE (d)-[:HAS_VERSION]->(v)
"""

VERSIONS = """
MATCH (v:Version {doc_id: $doc_id})
RETURN v.version AS version, v.ingested_at AS ingested_at, v.title AS title, v.sections AS sections
ORDER BY v.ingested_at
"""

DELETE_VERSIONS = """
MATCH (v:Version {doc_id: $doc_id})
DETACH DELETE v
"""

# --- regulations as current law ----------------------------------------------------------
# A regulation's legal status is derived when read (graph/regulations.py): ``legal_status`` holds
# only what a manifest declared, the REPEALS edges and the effective date do the rest. A rule known
# only because an ingested one repeals it is a stub: (:Document:Regulation {stub: true}), no ledger
# entry, no articles, replaced by the real document when that is ingested.

KNOWN_REGULATIONS = """
MATCH (d:Regulation)
WHERE d.stub = true OR d.status = 'done'
RETURN d.doc_id AS doc_id, d.title_keys AS title_keys, d.doc_no_key AS doc_no_key, d.published AS published,
       d.effective AS effective, d.stub AS stub, d.repealed_on AS repealed_on
"""

STUB_REPEALERS = """
MATCH (r:Regulation)-[:REPEALS]->(s:Regulation {doc_id: $stub_id})
RETURN r.doc_id AS doc_id
"""

DELETE_REPEALS = """
MATCH (d:Document {doc_id: $doc_id})-[r:REPEALS]->()
DELETE r
"""

LINK_REPEALS = """
MATCH (d:Document {doc_id: $doc_id}), (t:Document {doc_id: $target})
MERGE (d)-[:REPEALS]->(t)
"""

REPEAL_STUB = """
MATCH (d:Document {doc_id: $doc_id})
MERGE (s:Document {doc_id: $stub_id})
ON CREATE SET s.stub = true, s.doc_type = 'regulation', s.title = $title, s.doc_no = $doc_no,
              s.title_keys = $title_keys, s.doc_no_key = $doc_no_key, s.legal_status = 'repealed',
              s.repealed_on = $repealed_on
SET s:Regulation
MERGE (d)-[:REPEALS]->(s)
"""

# The rule a stub stood for is ingested now: its repealers point at the document, the stub goes.
REPOINT_STUB = """
MATCH (r:Document)-[:REPEALS]->(s:Document {doc_id: $stub_id}), (d:Document {doc_id: $doc_id})
WHERE s.stub = true
MERGE (r)-[:REPEALS]->(d)
"""

DELETE_STUB = """
MATCH (s:Document {doc_id: $stub_id})
WHERE s.stub = true
DETACH DELETE s
"""

DELETE_ORPHAN_STUBS = """
MATCH (s:Regulation)
WHERE s.stub = true
OPTIONAL MATCH (r)-[:REPEALS]->(s)
WITH s, count(r) AS n
WHERE n = 0
DETACH DELETE s
"""

REGULATION_STATUS = """
MATCH (d:Regulation)
WHERE (d.stub = true OR d.status = 'done') AND ($ids IS NULL OR d.doc_id IN $ids)
OPTIONAL MATCH (r:Regulation)-[:REPEALS]->(d)
WITH d, collect(r.title) AS repealers
RETURN d.doc_id AS doc_id, d.title AS title, d.level AS level, d.doc_no AS doc_no, d.published AS published,
       d.effective AS effective, d.amended AS amended, d.legal_status AS declared, d.repealed_by AS repealed_by,
       d.stub AS stub, d.title_keys AS title_keys, repealers
ORDER BY doc_id
"""

# --- linked-data export / import (graph/rdf) ---------------------------------------------
# Labels and relationship types cannot be parameters: these are generated from a fixed table.

EXPORT_NODES = {
    "Insurer": "MATCH (n:Insurer) RETURN properties(n) AS props, labels(n) AS labels",
    "Product": "MATCH (n:Product) RETURN properties(n) AS props, labels(n) AS labels",
    "Document": "MATCH (n:Document) WHERE n.status = 'done' RETURN properties(n) AS props, labels(n) AS labels",
    "Article": "MATCH (n:Article) RETURN properties(n) AS props, labels(n) AS labels",
    "Clause": "MATCH (n:Clause) RETURN properties(n) AS props, labels(n) AS labels",
}

# (type, from label, from key, to label, to key)
RELATIONS = (
    ("ISSUES", "Insurer", "name", "Product", "product_id"),
    ("REPLACED_BY", "Product", "product_id", "Product", "product_id"),
    ("HAS_DOCUMENT", "Product", "product_id", "Document", "doc_id"),
    ("HAS_ARTICLE", "Document", "doc_id", "Article", "key"),
    ("HAS_CLAUSE", "Document", "doc_id", "Clause", "key"),
    ("HAS_CLAUSE", "Product", "product_id", "Clause", "key"),
    ("CITES", "Clause", "key", "Article", "key"),
    ("CITES", "Article", "key", "Article", "key"),
    ("CITES", "Document", "doc_id", "Article", "key"),
    ("CONCERNS", "Document", "doc_id", "Product", "product_id"),
)

def _done(var: str, label: str) -> str:
    return f"{var}.status = 'done'" if label == "Document" else ""


EXPORT_RELATIONS = {
    (t, a, b): f"MATCH (a:{a})-[:{t}]->(b:{b}) "
    + (f"WHERE {' AND '.join(c for c in (_done('a', a), _done('b', b)) if c)} " if "Document" in (a, b) else "")
    + f"RETURN a.{ak} AS source, b.{bk} AS target"
    for t, a, ak, b, bk in RELATIONS
}

IMPORT_NODES = {
    label: f"UNWIND $rows AS r MERGE (n:{label} {{{key}: r.key}}) SET n += r.props"
    for label, key in (("Insurer", "name"), ("Product", "product_id"), ("Document", "doc_id"), ("Article", "key"), ("Clause", "key"))
}

IMPORT_RELATIONS = {
    (t, a, b): f"UNWIND $rows AS r MATCH (a:{a} {{{ak}: r.source}}) MATCH (b:{b} {{{bk}: r.target}}) MERGE (a)-[:{t}]->(b)"
    for t, a, ak, b, bk in RELATIONS
}

IMPORT_DOC_LABELS = {
    doc_type: f"UNWIND $ids AS id MATCH (d:Document {{doc_id: id}}) SET d:{label}"
    for doc_type, label in (("regulation", "Regulation"), ("clause", "Wording"), ("case", "Case"))
}

# --- compliance -----------------------------------------------------------------------------

# The articles a compliance rule rests on, with their text and their regulation's title.
ARTICLES = """
UNWIND $keys AS k
MATCH (a:Article {key: k})
OPTIONAL MATCH (d:Document {doc_id: a.doc_id})
RETURN a.key AS key, a.doc_id AS doc_id, a.locator AS locator, a.text AS text, d.title AS title
"""
