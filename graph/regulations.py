"""Regulations as current law: repeal links written with a regulation, and its status read now.

The status is computed at read time (``domain.regulations.legal_status``): repealed when a manifest
declared it or an ingested rule repeals it, not yet effective while its effective date is to come.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from domain.regulations import (
    KnownRegulation,
    RegulationStatus,
    doc_no_key,
    legal_status,
    repeal_target,
    stub_id,
    stub_is,
    title_key,
    title_keys,
)
from domain.types import Document
from graph import queries as q
from graph.base import GraphExecutor

Statements = list[tuple[str, dict[str, Any]]]


def regulation_props(doc: Document) -> dict[str, Any]:
    """The regulation's metadata as document properties (None removes a property a version had)."""
    meta = doc.regulation
    if meta is None:
        return {}
    return {
        "level": meta.level, "doc_no": meta.doc_no, "doc_no_key": doc_no_key(meta.doc_no),
        "published": meta.published, "effective": meta.effective, "amended": meta.amended,
        "legal_status": meta.declared_status, "repealed_by": meta.repealed_by,
        "title_keys": title_keys(doc.title, meta.title),
    }


def _known(row: dict[str, Any]) -> KnownRegulation:
    return KnownRegulation(
        doc_id=row["doc_id"], title_keys=tuple(row.get("title_keys") or ()), doc_no_key=row.get("doc_no_key"),
        published=row.get("published"), effective=row.get("effective"), stub=bool(row.get("stub")),
        repealed_on=row.get("repealed_on"),
    )


class RegulationGraph:
    """Regulation status and repeal links; part of ``GraphStore``."""

    executor: GraphExecutor

    def known_regulations(self) -> list[KnownRegulation]:
        return [_known(r) for r in self.executor.run(q.KNOWN_REGULATIONS)]

    def repeal_statements(self, doc: Document) -> Statements:
        """For the one-transaction write of ``doc``: its REPEALS edges (to the rule it names, or a stub),
        and the stubs that stood for ``doc`` itself replaced by it."""
        meta = doc.regulation
        out: Statements = [(q.DELETE_REPEALS, {"doc_id": doc.doc_id})]
        if meta is None:
            return out
        known = [k for k in self.known_regulations() if k.doc_id != doc.doc_id]
        for rule in meta.repeals:
            target = repeal_target(rule, doc.doc_id, meta.effective, known)
            if target:
                out.append((q.LINK_REPEALS, {"doc_id": doc.doc_id, "target": target}))
                continue
            out.append((q.REPEAL_STUB, {
                "doc_id": doc.doc_id, "stub_id": stub_id(rule), "title": rule.title, "doc_no": rule.doc_no,
                "title_keys": title_keys(rule.title), "doc_no_key": doc_no_key(rule.doc_no),
                "repealed_on": meta.effective,
            }))
        me = _known({"doc_id": doc.doc_id, **regulation_props(doc)})
        for stub in (k for k in known if k.stub):
            repealers = [r["doc_id"] for r in self.executor.run(q.STUB_REPEALERS, {"stub_id": stub.doc_id})]
            if stub_is(stub, me, repealers):
                params = {"stub_id": stub.doc_id, "doc_id": doc.doc_id}
                out += [(q.REPOINT_STUB, params), (q.DELETE_STUB, params)]
        out.append((q.DELETE_ORPHAN_STUBS, {}))
        return out

    def regulation_statuses(self, doc_ids: list[str] | None = None, today: date | None = None) -> dict[str, RegulationStatus]:
        """doc_id → the regulation's status now (``doc_ids`` None: every regulation, stubs included)."""
        if doc_ids is not None and not doc_ids:
            return {}
        rows = self.executor.run(q.REGULATION_STATUS, {"ids": doc_ids})
        return {r["doc_id"]: _status(r, today) for r in rows}

    def regulation_status(self, titles: list[str], today: date | None = None) -> dict[str, RegulationStatus]:
        """Each title (as given) → the regulation it names, matched exactly, then ignoring 《》, spaces,
        bracket widths, a leading 中华人民共和国 and a version note (（2015年修订）). Titles that match
        nothing are left out. Of several matches, an ingested rule before one known only as repealed,
        one in force before the others, the latest effective first."""
        if not titles:
            return {}
        rows = self.executor.run(q.REGULATION_STATUS, {"ids": None})
        statuses = [(r, _status(r, today)) for r in rows]
        out: dict[str, RegulationStatus] = {}
        for title in titles:
            exact = [s for r, s in statuses if r.get("title") == title]
            keys = set(title_keys(title))
            loose = [s for r, s in statuses if keys & set(r.get("title_keys") or [title_key(r.get("title") or "")])]
            found = exact or loose
            if found:
                found.sort(key=lambda s: s.effective or "", reverse=True)
                found.sort(key=lambda s: (not s.ingested, not s.in_force))  # stable: latest first within
                out[title] = found[0]
        return out


def _status(row: dict[str, Any], today: date | None) -> RegulationStatus:
    repealed_by = row.get("repealed_by") or next(iter(sorted(row.get("repealers") or [])), None)
    return RegulationStatus(
        title=row.get("title") or "", doc_id=row["doc_id"], level=row.get("level"), doc_no=row.get("doc_no"),
        published=row.get("published"), effective=row.get("effective"),
        status=legal_status(row.get("declared"), row.get("effective"), repealed_by, today),
        repealed_by=repealed_by, amended=row.get("amended"), ingested=not row.get("stub"),
    )
