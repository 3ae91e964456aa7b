"""Compliance check of sales texts (brokers, compliance staff, admins) and its rules: listed by
whoever checks, edited by compliance staff (the file is validated, then takes effect on the next
check, no restart). The check itself is retrieval/compliance; every check is audited."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import AuditDep, ComplianceChecker, RulesWriter, StackDep
from api.schemas import (
    ComplianceCheckOut,
    ComplianceCheckRequest,
    ComplianceRuleIn,
    ComplianceRuleOut,
    ComplianceRulesOut,
)
from domain.errors import NotFoundError

router = APIRouter()


@router.post("/v1/compliance/check", response_model=ComplianceCheckOut)
def check_text(body: ComplianceCheckRequest, who: ComplianceChecker, stack: StackDep, audit: AuditDep) -> dict[str, Any]:
    """Findings in a text a broker means to send: each with its span, rule and version, severity,
    explanation, the article it breaks and, for a product, the clause or status that shows it wrong."""
    result = stack.checker.check(body.text, body.kind).to_dict()
    audit.checked(body.text, result)
    return result


@router.get("/v1/compliance/rules", response_model=ComplianceRulesOut)
def list_rules(who: ComplianceChecker, stack: StackDep) -> dict[str, Any]:
    """The rules in force now (shipped ones overridden by the data dir's files), their versions, and
    the files that did not load (by name and field; the rule keeps its last good version)."""
    book = stack.checker.book()
    model = book.model
    learned = None if model is None else {
        "sha256": model.sha, "rules": list(model.rules), "add": model.add, "veto": model.veto,
        "embedder": model.meta.get("embedder"), "trained_on": model.meta.get("sources"), "texts": model.meta.get("texts")}
    return {"rules_version": book.version, "rules": [stack.checker.describe(r) for r in book.rules.values()],
            "errors": book.errors, "model": learned}


@router.get("/v1/compliance/rules/{rule_id}", response_model=ComplianceRuleOut)
def get_rule(rule_id: str, who: ComplianceChecker, stack: StackDep) -> dict[str, Any]:
    rule = stack.checker.book().rules.get(rule_id)
    if rule is None:
        raise NotFoundError(f"rule_id: no compliance rule '{rule_id}'")
    return stack.checker.describe(rule)


@router.put("/v1/compliance/rules/{rule_id}", response_model=ComplianceRuleOut)
def put_rule(rule_id: str, body: ComplianceRuleIn, who: RulesWriter, stack: StackDep, audit: AuditDep) -> dict[str, Any]:
    """Replace (or add) one rule: its YAML is validated (a 400 names the field) and written to the
    data dir's rules folder atomically; the next check uses it."""
    rule = stack.checker.rules.save(rule_id, body.yaml)
    audit.detail["rule"] = {"id": rule.id, "rule_version": rule.version_label}
    return stack.checker.describe(rule)
