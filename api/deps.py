"""The routes' dependencies: the app's state (set up by ``create_app``), the caller and what it may
do, and the detail a request adds to its audit record.

Those that only read the app's state are ``async``: FastAPI runs them on the event loop, where they
cost a function call, instead of sending each to the thread pool (a hop there and back per
dependency and request, which under load was most of the loop's time in ``solve_dependencies``).
The caller's check stays a plain function, run in the pool: it reads the key file's time stamp and,
in a worker of ``serve --workers N``, asks the owner's rate limiter over a socket.

A route names its permission by the caller type it takes (``who: AskCaller``); permissions per
role are the table in api/security.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from api.alerts.service import AlertService
from api.audit import AuditLog
from api.observability import Metrics
from api.security import Principal, check, principal_for
from brokerkg.stack import Stack
from domain.files import ProcessLock
from domain.mask import mask_pii


async def get_stack(request: Request) -> Stack:
    stack: Stack = request.app.state.stack
    return stack


async def get_audit_log(request: Request) -> AuditLog:
    log: AuditLog = request.app.state.audit
    return log


async def get_alerts(request: Request) -> AlertService:
    service: AlertService = request.app.state.alerts
    return service


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


async def get_write_lock(request: Request) -> ProcessLock:
    """Ingest, catalog imports and deletes run one at a time (across the processes serving a data dir)."""
    lock: ProcessLock = request.app.state.write_lock
    return lock


def allow(permission: str) -> Callable[[Request], Principal]:
    """A dependency: the caller (401 without a valid key), checked for ``permission`` (403) and
    counted against its key's rate limit (429). Without keys, loopback callers are ``local``
    admins and no rate limit applies, so batch clients on the same machine are never refused."""

    def caller(request: Request) -> Principal:
        host = request.client.host if request.client else ""
        principal = principal_for(request.app.state.keys, request.headers, host)
        request.state.principal = principal  # for the audit record, whatever happens next
        check(principal, permission)
        if principal.key_id != "local":  # the key-less loopback mode has no rate limit (contract.md)
            request.app.state.limiter.take(principal.key_id)
        return principal

    return caller


class AuditDetail:
    """What a request's audit record says beyond who, what and the status: the question (masked),
    the sources the answer rests on and the products it flagged."""

    def __init__(self, detail: dict[str, Any]) -> None:
        self.detail = detail

    def answered(self, question: str | None, data: dict[str, Any] | None = None, named: list[str] | None = None) -> None:
        """``data``: an answer (citations, flags) or search result (hits, flags); ``named``: the
        products the question names. An answer's products (named, cited or flagged) are what a
        stop-sale alert later looks for."""
        if question is not None:
            self.detail["question"] = mask_pii(question)
        if data:
            cites = data.get("citations") or data.get("hits") or []
            self.detail["sources"] = [{"doc_id": c["doc_id"], "locator": c.get("locator")} for c in cites]
            self.detail["flags"] = [f["product_id"] for f in data.get("flags", []) if f.get("product_id")]
            if "citations" in data:
                cited = [c.get("product_id") for c in cites if c.get("doc_type", "clause") == "clause"]
                self.involved([*(named or []), *(p for p in cited if p)], data.get("flags", []))

    def involved(self, product_ids: list[str], flags: list[dict[str, Any]]) -> None:
        """The products an answer, comparison, match list or product page told the caller about;
        ``flags`` those it told were off sale (a regulation's flag names no product)."""
        flagged = [f["product_id"] for f in flags if f.get("product_id")]
        self.detail["products"] = list(dict.fromkeys([*product_ids, *flagged]))
        self.detail["flags"] = flagged

    def checked(self, text: str, result: dict[str, Any]) -> None:
        """A compliance check: the text (masked), what was found and the rule versions it rests on."""
        self.detail["question"] = mask_pii(text)
        findings = result.get("findings", [])
        self.detail["findings"] = [{"rule": f["rule"], "rule_version": f["rule_version"], "start": f["start"],
                                    "end": f["end"], "product_id": f.get("product_id")} for f in findings]
        self.detail["sources"] = [{"doc_id": c["doc_id"], "locator": c.get("locator")}
                                  for f in findings for c in f.get("citations", []) if c.get("doc_id")]
        self.detail["rules_version"] = result.get("rules_version")
        self.involved([f["product_id"] for f in findings if f.get("product_id")], result.get("flags", []))

    def read(self, doc_id: str) -> None:
        """A whole document was read."""
        self.detail["sources"] = [{"doc_id": doc_id, "locator": None}]


async def get_audit_detail(request: Request) -> AuditDetail:
    return AuditDetail(request.state.audit)  # the audit middleware starts it empty


StackDep = Annotated[Stack, Depends(get_stack)]
AuditLogDep = Annotated[AuditLog, Depends(get_audit_log)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
WriteLockDep = Annotated[ProcessLock, Depends(get_write_lock)]
AuditDep = Annotated[AuditDetail, Depends(get_audit_detail)]
AlertsDep = Annotated[AlertService, Depends(get_alerts)]

AskCaller = Annotated[Principal, Depends(allow("ask"))]
SearchCaller = Annotated[Principal, Depends(allow("search"))]
ProductsReader = Annotated[Principal, Depends(allow("products.read"))]
ProductsWriter = Annotated[Principal, Depends(allow("products.write"))]
DocumentsReader = Annotated[Principal, Depends(allow("documents.read"))]
DocumentsWriter = Annotated[Principal, Depends(allow("documents.write"))]
Ingester = Annotated[Principal, Depends(allow("ingest"))]
AuditReader = Annotated[Principal, Depends(allow("audit.read"))]
MetricsReader = Annotated[Principal, Depends(allow("metrics"))]
AlertsReader = Annotated[Principal, Depends(allow("alerts.read"))]
ComplianceChecker = Annotated[Principal, Depends(allow("compliance.check"))]
RulesWriter = Annotated[Principal, Depends(allow("compliance.rules.write"))]
