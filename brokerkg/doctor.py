"""``brokerkg doctor``: do the graph and the vector index agree? Repair what can be repaired.

Checks, per document in the graph's ledger and per point in the index:
- every chunk of a committed document (content_hash set) is in the index and live;
- no point in the index belongs to no committed document, or to an older version of one
  (orphans, duplicates of a replaced version, pending chunks of an interrupted ingest);
- no document is stuck 'processing' (an ingest interrupted mid-write).

Repairs: orphan and pending points are deleted; a stuck or incomplete document is marked
failed with the reason, its points removed, so that the next ``brokerkg ingest`` redoes it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from graph.store import GraphStore


@dataclass
class DoctorReport:
    documents: int = 0
    done: int = 0
    failed: int = 0
    points: int = 0
    orphans: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    missing: dict[str, list[str]] = field(default_factory=dict)  # doc_id → chunk ids not in the index
    interrupted: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    repaired: bool = False
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not (self.orphans or self.pending or self.missing or self.interrupted or self.duplicates)

    def to_dict(self) -> dict[str, Any]:
        return {
            "consistent": self.consistent,
            "documents": self.documents, "done": self.done, "failed": self.failed, "points": self.points,
            "orphans": len(self.orphans), "pending": len(self.pending),
            "missing": {k: len(v) for k, v in self.missing.items()}, "interrupted": self.interrupted,
            "duplicates": len(self.duplicates), "repaired": self.repaired, "failures": self.failures,
        }


def check(graph: GraphStore, index: Any, repair: bool = False) -> DoctorReport:
    report = DoctorReport()
    ledger = graph.ledger()
    report.documents = len(ledger)
    committed: dict[str, set[str]] = {}
    for row in ledger:
        if row.get("content_hash") and row.get("status") == "done":
            committed[row["doc_id"]] = set(row.get("chunk_ids") or [])
            report.done += 1
        elif row.get("status") == "processing" or (row.get("content_hash") and row.get("status") != "done"):
            report.interrupted.append(row["doc_id"])
        else:
            report.failed += 1
            report.failures.append({"doc_id": row["doc_id"], "source": row.get("source"), "reason": row.get("last_error")})
    present: dict[str, str] = {}
    identity: Counter[tuple[str, Any, Any]] = Counter()
    for pid, payload in index.points():
        report.points += 1
        doc_id = str(payload.get("doc_id"))
        present[pid] = str(payload.get("state") or "live")
        identity[(doc_id, payload.get("version"), payload.get("position"))] += 1
        if doc_id not in committed or pid not in committed[doc_id]:
            report.orphans.append(pid)
        elif payload.get("state") == "pending":
            report.pending.append(pid)
    report.duplicates = [f"{d}#{p}" for (d, _, p), n in identity.items() if n > 1]
    for doc_id, ids in committed.items():
        missing = sorted(ids - set(present))
        if missing:
            report.missing[doc_id] = missing
    if repair and not report.consistent:
        _repair(graph, index, report)
    return report


def _repair(graph: GraphStore, index: Any, report: DoctorReport) -> None:
    index.delete(report.orphans)
    index.set_payload(report.pending, {"state": "live"})  # committed in the graph: the ingest only missed its last step
    for doc_id in report.interrupted:
        graph.mark_interrupted(doc_id, "ingest interrupted; re-ingest the file")
    for doc_id in report.missing:
        graph.mark_interrupted(doc_id, "chunks missing from the vector index; re-ingest the file")
    stale = set(report.interrupted) | set(report.missing)
    if stale:
        index.delete([pid for pid, payload in index.points() if str(payload.get("doc_id")) in stale])
    report.repaired = True
