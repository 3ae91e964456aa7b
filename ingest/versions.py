"""Clause-level differences between two versions of a document (compliance: what changed in the wording)."""

from __future__ import annotations

import difflib
from typing import Any

from domain.errors import InputError, NotFoundError


def diff_versions(versions: list[dict[str, Any]], old: str | None = None, new: str | None = None) -> dict[str, Any]:
    """Sections added, removed and changed between ``old`` and ``new`` (default: the last two versions)."""
    if not versions:
        raise NotFoundError("no versions recorded for this document")
    by_id = {v["version"]: v for v in versions}
    if len(versions) < 2 and not (old and new):
        raise InputError("only one version recorded: nothing to compare")
    a = by_id.get(old) if old else versions[-2]
    b = by_id.get(new) if new else versions[-1]
    if a is None or b is None:
        known = ", ".join(by_id)
        raise InputError(f"unknown version {old if a is None else new!r}; known: {known}")
    sa = {s["locator"]: s for s in a["sections"]}
    sb = {s["locator"]: s for s in b["sections"]}
    changed = []
    for loc in [s["locator"] for s in b["sections"]]:
        if loc in sa and sa[loc]["text"] != sb[loc]["text"]:
            lines = difflib.unified_diff(sa[loc]["text"].splitlines(), sb[loc]["text"].splitlines(), lineterm="",
                                         fromfile=f"{a['version']} {loc}", tofile=f"{b['version']} {loc}")
            changed.append({"locator": loc, "old": sa[loc]["text"], "new": sb[loc]["text"], "diff": "\n".join(lines)})
    return {
        "from": {"version": a["version"], "ingested_at": a["ingested_at"]},
        "to": {"version": b["version"], "ingested_at": b["ingested_at"]},
        "added": [sb[loc] for loc in sb if loc not in sa],
        "removed": [sa[loc] for loc in sa if loc not in sb],
        "changed": changed,
        "unchanged": sum(1 for loc in sb if loc in sa and sa[loc]["text"] == sb[loc]["text"]),
    }


def filing_versions(filings: list[tuple[str, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """A product's wording filed several times, as versions to diff: each filing (its number as the
    version) with the sections of its document's latest ingest, oldest filing first."""
    out = []
    for filing_no, versions in filings:
        if versions:
            latest = versions[-1]
            out.append({"version": filing_no, "ingested_at": latest["ingested_at"], "sections": latest["sections"]})
    return out
