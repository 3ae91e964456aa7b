"""The product catalog CSV (see docs/contract): parse and validate, row by row.

A bad row is rejected with a message naming the row and column; the others are imported.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from domain.errors import InputError

COLUMNS = (
    "product_id", "name", "insurer", "category", "status", "effective_date",
    "discontinued_date", "replaced_by", "aliases", "documents",
)
REQUIRED = ("product_id", "name", "insurer", "status")
STATUSES = ("on_sale", "discontinued", "suspended")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PRODUCT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass
class CatalogRow:
    line: int
    product_id: str
    name: str
    insurer: str
    category: str
    status: str
    effective_date: str | None
    discontinued_date: str | None
    replaced_by: str | None
    aliases: list[str]
    documents: list[Path]

    def graph_row(self) -> dict[str, Any]:
        return {
            "product_id": self.product_id,
            "name": self.name,
            "insurer": self.insurer,
            "category": self.category,
            "status": self.status,
            "effective_date": self.effective_date,
            "discontinued_date": self.discontinued_date,
            "replaced_by": self.replaced_by,
            "aliases": self.aliases,
        }


@dataclass
class CatalogParse:
    rows: list[CatalogRow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def parse_iso_date(value: str) -> str:
    """'2023-06-30' → same; raises ValueError with a readable message otherwise."""
    text = value.strip()
    try:
        if not _ISO_DATE.match(text):
            raise ValueError
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise ValueError(f"'{value}' is not an ISO date (YYYY-MM-DD)") from None


def parse_catalog(path: Path, known_products: set[str]) -> CatalogParse:
    """Validate every row; ``known_products`` are ids already in the graph (valid successors)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: the catalog must be UTF-8 ({exc.reason} at byte {exc.start})") from exc
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise InputError(f"{path}: header is missing column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}")
    result = CatalogParse()
    raw_rows: list[tuple[int, dict[str, str]]] = []
    for record in reader:
        line = reader.line_num
        values = {(k or "").strip(): (v or "").strip() for k, v in record.items() if k is not None}
        if not any(values.values()):
            continue
        raw_rows.append((line, values))
    ids_in_file = {v["product_id"] for _, v in raw_rows if v.get("product_id")}
    seen: set[str] = set()
    for line, values in raw_rows:
        try:
            row = _validate(path, line, values, known_products | ids_in_file)
        except ValueError as exc:
            result.errors.append(f"{path.name}: row {line}, {exc}")
            continue
        if row.product_id in seen:
            result.errors.append(f"{path.name}: row {line}, column product_id: duplicate id '{row.product_id}'")
            continue
        seen.add(row.product_id)
        result.rows.append(row)
    return result


def _validate(path: Path, line: int, v: dict[str, str], known: set[str]) -> CatalogRow:
    for column in REQUIRED:
        if not v.get(column):
            raise ValueError(f"column {column}: required value is empty")
    if not _PRODUCT_ID.match(v["product_id"]):
        raise ValueError(f"column product_id: '{v['product_id']}' must be letters, digits, '.', '_' or '-'")
    status = v["status"]
    if status not in STATUSES:
        raise ValueError(f"column status: '{status}' is not one of {', '.join(STATUSES)}")
    dates: dict[str, str | None] = {}
    for column in ("effective_date", "discontinued_date"):
        try:
            dates[column] = parse_iso_date(v[column]) if v.get(column) else None
        except ValueError as exc:
            raise ValueError(f"column {column}: {exc}") from None
    if dates["effective_date"] and dates["discontinued_date"] and dates["discontinued_date"] < dates["effective_date"]:
        raise ValueError("column discontinued_date: is before effective_date")
    replaced_by = v.get("replaced_by") or None
    if replaced_by and replaced_by not in known:
        raise ValueError(f"column replaced_by: unknown product_id '{replaced_by}'")
    if replaced_by == v["product_id"]:
        raise ValueError("column replaced_by: a product cannot replace itself")
    aliases = [a.strip() for a in (v.get("aliases") or "").split("|") if a.strip()]
    documents = [(path.parent / d.strip()) for d in (v.get("documents") or "").split("|") if d.strip()]
    return CatalogRow(
        line=line,
        product_id=v["product_id"],
        name=v["name"],
        insurer=v["insurer"],
        category=v.get("category", ""),
        status=status,
        effective_date=dates["effective_date"],
        discontinued_date=dates["discontinued_date"],
        replaced_by=replaced_by,
        aliases=aliases,
        documents=documents,
    )
