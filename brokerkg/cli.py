"""``brokerkg`` command line: ingest, catalog import, serve, ask, eval.

When another process (``brokerkg serve``) owns the data dir, ingest / catalog import / ask
are sent to that server over loopback HTTP instead of failing.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from api.security import ROLES
from brokerkg import __version__
from brokerkg.settings import Settings, load_settings, serving_processes
from domain.errors import BrokerKGError, DataDirBusyError, InputError

if TYPE_CHECKING:
    from brokerkg.stack import Stack

logger = logging.getLogger("brokerkg")

ALERT_WAIT_S = 10.0  # how long a CLI run waits for its stop-sale alerts' webhook tries before it exits


def _setup_logging(level: str, fmt: str = "text") -> None:
    from api.observability import setup_logging

    setup_logging(level, fmt)


def _forward(settings: Settings, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """POST to the server that owns the data dir, if there is one; None when there is none."""
    from brokerkg.stack import read_owner

    url = read_owner(settings.data_dir).get("url")
    if not url:
        return None
    import httpx

    try:
        response = httpx.post(f"{url}{path}", json=body, timeout=3600)
    except httpx.HTTPError as exc:
        raise BrokerKGError(f"the server owning {settings.data_dir} at {url} did not answer: {exc}") from exc
    data = response.json()
    if response.status_code >= 400:
        raise BrokerKGError(data.get("error", {}).get("message", response.text))
    return data  # type: ignore[no-any-return]


def _here_or_server(settings: Settings, path: str, body: dict[str, Any], run: Callable[[Stack], dict[str, Any]]) -> dict[str, Any]:
    """``run`` on the data dir's stores, or, when a server owns the data dir, the same request to it."""
    from brokerkg.stack import Stack

    try:
        stack = Stack(settings).open()
    except DataDirBusyError:
        data = _forward(settings, path, body)
        if data is None:
            raise
        return data
    try:
        return run(stack)
    finally:
        stack.close()


def _print_ingest_report(report: dict[str, Any]) -> None:
    for notice in report["skipped"]:
        print(f"skipped: {notice}", file=sys.stderr)
    for failure in report["failed"]:
        print(f"FAILED: {failure}", file=sys.stderr)
    print(
        f"ingested {len(report['ingested'])}, unchanged {len(report['unchanged'])}, "
        f"skipped {len(report['skipped'])}, failed {len(report['failed'])} ({report['chunks']} chunks written)"
    )


def _progress() -> Any:
    from tqdm import tqdm

    bar = tqdm(unit="doc", file=sys.stderr, disable=None, dynamic_ncols=True)
    chunks = 0

    def on_progress(path: Path, n: int) -> None:
        nonlocal chunks
        chunks += n
        bar.update(1)
        bar.set_postfix_str(f"{chunks} chunks, {path.name[:30]}")

    return bar, on_progress


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    from brokerkg.stack import Stack

    paths = [str(Path(p).resolve()) for p in args.paths]
    try:
        stack = Stack(settings).open()
    except DataDirBusyError:
        report = _forward(settings, "/v1/ingest", {"paths": paths, "type": args.type, "audience": args.audience})
        if report is None:
            raise
        _print_ingest_report(report)
        return 1 if report["failed"] else 0
    try:
        bar, on_progress = _progress()
        with bar:
            result = stack.ingestor.ingest([Path(p) for p in paths], args.type, args.audience, on_progress=on_progress)
        if result.ingested:
            stack.index.optimize()  # search structures for what was written (a server optimizes its own writes aside)
    finally:
        stack.close()
    _print_ingest_report(result.to_dict())
    return 1 if result.failed else 0


def cmd_catalog_import(settings: Settings, args: argparse.Namespace) -> int:
    from brokerkg.stack import Stack
    from ingest.pipeline import import_catalog

    path = str(Path(args.file).resolve())
    try:
        stack = Stack(settings).open()
    except DataDirBusyError:
        data = _forward(settings, "/v1/catalog/import", {"path": path})
        if data is None:
            raise
    else:
        try:
            bar, on_progress = _progress()
            with bar, _alerting(stack):
                data = import_catalog(stack.ingestor, Path(path), on_progress).to_dict()
            if data["documents"]["ingested"]:
                stack.index.optimize()
        finally:
            stack.close()
    for error in data["rejected"]:
        print(f"REJECTED: {error}", file=sys.stderr)
    print(f"products imported {len(data['products'])}, rejected {len(data['rejected'])}")
    _print_ingest_report(data["documents"])
    return 1 if data["rejected"] or data["documents"]["failed"] else 0


def cmd_catalog_draft(settings: Settings, args: argparse.Namespace) -> int:
    """Draft a catalog CSV from a folder of wordings (names, insurer, category, filings, aliases)."""
    from ingest.catalog_draft import draft_catalog

    folder = Path(args.folder)
    if not folder.is_dir():
        raise BrokerKGError(f"{args.folder}: not a folder")
    draft = draft_catalog(folder.resolve(), args.id_prefix)
    text = draft.csv()
    if args.output:
        out = Path(args.output)
        if out.resolve().parent != folder.resolve():
            # document paths are written relative to the folder; the CSV must sit where they resolve
            text = _rebase_documents(draft, folder.resolve(), out.resolve().parent)
        out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    for line in draft.report:
        print(f"report: {line}", file=sys.stderr)
    print(f"drafted {len(draft.rows)} products from {folder}; review the file, then `brokerkg catalog import`",
          file=sys.stderr)
    return 0


def _rebase_documents(draft: Any, folder: Path, target: Path) -> str:
    import os

    for row in draft.rows:
        row["documents"] = "|".join(
            os.path.relpath(folder / d, target) for d in row["documents"].split("|") if d
        )
    return str(draft.csv())


@contextmanager
def _alerting(stack: Any) -> Iterator[None]:
    """Stop-sale alerts for the status changes made inside (no server running); webhook tries still
    pending when the command ends are sent by the server when it next starts."""
    from api.alerts.service import attach, detach

    service = attach(stack)
    try:
        yield
    finally:
        if not detach(stack, service, wait_s=ALERT_WAIT_S):
            print(f"stop-sale alerts: deliveries still pending after {ALERT_WAIT_S:.0f} s are sent when the server starts",
                  file=sys.stderr)


def cmd_status_sync(settings: Settings, args: argparse.Namespace) -> int:
    """Apply an insurer's stop-sale list (JSON, CSV or a 停售公告's HTML table) to the catalog."""
    from brokerkg.stack import Stack
    from ingest.status_sync import read_status_list, sync_status

    path = Path(args.file).resolve()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BrokerKGError(f"{args.file}: {exc.strerror or exc}") from None
    entries = read_status_list(data, path.name, args.format)  # bad input is reported before anything opens
    try:
        stack = Stack(settings).open()
    except DataDirBusyError:
        report = _forward(settings, "/v1/status/sync", {"path": str(path), "dry_run": args.dry_run, "format": args.format})
        if report is None:
            raise
    else:
        try:
            with _alerting(stack):
                report = sync_status(stack.graph, entries, path.name, dry_run=args.dry_run).to_dict()
        finally:
            stack.close()
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return 0
    verb = "would change" if report["dry_run"] else "changed"
    for c in report["changed"]:
        when = f" on {c['new_date']}" if c["new_date"] else ""
        print(f"{verb}: {c['product_id']} {c['name']}: {c['old_status']} → {c['new_status']}{when} (listed as {c['listed_as']})")
    for line in report["ambiguous"]:
        print(f"AMBIGUOUS (not applied): {line}", file=sys.stderr)
    for line in report["unmatched"]:
        print(f"not in the catalog: {line}", file=sys.stderr)
    print(f"{report['entries']} listed: {len(report['changed'])} {verb}, {len(report['unchanged'])} already so, "
          f"{len(report['unmatched'])} not in the catalog, {len(report['ambiguous'])} ambiguous")
    return 0


def cmd_ask(settings: Settings, args: argparse.Namespace) -> int:

    body = {"question": args.question, "top_k": args.top_k}
    data = _here_or_server(settings, "/v1/ask", body,
                           lambda stack: stack.retriever.ask(args.question, top_k=args.top_k).to_dict())
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    print(data["answer"])
    if data["citations"]:
        print("\n参考来源：")
        for c in data["citations"]:
            print(f"[{c['n']}] {c['title']} {c['locator']}")
    return 0


def _read_text(source: str) -> str:
    """A text to check: a file (UTF-8, else GB18030) or ``-`` for standard input."""
    if source == "-":
        return sys.stdin.read()
    path = Path(source)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{source}: cannot read ({exc.strerror or exc})") from None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InputError(f"{source}: not UTF-8 or GB18030 text")


def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    """Compliance check of a sales text; exit 0 when it is clean, 3 when it has findings."""

    text = _read_text(args.file)
    if not text.strip():
        raise InputError(f"{args.file}: the text is empty")
    body = {"text": text, "kind": args.kind}
    data = _here_or_server(settings, "/v1/compliance/check", body, lambda stack: stack.checker.check(text, args.kind).to_dict())
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        findings = data["findings"]
        for f in findings:
            line = data["text"][: f["start"]].count("\n") + 1
            print(f"{args.file}:{line}: [{f['severity']}] {f['title']} ({f['rule']} v{f['rule_version']})：“{f['quote']}”")
            print(f"    {f['explanation']}")
            for c in f["citations"]:
                if c["role"] != "also":
                    print(f"    {'违反' if c['role'] == 'breaks' else '条款'}：{c['title']} {c['locator']}")
        for flag in data["flags"]:
            print(f"注意：{flag.get('message')}")
        print(f"{len(findings)} finding(s)" if findings else "no finding", file=sys.stderr)
    return 3 if data["findings"] else 0


def cmd_eval_compliance(settings: Settings, args: argparse.Namespace) -> int:
    from brokerkg.stack import Stack
    from retrieval.compliance.evaluation import format_scores, load_set, score

    items = [item for name in args.questions for item in load_set(Path(name))]
    splits = {i["split"] for i in items}
    misses_of = ({args.split} if args.split else {s for s in splits if not s.startswith("heldout")}) if args.misses else set()
    try:
        stack = Stack(settings).open()
    except DataDirBusyError as exc:
        raise DataDirBusyError(f"{exc}; eval opens the stores itself: stop the server first or point BROKERKG_DATA_DIR at a copy") from exc
    try:
        scores = score(stack.checker, items, misses_of)
    finally:
        stack.close()
    if args.json:
        print(json.dumps([s.to_dict() for s in scores], ensure_ascii=False, indent=2))
    else:
        print(format_scores(scores))
    for s in scores:
        for miss in s.misses:
            print(miss, file=sys.stderr)
    return 0


def cmd_train_checker(settings: Settings, args: argparse.Namespace) -> int:
    """Train the compliance checker's learned model on labelled sets of sales texts (the format of
    ``brokerkg eval``) and write it beside the rules, where the running checker picks it up."""
    from brokerkg.stack import Stack
    from retrieval.compliance import PACKAGED, RuleStore
    from retrieval.compliance.evaluation import load_set
    from retrieval.compliance.model import MODEL_FILE, save, train

    items = [item for name in args.sets for item in load_set(Path(name))]
    folder = settings.rules_folder
    book = RuleStore([PACKAGED, folder]).book()
    conduct = sorted(r.id for r in book.rules.values() if r.check == "conduct" and r.enabled)
    out = Path(args.out) if args.out else folder / MODEL_FILE
    embedder = Stack(settings).make_embedder()
    model = train(items, conduct, embedder.embed_passages, embedder.name, c=args.c,
                  sources=[Path(n).name for n in args.sets],
                  patterns={r: book.rules[r].pattern_keys for r in conduct})
    sha = save(model, out)
    print(f"{out}: {len(model.rules)} rules from {len(items)} texts ({model.meta['units']} units); sha256 {sha[:12]}")
    for rule, n in sorted(model.meta["positives"].items()):
        print(f"  {rule:<22} {n} positive units")
    left = sorted(set(conduct) - set(model.rules))
    if left:
        print(f"  not trained (fewer than five labelled quotes): {', '.join(left)}")
    return 0


def cmd_eval_facts(args: argparse.Namespace) -> int:
    """Fact extraction against hand-annotated fact tables (CSV): pure parsing of the wordings in --corpus."""
    from ingest.fact_eval import load_table, score

    if not args.corpus:
        raise InputError("--corpus DIR is required with a fact table: the folder holding the wordings its 'file' column names")
    rows = load_table([Path(p) for p in args.questions])
    misses_of = ({args.split} if args.split else {r["split"] for r in rows if not r["split"].startswith("heldout")}) if args.misses else set()
    results = score(rows, Path(args.corpus), misses_of)
    if args.json:
        print(json.dumps([r.to_dict() for r in results], ensure_ascii=False, indent=2))
    else:
        for r in results:
            print(r.line())
    for r in results:
        for miss in r.misses:
            print(f"[{r.split}] {miss}", file=sys.stderr)
    return 0


def cmd_eval(settings: Settings, args: argparse.Namespace) -> int:
    from brokerkg.stack import Stack
    from retrieval.evaluation import format_table, load_golden, run_eval

    if all(p.lower().endswith(".csv") for p in args.questions):
        return cmd_eval_facts(args)
    from retrieval.compliance.evaluation import is_compliance_set

    if all(is_compliance_set(Path(p)) for p in args.questions):
        return cmd_eval_compliance(settings, args)
    if len(args.questions) != 1:
        raise InputError("give one question set (QUESTIONS.jsonl), one or more labelled sets of sales texts, "
                         "or one or more fact tables (FACTS.csv)")
    items = load_golden(Path(args.questions[0]))
    try:
        stack = Stack(settings).open()
    except DataDirBusyError as exc:
        raise DataDirBusyError(f"{exc}; eval opens the stores itself: stop the server first or point BROKERKG_DATA_DIR at a copy") from exc
    try:
        if stack.index.count() == 0:
            raise BrokerKGError(f"nothing is ingested in {settings.data_dir}: ingest the corpus the questions are about first")
        if args.baselines:
            print("building the baselines (the naive RAG embeds the whole corpus again)…", file=sys.stderr)
        rows = run_eval(stack, items, baselines=args.baselines, top_k=args.top_k)
    finally:
        stack.close()
    if args.json:
        print(json.dumps([m.to_dict() for m in rows], ensure_ascii=False, indent=2))
    else:
        print(format_table(rows))
        if args.by_kind:
            for kind, row in rows[0].by_kind().items():
                print(f"  {kind:<14} n={row['n']:<4} hit@1 {row['hit@1']:.3f}  hit@5 {row['hit@5']:.3f}  "
                      f"fact {row['fact']:.3f}  abstention {row['abstention']:.3f}")
        for split, row in rows[0].by_split().items():
            print(f"  split {split:<8} n={row['n']:<4} hit@1 {row['hit@1']:.3f}  hit@5 {row['hit@5']:.3f}  "
                  f"fact {row['fact']:.3f}  flags R {row['flag_recall']:.3f} P {row['flag_precision']:.3f}  "
                  f"abstention {row['abstention']:.3f}")
    if args.misses:
        print("\n".join(rows[0].misses(args.split)), file=sys.stderr)
    return 0


def cmd_keys(settings: Settings, args: argparse.Namespace) -> int:
    from api.security import KeyStore

    keys = KeyStore(settings.data_dir)
    if args.keys_command == "create":
        token, record = keys.create(args.role, args.name or "", owner=args.owner)
        print(token)
        print(f"key {record['key_id']} ({record['role']}) created; the key is shown once, store it now", file=sys.stderr)
    elif args.keys_command == "list":
        rows = keys.list()
        if args.json:
            print(json.dumps(rows, ensure_ascii=False, indent=2))
        for r in rows if not args.json else []:
            state = f"revoked {r['revoked_at']}" if r.get("revoked_at") else "active"
            print(f"{r['key_id']}  {r['role']:<10} {state:<28} {r['created_at']}  {r.get('name', '')}")
        if not rows and not args.json:
            print("no keys: the server accepts loopback clients only", file=sys.stderr)
    else:
        record = keys.revoke(args.key_id)
        print(f"key {record['key_id']} revoked at {record['revoked_at']}")
    return 0


def cmd_audit(settings: Settings, args: argparse.Namespace) -> int:
    from api.audit import AuditLog

    report = AuditLog(settings.data_dir).verify()
    for problem in report.problems:
        print(f"TAMPERED: {problem}", file=sys.stderr)
    print(f"{report.records} records, chain {'intact' if report.ok else 'BROKEN'}")
    return 0 if report.ok else 1


def cmd_delete(settings: Settings, args: argparse.Namespace) -> int:
    from brokerkg.stack import Stack

    try:
        stack = Stack(settings).open()
    except DataDirBusyError:
        import httpx

        from brokerkg.stack import read_owner

        url = read_owner(settings.data_dir).get("url")
        if not url:
            raise
        for ref in args.documents:
            r = httpx.delete(f"{url}/v1/documents/{ref}", timeout=600)
            if r.status_code >= 400:
                raise BrokerKGError(r.json().get("error", {}).get("message", r.text)) from None
            print(f"deleted {r.json()['deleted']}")
        return 0
    try:
        for ref in args.documents:
            print(f"deleted {stack.ingestor.delete(ref)}")
    finally:
        stack.close()
    return 0


def cmd_diff(settings: Settings, args: argparse.Namespace) -> int:
    from brokerkg.stack import Stack
    from ingest.pipeline import doc_id_for
    from ingest.versions import diff_versions

    with Stack(settings) as stack:
        doc_id = args.document if stack.graph.get_document(args.document) else doc_id_for(Path(args.document))
        versions = stack.graph.versions(doc_id)
        if args.list:
            for v in versions:
                print(f"{v['version']}  {v['ingested_at']}  {len(v['sections'])} sections")
            return 0
        result = diff_versions(versions, args.old, args.new)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    print(f"{result['from']['version']} ({result['from']['ingested_at']}) → {result['to']['version']} ({result['to']['ingested_at']}): "
          f"{len(result['changed'])} changed, {len(result['added'])} added, {len(result['removed'])} removed, {result['unchanged']} unchanged")
    for s in result["added"]:
        print(f"+ {s['locator']} {s['text'][:80]}")
    for s in result["removed"]:
        print(f"- {s['locator']} {s['text'][:80]}")
    for c in result["changed"]:
        print(c["diff"])
    return 0


def cmd_doctor(settings: Settings, args: argparse.Namespace) -> int:
    from brokerkg.doctor import check
    from brokerkg.stack import Stack

    with Stack(settings) as stack:
        report = check(stack.graph, stack.index, repair=args.repair)
        after = check(stack.graph, stack.index) if report.repaired else report
    if args.json:
        print(json.dumps({"before": report.to_dict(), "after": after.to_dict()}, ensure_ascii=False, indent=2))
    else:
        print(f"{report.documents} documents ({report.done} done, {report.failed} failed), {report.points} index points")
        print(f"orphan points {len(report.orphans)}, pending {len(report.pending)}, duplicates {len(report.duplicates)}, "
              f"documents with missing chunks {len(report.missing)}, interrupted {len(report.interrupted)}")
        for f in report.failures:
            print(f"failed: {f['source'] or f['doc_id']}: {f['reason']}")
        if report.repaired:
            print("repaired; now " + ("consistent" if after.consistent else "STILL INCONSISTENT"))
        else:
            print("stores are consistent" if report.consistent else "INCONSISTENT (run brokerkg doctor --repair)")
    return 0 if after.consistent else 1


def cmd_vectors_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from brokerkg.stack import Stack
    from index.vectors.qdrant_server import QdrantServerIndex, make_client, migrate

    if args.to == settings.qdrant_url and args.collection == settings.qdrant_collection:
        raise BrokerKGError("--to and --collection name the index BrokerKG already uses; nothing to migrate")
    with Stack(settings) as stack:
        target = QdrantServerIndex(
            make_client(args.to, args.api_key or settings.qdrant_api_key), args.collection, stack.embedder.dim,
            embedder=stack.embedder.name, shards=settings.qdrant_shards, replicas=settings.qdrant_replicas,
        )
        try:
            source_count = stack.index.count()
            copied = migrate(stack.index, target, batch=args.batch)
            target_count = target.count()
        finally:
            target.close()
    print(f"copied {copied} points to {args.to} collection {args.collection}; source {source_count}, target {target_count}")
    if target_count < source_count:
        print("error: the target has fewer points than the source; rerun the command (it is idempotent)", file=sys.stderr)
        return 1
    print(f"now set BROKERKG_QDRANT_URL={args.to} BROKERKG_QDRANT_COLLECTION={args.collection}")
    return 0


def cmd_facts_report(settings: Settings, args: argparse.Namespace) -> int:
    from brokerkg.stack import Stack
    from domain.facts import TYPES
    from retrieval.product_facts import facts_report

    with Stack(settings) as stack:
        report = facts_report(stack.graph)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return 0
    total_found = sum(len(r["found"]) for r in report)
    total_missing = sum(len(r["missing"]) for r in report)
    for r in report:
        print(f"{r['product_id']} {r['name']} ({r['category']}, {r['status']}): {len(r['found'])} facts")
        for f in r["found"]:
            print(f"  {TYPES[f['fact']].label}: {f['display']}  [{f['locator']}]")
        if r["missing"]:
            print("  MISSING: " + "、".join(TYPES[k].label for k in r["missing"]))
    print(f"{len(report)} products, {total_found} facts, {total_missing} expected facts missing")
    return 0


def _conforming(g: Any, failure: str) -> None:
    """SHACL gate of export and import: the report on stderr and ``failure`` as the error when it fails."""
    from graph import rdf

    conforms, report = rdf.validate(g)
    if not conforms:
        print(report, file=sys.stderr)
        raise BrokerKGError(failure)


def _rdf_summary(c: Any) -> str:
    return f"{c['Product']} products, {c['Document']} documents, {c['Article']} articles, {c['Clause']} clauses"


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    from brokerkg.stack import Stack
    from graph import rdf

    with Stack(settings) as stack:
        g = rdf.export_graph(stack.graph, audiences=tuple(args.audience or ()))
    if not args.no_validate:
        _conforming(g, "the export does not conform to graph/rdf/shapes.ttl; nothing written (report above)")
    text = rdf.serialize(g, args.format)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {len(g)} triples to {args.output}: {_rdf_summary(rdf.counts(g))}"
              + ("" if args.no_validate else "; SHACL: conforms"))
    else:
        sys.stdout.write(text)
    return 0


def cmd_import_rdf(settings: Settings, args: argparse.Namespace) -> int:
    from rdflib import Graph

    from brokerkg.stack import Stack
    from graph import rdf

    path = Path(args.file)
    try:
        g = Graph().parse(path, format=args.format)
    except FileNotFoundError:
        raise BrokerKGError(f"{path}: no such file") from None
    except Exception as exc:
        raise BrokerKGError(f"{path}: not valid {args.format or 'RDF'}: {exc}") from exc
    _conforming(g, f"{path} does not conform to graph/rdf/shapes.ttl; nothing imported")
    with Stack(settings) as stack:
        c = rdf.import_graph(stack.graph, g)
    print(f"imported {_rdf_summary(c)} (graph only: texts are searchable after `brokerkg ingest` of the source files)")
    return 0


# HTTP parsed in C on libuv's event loop (httptools, uvloop: ≈ 1 ms of CPU less per request than
# uvicorn's pure-Python h11 on asyncio, docs/scaling.md); named, so that a missing one stops start-up
UVICORN: dict[str, Any] = {"log_level": "warning", "http": "httptools", "loop": "uvloop"}


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from brokerkg.shared import ACTIVITY_NAME, METRICS_FOLDER, SOCKET_NAME, WORKER_ENV, ShareServer, Workers
    from brokerkg.stack import Stack
    from domain import activity

    attach = os.environ.pop(WORKER_ENV, None)
    if attach is not None:
        return _serve_worker(settings, attach)
    host = args.host or settings.host
    port = args.port or settings.port
    workers = settings.workers if args.workers is None else args.workers
    if not 0 <= workers <= 64:
        raise InputError(f"--workers must be from 0 (one per core) to 64, not {workers}")
    workers = serving_processes(workers)
    stack = Stack(settings).open()
    share: ShareServer | None = None
    pool: Workers | None = None
    listeners: list[socket.socket] = []
    try:
        app = create_app(stack, serving=True)
        config = uvicorn.Config(app, **UVICORN)
        server = uvicorn.Server(config)
        listeners = _listen(host, port, workers)
        if workers > 1:
            activity.share(stack.data_dir / ACTIVITY_NAME, 0, workers)
            app.state.metrics.share(stack.data_dir / METRICS_FOLDER, 0, first=True)
            share = ShareServer(stack.data_dir / SOCKET_NAME, {
                "index": stack.index, "conversations": stack.retriever.conversations, "limiter": app.state.limiter,
                "graph": stack, "alerts": app.state.alerts,
            })
            pool = share.targets["workers"] = Workers(listeners[1:], share.path, stopping=lambda: server.should_exit)
            pool.start()
            late = pool.wait_ready(WORKER_START_S)
            if late:
                logger.error("worker processes %s did not start within %.0f s; serving anyway (the connections given to "
                             "them wait until they do)", ", ".join(map(str, late)), WORKER_START_S)
            logger.info("%d worker processes: %s", workers - 1, ", ".join(map(str, pool.pids)))
        url_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        stack.announce(command="brokerkg serve", url=f"http://{url_host}:{port}")
        logger.info("serving on http://%s:%s (data dir %s)", host, port, settings.data_dir)
        server.run(sockets=listeners[:1])
    finally:
        if pool is not None:
            pool.stop()
        if share is not None:
            share.close()
        for listener in listeners:
            listener.close()
        stack.close()
    return 0


WORKER_START_S = 60.0  # the owner waits this long at most for its workers (one that hangs at start) before it serves


def _listen(host: str, port: int, count: int = 1) -> list[socket.socket]:
    """The listening sockets: one per serving process. Made as asyncio makes its own (protocol
    IPPROTO_TCP): asyncio sets TCP_NODELAY only on connections accepted from such a socket, and
    without it every response after a connection's first waits ≈ 40 ms for a delayed ACK.

    For more than one process, ``count`` sockets share the port (SO_REUSEPORT): the kernel spreads
    new connections over them by hash. On one shared socket, whichever process woke first took a
    whole burst of keep-alive connections (a 1,662 / 813 split measured), and kept them. A plain
    bind first checks that no other server holds the port: a re-usable port would otherwise let a
    second server on it silently share this one's traffic."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise BrokerKGError(f"cannot listen on {host}:{port}: {exc}") from exc
    # a name with both kinds of address (localhost): the IPv4 one, where the CLI and most clients go
    family, kind, proto, _, address = next((a for a in found if a[0] == socket.AF_INET), found[0])

    def bind(reuse_port: bool) -> socket.socket:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
            sock.listen(2048)
        except OSError as exc:
            sock.close()
            raise BrokerKGError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
        sock.set_inheritable(True)
        return sock

    first = bind(reuse_port=False)
    if count == 1:
        return [first]
    address = (address[0], first.getsockname()[1], *address[2:])  # the port picked for port 0
    first.close()  # the port is free: now the group that shares it
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sockets.append(bind(reuse_port=True))
    except BrokerKGError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _serve_worker(settings: Settings, attach: str) -> int:
    """A worker of ``brokerkg serve --workers N``: its socket on the port, made by the owner, and the owner's stores (brokerkg/shared.py)."""
    import uvicorn

    from api.app import create_app
    from brokerkg.shared import ACTIVITY_NAME, METRICS_FOLDER, ShareClient
    from brokerkg.stack import Attachment, Stack
    from domain import activity

    info = json.loads(attach)
    listener = socket.socket(fileno=int(info["fd"]))
    attachment = Attachment(Path(info["share"]))
    stack = Stack(settings, attachment).open()
    activity.share(stack.data_dir / ACTIVITY_NAME, int(info["process"]))
    try:
        shared = ShareClient(attachment.share_socket)
        app = create_app(stack, serving=True, shared=shared, process=int(info["process"]))
        app.state.metrics.share(stack.data_dir / METRICS_FOLDER, int(info["process"]))
        shared.call("workers", "ready", int(info["process"]))  # (its socket holds the connections meanwhile)
        uvicorn.Server(uvicorn.Config(app, **UVICORN)).run(sockets=[listener])
    finally:
        stack.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="brokerkg", description="Knowledge graph and cited answers for insurance brokers.")
    parser.add_argument("--version", action="version", version=f"brokerkg {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="ingest files or folders (MD, TXT, HTML, DOCX, PDF)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--type", choices=["regulation", "clause", "case", "auto"], default="auto")
    p.add_argument("--audience", choices=["public", "internal"], default="public")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("catalog", help="product catalog")
    catalog_sub = p.add_subparsers(dest="catalog_command", required=True)
    c = catalog_sub.add_parser("import", help="import or update products from a catalog CSV and ingest their clauses")
    c.add_argument("file", metavar="FILE.csv")
    c.set_defaults(func=cmd_catalog_import)
    c = catalog_sub.add_parser("draft", help="draft a catalog CSV from a folder of an insurer's wordings, for review")
    c.add_argument("folder", metavar="FOLDER")
    c.add_argument("-o", "--output", metavar="FILE.csv", help="default: standard output")
    c.add_argument("--id-prefix", default="P", help="product ids are PREFIX-<code from the file name> (default P)")
    c.set_defaults(func=cmd_catalog_draft)

    p = sub.add_parser("status", help="products' sale status")
    status_sub = p.add_subparsers(dest="status_command", required=True)
    c = status_sub.add_parser("sync", help="apply an insurer's stop-sale list (JSON, CSV or a 停售公告 HTML table)")
    c.add_argument("file", metavar="FILE")
    c.add_argument("--format", choices=["json", "csv", "html"], default=None, help="default: from the file")
    c.add_argument("--dry-run", action="store_true", help="show the changes without making them")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.set_defaults(func=cmd_status_sync)

    p = sub.add_parser("serve", help="serve the HTTP API and the chat UI")
    p.add_argument("--host", default=None, help="default 127.0.0.1 (BROKERKG_HOST)")
    p.add_argument("--port", type=int, default=None, help="default 8000 (BROKERKG_PORT)")
    p.add_argument("--workers", type=int, default=None, help="processes serving the data dir (default 0: one per core, at most 4; BROKERKG_WORKERS)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("ask", help="answer one question")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print the same JSON as POST /v1/ask")
    p.add_argument("--top-k", type=int, default=5)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("check", help="compliance check of a sales text (exit 0: clean, 3: findings)")
    p.add_argument("file", metavar="FILE|-", help="the text, or - for standard input")
    p.add_argument("--kind", default="message", choices=("message", "script", "poster", "comparison"))
    p.add_argument("--json", action="store_true", help="print the same JSON as POST /v1/compliance/check")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("train-checker", help="train the compliance check's learned model on labelled sales texts")
    p.add_argument("sets", nargs="+", metavar="SET.jsonl", help="labelled sets (the format brokerkg eval scores)")
    p.add_argument("--out", default=None, help="default: model.npz in the data dir's compliance rules folder")
    p.add_argument("--c", type=float, default=16.0, help="inverse regularisation strength (default 16)")
    p.set_defaults(func=cmd_train_checker)

    p = sub.add_parser("keys", help="API keys: create, list, revoke (stored hashed in the data dir)")
    keys_sub = p.add_subparsers(dest="keys_command", required=True)
    k = keys_sub.add_parser("create", help="create a key and print it once")
    k.add_argument("--role", required=True, choices=ROLES)
    k.add_argument("--name", default="", help="who or what uses it")
    k.add_argument("--owner", default=None, help="cs_bot keys: the key id of the broker who gets its stop-sale alerts")
    k = keys_sub.add_parser("list", help="list keys (never the secrets)")
    k.add_argument("--json", action="store_true")
    k = keys_sub.add_parser("revoke", help="revoke a key by its id")
    k.add_argument("key_id")
    p.set_defaults(func=cmd_keys)

    p = sub.add_parser("audit", help="the audit log")
    audit_sub = p.add_subparsers(dest="audit_command", required=True)
    a = audit_sub.add_parser("verify", help="check the hash chain: any modified, deleted, inserted or reordered record")
    a.set_defaults(func=cmd_audit)

    p = sub.add_parser("delete", help="remove documents (doc_id or ingested path) from the graph and the index")
    p.add_argument("documents", nargs="+", metavar="DOC")
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser("diff", help="clause-level changes between two versions of a document")
    p.add_argument("document", metavar="DOC", help="doc_id or the path it was ingested from")
    p.add_argument("--from", dest="old", default=None, help="old version (default: the one before the current)")
    p.add_argument("--to", dest="new", default=None, help="new version (default: the current one)")
    p.add_argument("--list", action="store_true", help="list the versions")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("doctor", help="check that the graph and the vector index agree; --repair fixes what it can")
    p.add_argument("--repair", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("facts", help="product facts read from the clauses")
    facts_sub = p.add_subparsers(dest="facts_command", required=True)
    f = facts_sub.add_parser("report", help="per product: facts found (with clause) and expected facts missing")
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=cmd_facts_report)

    p = sub.add_parser("export", help="the graph as RDF (Turtle, JSON-LD, N-Triples), checked against the SHACL shapes")
    p.add_argument("--format", choices=["turtle", "json-ld", "nt"], default="turtle")
    p.add_argument("-o", "--output", default=None, help="file to write (default: stdout)")
    p.add_argument("--audience", action="append", choices=["public", "internal"], help="only documents for this audience")
    p.add_argument("--no-validate", action="store_true", help="skip the SHACL check")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("import-rdf", help="read an RDF export back into the graph (idempotent)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--format", default=None, help="rdflib format (default: from the file name)")
    p.set_defaults(func=cmd_import_rdf)

    p = sub.add_parser("vectors", help="vector index operations")
    vectors_sub = p.add_subparsers(dest="vectors_command", required=True)
    v = vectors_sub.add_parser("migrate", help="copy the current vector index (e.g. the embedded one) to a Qdrant server")
    v.add_argument("--to", required=True, metavar="URL", help="http(s)://host:6333 (or local:<path>)")
    v.add_argument("--collection", default="brokerkg")
    v.add_argument("--api-key", default="", help="default BROKERKG_QDRANT_API_KEY")
    v.add_argument("--batch", type=int, default=256)
    v.set_defaults(func=cmd_vectors_migrate)

    p = sub.add_parser("eval", help="score a golden question set (hit@1/5, MRR, facts, flags, abstention, latency), "
                                    "a labelled set of sales texts (compliance precision and recall per rule), "
                                    "or fact extraction against fact tables (FACTS.csv … --corpus DIR)")
    p.add_argument("questions", metavar="QUESTIONS.jsonl|FACTS.csv", nargs="+")
    p.add_argument("--corpus", default=None, metavar="DIR", help="with fact tables: the folder of the wordings they annotate")
    p.add_argument("--baselines", action="store_true", help="also run BM25 only, dense only and a naive LangChain RAG")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--by-kind", action="store_true", help="break our pipeline's figures down by question kind")
    p.add_argument("--misses", action="store_true", help="list our pipeline's misses on stderr")
    p.add_argument("--split", default=None, help="--misses of this split only (dev): keep a held-out half unseen "
                                                 "(fact tables: by default splits named heldout* are never listed)")
    p.set_defaults(func=cmd_eval)
    return parser


class Terminated(Exception):
    """SIGTERM (systemd, Docker, Kubernetes): unwinds like Ctrl-C, so the stores close and the
    bundled graph server stops. uvicorn re-raises the signal after its graceful shutdown; with the
    default handler the process would die there, before ``serve`` closes its stack."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        settings = load_settings()
        quiet = args.command in ("ingest", "catalog", "status", "ask", "check", "eval", "train-checker", "keys", "audit", "doctor", "delete", "diff", "vectors", "export", "import-rdf", "facts")
        _setup_logging("WARNING" if quiet else settings.log_level, settings.log_format)
        return int(args.func(settings, args))
    except BrokerKGError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Terminated:
        return 143


if __name__ == "__main__":
    sys.exit(main())
