"""Documents read back from the vector index: each chunk's payload keeps its text, so a document
is rebuilt in reading order without the source file."""

from __future__ import annotations

from typing import Any

from index.vectors.base import SearchFilter, VectorIndex


def document_sections(index: VectorIndex, doc_ids: list[str], audiences: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The documents' sections in reading order: doc_id, title, locator, heading and text (the chunks
    of one section joined), with the chunk ids; ``audiences`` limits them to what a caller may see."""
    if not doc_ids:
        return []
    flt = SearchFilter(doc_ids=tuple(doc_ids), audiences=audiences, current_only=False)
    chunks = sorted(index.payloads(flt), key=lambda p: (p["doc_id"], int(p.get("position") or 0)))
    sections: list[dict[str, Any]] = []
    for c in chunks:
        last = sections[-1] if sections else None
        if last and last["doc_id"] == c["doc_id"] and last["locator"] == c.get("locator"):
            last["text"] += "\n" + c["text"]
            last["chunk_ids"].append(c["chunk_id"])
            continue
        sections.append({
            "doc_id": c["doc_id"], "title": c.get("title"), "locator": c.get("locator") or "",
            "heading": c.get("heading") or "", "text": c["text"], "chunk_ids": [c["chunk_id"]],
        })
    return sections
