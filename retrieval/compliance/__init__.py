"""Compliance check of sales texts: rules as data files, three kinds of checks, one finding shape."""

from retrieval.compliance.engine import Checker, CheckResult, Finding
from retrieval.compliance.rules import PACKAGED, Rule, RuleBook, RuleStore, parse_rule

__all__ = ["PACKAGED", "CheckResult", "Checker", "Finding", "Rule", "RuleBook", "RuleStore", "parse_rule"]
