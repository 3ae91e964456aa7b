"""Sale status in sync with the insurer: read a stop-sale list and apply it to the catalog.

An insurer publishes which products stopped (or paused) selling as a JSON list (like
``insurer-lian/stop-sale-2025-08-31.json``), a CSV, or the HTML table of a 停售公告. Each listed
name is matched to exactly one catalog product, tolerant of spacing, bracket widths and the
insurer's brand in front of the name; a name that matches nothing, or several products, is
reported and never guessed. Re-applying the same list changes nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from domain.errors import InputError
from domain.files import replace_atomically
from domain.names import insurer_brand, name_key
from graph.store import GraphStore

NAME_KEYS = ("productname", "product_name", "name", "产品名称", "产品", "险种名称", "名称")
DATE_KEYS = ("salesstoptime", "stop_date", "discontinued_date", "停售日期", "停止销售日期", "停售时间", "date", "日期")
STATUS_KEYS = ("status", "状态", "销售状态")
_STATUS_WORDS = {
    "停售": "discontinued", "停止销售": "discontinued", "discontinued": "discontinued",
    "暂停销售": "suspended", "暂停": "suspended", "suspended": "suspended",
    "在售": "on_sale", "恢复销售": "on_sale", "on_sale": "on_sale",
}


@dataclass
class StatusEntry:
    """One line of an insurer's list."""

    line: int
    name: str
    status: str
    date: str | None


@dataclass
class StatusChange:
    product_id: str
    name: str
    listed_as: str
    old_status: str
    new_status: str
    old_date: str | None
    new_date: str | None


@dataclass
class SyncReport:
    source: str
    dry_run: bool
    entries: int = 0
    changed: list[StatusChange] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # product ids already as listed
    unmatched: list[str] = field(default_factory=list)  # "line N: name"
    ambiguous: list[str] = field(default_factory=list)  # "line N: name → id1, id2"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "changed": [asdict(c) for c in self.changed]}


def parse_date(value: str, where: str) -> str:
    """20250831, 2025-08-31, 2025/8/31, 2025年8月31日 → 2025-08-31."""
    text = unicodedata.normalize("NFKC", value).strip()
    m = re.fullmatch(r"(\d{4})(\d{2})(\d{2})", text) or re.fullmatch(
        r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:\s+[\d:]+)?", text
    )
    if not m:
        raise InputError(f"{where}: '{value}' is not a date (20250831, 2025-08-31 or 2025年8月31日)")
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
    except ValueError:
        raise InputError(f"{where}: '{value}' is not a valid date") from None


def _pick(record: dict[str, Any], keys: tuple[str, ...]) -> Any:
    lowered = {str(k).strip().lower(): v for k, v in record.items()}
    for key in keys:
        if key in lowered and lowered[key] not in (None, ""):
            return lowered[key]
    return None


def _entries(records: list[tuple[int, dict[str, Any]]], source: str) -> list[StatusEntry]:
    out = []
    for line, record in records:
        where = f"{source}: entry {line}"
        name = _pick(record, NAME_KEYS)
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"{where}: no product name (expected a field like {', '.join(NAME_KEYS[:4])})")
        raw_status = _pick(record, STATUS_KEYS)
        status = _STATUS_WORDS.get(str(raw_status).strip().lower(), None) if raw_status else "discontinued"
        if status is None:
            raise InputError(f"{where}: status '{raw_status}' is not one of {', '.join(sorted(set(_STATUS_WORDS)))}")
        raw_date = _pick(record, DATE_KEYS)
        when = parse_date(str(raw_date), where) if raw_date not in (None, "") else None
        out.append(StatusEntry(line, name.strip(), status, when))
    return out


def read_status_list(data: bytes, source: str, fmt: str | None = None) -> list[StatusEntry]:
    """Parse a stop-sale list; ``fmt`` json, csv or html (else guessed from ``source`` and content)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            raise InputError(f"{source}: not UTF-8 or GB18030 text") from None
    kind = (fmt or Path(source).suffix.lstrip(".") or "").lower()
    stripped = text.lstrip()
    if kind not in ("json", "csv", "html", "htm"):
        kind = "json" if stripped.startswith(("[", "{")) else "html" if stripped.startswith("<") else "csv"
    if kind == "json":
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{source}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
        if isinstance(payload, dict):  # {"products": [...]} or {"data": [...]}
            payload = next((v for v in payload.values() if isinstance(v, list)), None)
        if not isinstance(payload, list) or not all(isinstance(r, dict) for r in payload):
            raise InputError(f"{source}: expected a JSON list of objects with a product name and a stop date")
        return _entries(list(enumerate(payload, start=1)), source)
    if kind == "csv":
        reader = csv.DictReader(io.StringIO(text))
        return _entries([(reader.line_num, dict(r)) for r in reader], source)
    return _entries(_html_records(text, source), source)


def _html_records(text: str, source: str) -> list[tuple[int, dict[str, Any]]]:
    """The table of a 停售公告: the first row naming a product-name column is the header."""
    from ingest.readers import table_cells

    records: list[tuple[int, dict[str, Any]]] = []
    for table in table_cells(text):
        header: list[str] | None = None
        for i, cells in enumerate(table, start=1):
            lowered = [c.strip().lower() for c in cells]
            if header is None:
                if any(k in lowered for k in NAME_KEYS):
                    header = lowered
                continue
            if any(c.strip() for c in cells):
                records.append((i, dict(zip(header, cells, strict=False))))
    if not records:
        raise InputError(f"{source}: no table with a product-name column (产品名称) found")
    return records


class Matcher:
    """Catalog names and aliases → product ids, compared by ``name_key``; also without the brand
    (利安) that insurers put in front of some names and not others."""

    def __init__(self, products: list[dict[str, Any]]) -> None:
        self.by_key: dict[str, set[str]] = {}
        for p in products:
            brand = insurer_brand(str(p.get("insurer") or ""))
            for name in [p.get("name"), *(p.get("aliases") or [])]:
                if not name:
                    continue
                for key in _keys(str(name), brand):
                    self.by_key.setdefault(key, set()).add(str(p["product_id"]))

    def match(self, name: str) -> set[str]:
        key = name_key(name)
        found = self.by_key.get(key, set())
        if not found:
            for brand_len in (2, 3, 4):  # a listed name with a brand the catalog name does not carry
                found = self.by_key.get(key[brand_len:], set()) if len(key) > brand_len + 4 else set()
                if found:
                    break
        return found


def _keys(name: str, brand: str) -> list[str]:
    key = name_key(name)
    keys = [key]
    if brand and key.startswith(brand) and len(key) > len(brand) + 4:
        keys.append(key[len(brand):])
    return keys


def sync_status(graph: GraphStore, entries: list[StatusEntry], source: str, *, dry_run: bool = False,
                key_id: str | None = None) -> SyncReport:
    """Apply ``entries`` to the catalog: each change recorded in the product's status history."""
    report = SyncReport(source=source, dry_run=dry_run, entries=len(entries))
    products = {p["product_id"]: p for p in graph.list_products()}
    matcher = Matcher(list(products.values()))
    planned: dict[str, tuple[StatusEntry, dict[str, Any]]] = {}
    for entry in entries:
        ids = matcher.match(entry.name)
        if not ids:
            report.unmatched.append(f"line {entry.line}: {entry.name}")
            continue
        if len(ids) > 1:
            report.ambiguous.append(f"line {entry.line}: {entry.name} → {', '.join(sorted(ids))}")
            continue
        (product_id,) = ids
        planned[product_id] = (entry, products[product_id])
    for product_id, (entry, product) in planned.items():
        new_date = entry.date if entry.status != "on_sale" else None
        old_date = product.get("discontinued_date")
        if product.get("status") == entry.status and (entry.status == "on_sale" or old_date == new_date or not new_date):
            report.unchanged.append(product_id)
            continue
        report.changed.append(StatusChange(product_id, str(product.get("name") or ""), entry.name,
                                           str(product.get("status") or ""), entry.status, old_date, new_date))
        if dry_run:
            continue
        changes: dict[str, Any] = {"status": entry.status, "discontinued_date": new_date}
        graph.update_product(product_id, changes)
        graph.log_status(product_id, {**changes, "source": f"status sync: {source}", "listed_as": entry.name,
                                      "key_id": key_id, "previous_status": product.get("status")})
    return report


def content_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def feed_files(feed: str) -> list[Path]:
    """A feed entry that is a folder means every list in it (json, csv, html), newest name last."""
    path = Path(feed)
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix.lower() in (".json", ".csv", ".html", ".htm"))
    return [path]


def read_feed(feed: str, timeout_s: float = 30.0) -> list[tuple[str, bytes]]:
    """(source, bytes) of every list a feed holds: a file, a folder of lists, or an http(s) URL."""
    if feed.startswith(("http://", "https://")):
        import httpx

        try:
            response = httpx.get(feed, timeout=timeout_s, follow_redirects=True)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise InputError(f"status feed {feed}: {exc}") from exc
        kind = "html" if "html" in response.headers.get("content-type", "") else None
        name = feed if kind is None else f"{feed}#.html"
        return [(name, response.content)]
    out = []
    for path in feed_files(feed):
        try:
            out.append((str(path), path.read_bytes()))
        except OSError as exc:
            raise InputError(f"status feed {path}: {exc.strerror or exc}") from exc
    return out


class FeedPoller:
    """Polls ``BROKERKG_STATUS_FEEDS`` every ``interval_s`` seconds and applies a list whose
    content changed since it was last applied (the digests are kept in the data dir), so that an
    insurer's new stop-sale list takes effect without anyone acting."""

    def __init__(self, graph: GraphStore, feeds: list[str], state_file: Path, interval_s: float,
                 lock: Any = None) -> None:
        self.graph, self.feeds, self.state_file, self.interval_s = graph, feeds, state_file, interval_s
        self.lock = lock
        self._stop: Any = None
        self._thread: Any = None

    def _state(self) -> dict[str, str]:
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def poll_once(self) -> list[SyncReport]:
        import logging

        log = logging.getLogger(__name__)
        state = self._state()
        reports = []
        for feed in self.feeds:
            try:
                lists = read_feed(feed)
            except InputError as exc:
                log.warning("%s", exc)
                continue
            for source, data in lists:
                digest = content_digest(data)
                if state.get(source) == digest:
                    continue
                try:
                    entries = read_status_list(data, source)
                    if self.lock is not None:
                        with self.lock:
                            report = sync_status(self.graph, entries, source)
                    else:
                        report = sync_status(self.graph, entries, source)
                except InputError as exc:
                    log.warning("status feed: %s", exc)
                    continue
                state[source] = digest
                reports.append(report)
                log.info("status feed %s: %d changed, %d unchanged, %d unmatched, %d ambiguous", source,
                         len(report.changed), len(report.unchanged), len(report.unmatched), len(report.ambiguous))
        replace_atomically(self.state_file, json.dumps(state, ensure_ascii=False, indent=1))
        return reports

    def start(self) -> None:
        import threading

        self._stop = threading.Event()

        def run() -> None:
            while not self._stop.is_set():
                try:
                    self.poll_once()
                except Exception:  # noqa: BLE001 (a feed problem must never stop the server)
                    import logging

                    logging.getLogger(__name__).exception("status feed poll failed")
                self._stop.wait(self.interval_s)

        self._thread = threading.Thread(target=run, name="status-feeds", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
