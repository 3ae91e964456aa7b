"""The audit log: one record per request, append-only, hash-chained.

Each line of ``<data_dir>/audit/audit.jsonl`` is a JSON record with ``seq`` (1, 2, 3 …),
``prev`` (the previous record's hash) and ``hash`` = SHA-256 of the record without ``hash``,
serialised canonically. ``head.json`` holds the last seq and hash. Verification walks the
chain: a modified record breaks its hash, a deleted or inserted one breaks ``seq``/``prev``,
a reordering breaks both, and cutting records off the end disagrees with the head.

Records hold the masked question, never the raw one. Processing records are kept (PIPL
requires at least three years); nothing in BrokerKG deletes them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from domain.errors import BrokerKGError
from domain.files import ProcessLock, replace_atomically

logger = logging.getLogger(__name__)

GENESIS = "0" * 64


def _digest(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def append_fsynced(path: Path, data: bytes, *, fresh_line: bool = False) -> int:
    """Append ``data`` (whole lines) in one write and fsync it, and return the file's size before
    it; raises OSError, after cutting the file back to that size (a failed append leaves no part of
    itself behind). The caller holds the file's lock. ``fresh_line``: when the file's last line was
    cut short by a crash, start on a new line so that no record is glued to it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        size = os.fstat(fd).st_size
        if fresh_line and size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        try:
            written = os.write(fd, data)
            while written < len(data):
                written += os.write(fd, data[written:])
            os.fsync(fd)
        except OSError:
            _cut(path, size)
            raise
        return size
    finally:
        os.close(fd)


def _cut(path: Path, size: int) -> None:
    """Truncate ``path`` back to ``size`` bytes, as far as the disk lets us."""
    try:
        os.truncate(path, size)
    except OSError as exc:
        logger.error("%s: could not remove a failed write (%s)", path, exc)


class AuditWriter:
    """The app's audit thread. The records of responses that start while it writes are written
    next, together: one write and one fsync for all of them (group commit). Each response still
    waits until its own record is on disk, and records keep the order their responses started in.
    Started at the first record; ``close`` writes what is waiting and ends the thread."""

    def __init__(self, log: AuditLog, most: int = 64) -> None:
        self.log = log
        self.most = most  # records in one write at most
        self._waiting: list[tuple[dict[str, Any], Future[dict[str, Any]]]] = []
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, entry: dict[str, Any]) -> Future[dict[str, Any]]:
        """The record of ``entry``, once it is on disk (or the BrokerKGError that kept it off)."""
        future: Future[dict[str, Any]] = Future()
        with self._ready:
            if self._closed:
                raise BrokerKGError("the audit writer is closed: the app is shutting down")
            self._waiting.append((entry, future))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="audit", daemon=True)
                self._thread.start()
            self._ready.notify()
        return future

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._waiting and not self._closed:
                    self._ready.wait()
                if not self._waiting:
                    return
                batch, self._waiting = self._waiting[: self.most], self._waiting[self.most :]
            # From here a future cannot be cancelled (a client that went away cancels its wait): its
            # request was served, so its record is written all the same, and nobody is told.
            waiting = [future.set_running_or_notify_cancel() for _, future in batch]
            try:
                outcomes = self._write([entry for entry, _ in batch])
            except BaseException as exc:  # whatever it is, each waiting response learns it
                outcomes = [exc] * len(batch)
            for (_, future), told, outcome in zip(batch, waiting, outcomes, strict=True):
                if not told:
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    def _write(self, entries: list[dict[str, Any]]) -> list[dict[str, Any] | BaseException]:
        """The records, or for each entry what kept it off disk. A batch that fails for a reason
        other than the disk (a value that is not JSON, say) is written one by one, so that only
        the entry at fault fails."""
        try:
            return list(self.log.append_many(entries))
        except BrokerKGError:
            raise
        except Exception:
            if len(entries) == 1:
                raise
        out: list[dict[str, Any] | BaseException] = []
        for entry in entries:
            try:
                out.append(self.log.append(entry))
            except Exception as exc:  # handed to the entry's response
                out.append(exc)
        return out

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()


@dataclass
class VerifyReport:
    records: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class AuditLog:
    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / "audit"
        self.path = self.dir / "audit.jsonl"
        self.head_path = self.dir / "head.json"
        self.lock_path = self.dir / "audit.lock"
        self._lock = ProcessLock.at(self.lock_path)  # threads, apps and processes on one log

    def _head(self) -> tuple[int, str]:
        if self.head_path.exists():
            head = json.loads(self.head_path.read_text(encoding="utf-8"))
            return int(head["seq"]), str(head["hash"])
        return 0, GENESIS

    def append(self, entry: dict[str, Any], *, at: datetime | None = None) -> dict[str, Any]:
        """Write one record (one write, fsynced) and return it. Safe across threads, apps and processes.

        ``at``: the record's time (default now), the one clock parameter, for records written on
        behalf of an earlier moment (tests of the alerts' look-back window, imports)."""
        return self.append_many([entry], at=at)[0]

    def append_many(self, entries: list[dict[str, Any]], *, at: datetime | None = None) -> list[dict[str, Any]]:
        """Write the records of ``entries``, chained in their order, in one write and one fsync."""
        try:
            with self._lock:
                seq, prev = self._head()  # re-read: another writer may have appended
                time = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="milliseconds")
                records = []
                for entry in entries:
                    seq += 1
                    record = {"seq": seq, "time": time, **entry, "prev": prev}
                    record["hash"] = prev = _digest(record)
                    records.append(record)
                lines = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
                size = append_fsynced(self.path, lines.encode("utf-8"), fresh_line=True)
                try:
                    replace_atomically(self.head_path, json.dumps({"seq": seq, "hash": prev}))
                except OSError:
                    # records on disk that the head does not name would be chained again by the next
                    # write (the same seq and prev): the log goes back to what the head names
                    _cut(self.path, size)
                    raise
        except OSError as exc:
            raise BrokerKGError(f"cannot write the audit log {self.path}: {exc.strerror or exc}") from exc
        return records

    def records(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip() and line.endswith("\n"):  # a last line without one is still being written
                    yield json.loads(line)

    def query(self, *, key_id: str | None = None, role: str | None = None, endpoint: str | None = None,
              status: int | None = None, since: str | None = None, until: str | None = None,
              doc_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        out = []
        for r in self.records():
            if key_id and r.get("key_id") != key_id:
                continue
            if role and r.get("role") != role:
                continue
            if endpoint and r.get("endpoint") != endpoint:
                continue
            if status is not None and r.get("status") != status:
                continue
            if since and str(r.get("time", "")) < since:
                continue
            if until and str(r.get("time", "")) > until:
                continue
            if doc_id and doc_id not in [s.get("doc_id") for s in r.get("sources", [])]:
                continue
            out.append(r)
        return out[-limit:]

    def verify(self) -> VerifyReport:
        report = VerifyReport()
        prev, expected = GENESIS, 1
        try:
            # Records end in "\n" only; str.splitlines would also split inside a record at U+2028 and kin.
            text = self.path.read_text(encoding="utf-8") if self.path.exists() else ""
            lines = text.split("\n")[:-1] if text.endswith("\n") else text.split("\n") if text else []
        except OSError as exc:
            report.problems.append(f"cannot read {self.path}: {exc}")
            return report
        for number, line in enumerate(lines, 1):
            if not line.strip():
                report.problems.append(f"line {number}: empty line")
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                report.problems.append(f"line {number}: not JSON")
                continue
            report.records += 1
            seq = record.get("seq")
            if seq != expected:
                report.problems.append(f"line {number}: seq {seq}, expected {expected} (record deleted, inserted or moved)")
            if record.get("prev") != prev:
                report.problems.append(f"line {number} (seq {seq}): does not follow the previous record")
            if record.get("hash") != _digest(record):
                report.problems.append(f"line {number} (seq {seq}): content does not match its hash (modified)")
            prev = str(record.get("hash"))
            expected = (seq if isinstance(seq, int) else expected) + 1
        if self.head_path.exists():
            head = json.loads(self.head_path.read_text(encoding="utf-8"))
            if head.get("seq") != report.records or head.get("hash") != prev:
                report.problems.append(
                    f"head says seq {head.get('seq')}, the log ends at {report.records} (records cut off the end?)"
                )
        elif report.records:
            report.problems.append("head.json is missing")
        return report
