"""Where alerts live: ``<data_dir>/alerts/alerts.jsonl``, append-only, one JSON record a line.

Nothing is ever rewritten: a status change, an alert, a read mark and each webhook try are records,
and the current state is their fold. Appends are one ``write`` of whole lines, fsynced, under a
thread lock and an ``flock`` (so a CLI process and a server can share the dir); a line cut short
by a crash is skipped on reading and the next append starts on a fresh line, so nothing
half-written is ever read. Failed webhook posts also go to ``dead_letter.jsonl``.

Record types: ``event`` (a status change, before any alert is made from it), ``processed`` (its
alerts are made), ``alert``, ``read``, ``delivery`` (a webhook try: pending, delivered or dead).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api.audit import append_fsynced
from domain.errors import BrokerKGError
from domain.files import ProcessLock

logger = logging.getLogger(__name__)


@dataclass
class AlertState:
    """The fold of the log: status changes still to process, and every alert with its read mark and
    webhook deliveries (url → the latest try)."""

    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    processed: set[str] = field(default_factory=set)
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    newest: dict[tuple[str, str], str] = field(default_factory=dict)  # (recipient, product) → its newest alert

    def copy(self) -> AlertState:
        """A new snapshot to fold into: the containers are copied, the alerts are replaced, never changed."""
        return AlertState(dict(self.events), set(self.processed), dict(self.alerts), dict(self.newest))

    def pending_events(self) -> list[tuple[str, dict[str, Any]]]:
        """(event id, status change) of every change whose alerts are not made yet, oldest first."""
        return [(eid, e) for eid, e in self.events.items() if eid not in self.processed]

    def latest(self, recipient: str, product_id: str) -> dict[str, Any] | None:
        """The newest alert a recipient got about a product (a stop-sale or its correction)."""
        alert_id = self.newest.get((recipient, product_id))
        return self.alerts[alert_id] if alert_id else None

    def latest_by_recipient(self, product_id: str) -> dict[str, dict[str, Any]]:
        return {who: self.alerts[aid] for (who, pid), aid in self.newest.items() if pid == product_id}

    def apply(self, record: dict[str, Any]) -> None:
        kind = record.get("type")
        if kind == "event":
            self.events[record["event_id"]] = record["event"]
        elif kind == "processed":
            self.processed.add(record["event_id"])
        elif kind == "alert":
            alert = dict(record["alert"])
            alert.setdefault("read_at", None)
            alert.setdefault("deliveries", {})
            self.alerts[alert["alert_id"]] = alert
            self.newest[(alert["recipient_key"], alert["product_id"])] = alert["alert_id"]
        elif kind == "read" and record.get("alert_id") in self.alerts:
            self.alerts[record["alert_id"]] = {**self.alerts[record["alert_id"]], "read_at": record["at"]}
        elif kind == "delivery" and record.get("alert_id") in self.alerts:
            alert = self.alerts[record["alert_id"]]
            delivery = {k: record.get(k) for k in ("url", "state", "attempts", "error", "at")}
            self.alerts[alert["alert_id"]] = {**alert, "deliveries": {**alert["deliveries"], record["url"]: delivery}}


class AlertStore:
    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / "alerts"
        self.path = self.dir / "alerts.jsonl"
        self.dead_letter_path = self.dir / "dead_letter.jsonl"
        self._lock = threading.Lock()  # the folded state's cache
        self._flock = ProcessLock.at(self.dir / "alerts.lock")  # threads, other processes and stores on this dir
        self._cache: tuple[int, AlertState] | None = None  # (bytes folded, state)

    @contextmanager
    def locked(self) -> Iterator[AlertState]:
        """The current state, with the store locked (threads and processes) until the block ends, so
        that what is decided from the state and what is appended cannot interleave with another writer.
        An append inside the block enters the same lock again."""
        with ExitStack() as held:
            try:
                held.enter_context(self._flock)  # another process's or thread's append waits here
            except OSError as exc:
                raise BrokerKGError(f"cannot open the alert store {self.dir}: {exc.strerror or exc}") from exc
            yield self.state()

    def append(self, *records: dict[str, Any]) -> None:
        if records:
            with self.locked():
                self._write(self.path, records)

    def dead_letter(self, record: dict[str, Any]) -> None:
        with self.locked():
            self._write(self.dead_letter_path, [record])

    def _write(self, path: Path, records: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> None:
        data = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records).encode("utf-8")
        try:
            append_fsynced(path, data, fresh_line=True)
        except OSError as exc:
            raise BrokerKGError(f"cannot write the alert store {path}: {exc.strerror or exc}") from exc

    def state(self) -> AlertState:
        """The fold of the log. Only the lines appended since the last call are read; the state returned
        is a snapshot that later appends never change (they fold into a copy)."""
        with self._lock:
            try:
                size = self.path.stat().st_size
            except FileNotFoundError:
                return AlertState()
            offset, state = self._cache or (0, AlertState())
            if size < offset:  # replaced by a smaller file (a restored backup): read it all again
                offset, state = 0, AlertState()
            if size > offset:
                state = state.copy()
                offset = self._fold(offset, state)
                self._cache = (offset, state)
            return state

    def _fold(self, offset: int, state: AlertState) -> int:
        """Apply the complete lines after ``offset``; returns the offset after the last complete line."""
        with self.path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1  # a last line without one is being written or was cut short by a crash
        for line in data[:end].split(b"\n")[:-1]:
            try:
                state.apply(json.loads(line))
            except (ValueError, KeyError, TypeError):
                logger.warning("alert store: a damaged line at byte %d skipped", offset)
        return offset + end

    def dead_letters(self) -> list[dict[str, Any]]:
        if not self.dead_letter_path.exists():
            return []
        out = []
        for line in self.dead_letter_path.read_text(encoding="utf-8").split("\n"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out
