"""Alerts to other systems: one signed JSON POST per alert and webhook, off the request thread.

The body is the alert as JSON (UTF-8, keys sorted); ``X-BrokerKG-Signature: sha256=<hex>`` is the
HMAC-SHA256 of exactly those bytes under ``BROKERKG_ALERT_WEBHOOK_SECRET``, ``X-BrokerKG-Alert-ID``
lets a receiver drop a repeat. A try fails on a connection error, a timeout or a non-2xx answer;
the next try waits ``backoff_s`` × 2^(n-1); after ``attempts`` tries the post goes to the
dead-letter record. Every try is a ``delivery`` record in the alert store, so a restarted server
resumes what is still pending.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from api.alerts.store import AlertStore

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-BrokerKG-Signature"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def webhook_body(alert: dict[str, Any]) -> bytes:
    return json.dumps({"type": "brokerkg.alert", "alert": alert}, ensure_ascii=False, sort_keys=True).encode("utf-8")


@dataclass(frozen=True)
class WebhookPolicy:
    urls: tuple[str, ...]
    secret: str
    attempts: int = 5
    backoff_s: float = 2.0
    timeout_s: float = 10.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class WebhookSender:
    """A scheduler thread hands due tries to a small pool, so one receiver that never answers holds
    up one worker for ``timeout_s``, not the others and never the status change."""

    def __init__(self, store: AlertStore, policy: WebhookPolicy, workers: int = 4) -> None:
        self.store, self.policy = store, policy
        self._due: list[tuple[float, int, str, str, int]] = []  # (when, tie, alert_id, url, attempt)
        self._tie = itertools.count()
        self._cond = threading.Condition()
        self._in_flight = 0
        self._stopped = False
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="alert-webhook")
        self._client = httpx.Client(timeout=policy.timeout_s)
        self._thread = threading.Thread(target=self._run, name="alert-webhooks", daemon=True)
        self._thread.start()

    def submit(self, alert_id: str, url: str, attempt: int = 1, delay_s: float = 0.0) -> None:
        with self._cond:
            heapq.heappush(self._due, (time.monotonic() + delay_s, next(self._tie), alert_id, url, attempt))
            self._cond.notify()

    def resume(self) -> int:
        """Queue every delivery still pending in the store (after a restart, or a CLI run that ended)."""
        count = 0
        for alert in self.store.state().alerts.values():
            for url, delivery in alert["deliveries"].items():
                if url in self.policy.urls and delivery.get("state") == "pending":
                    self.submit(alert["alert_id"], url, int(delivery.get("attempts") or 0) + 1)
                    count += 1
        return count

    def idle(self) -> bool:
        with self._cond:
            return not self._due and not self._in_flight

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no try is due or running; False when ``timeout_s`` passed first."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._due or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
            return True

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._client.close()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._due or self._due[0][0] > time.monotonic()):
                    self._cond.wait(None if not self._due else max(0.0, self._due[0][0] - time.monotonic()))
                if self._stopped:
                    return
                _, _, alert_id, url, attempt = heapq.heappop(self._due)
                self._in_flight += 1
            self._pool.submit(self._attempt, alert_id, url, attempt)

    def _attempt(self, alert_id: str, url: str, attempt: int) -> None:
        try:
            self._deliver(alert_id, url, attempt)
        except Exception:  # noqa: BLE001 (a broken store or receiver must not kill the worker)
            logger.exception("webhook delivery of alert %s failed unexpectedly", alert_id)
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    def _deliver(self, alert_id: str, url: str, attempt: int) -> None:
        alert = self.store.state().alerts.get(alert_id)
        if alert is None:
            return
        public = {k: v for k, v in alert.items() if k not in ("deliveries", "read_at", "recipient_key")}
        body = webhook_body(public)
        headers = {"Content-Type": "application/json; charset=utf-8", SIGNATURE_HEADER: sign(self.policy.secret, body),
                   "X-BrokerKG-Alert-ID": alert_id, "X-BrokerKG-Attempt": str(attempt)}
        error = None
        try:
            response = self._client.post(url, content=body, headers=headers)
            if not 200 <= response.status_code < 300:
                error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:200]
        record = {"type": "delivery", "alert_id": alert_id, "url": url, "attempts": attempt, "at": _now()}
        if error is None:
            self.store.append({**record, "state": "delivered", "error": None})
            logger.info("alert %s delivered to %s (try %d)", alert_id, url, attempt)
        elif attempt < self.policy.attempts:
            self.store.append({**record, "state": "pending", "error": error})
            self.submit(alert_id, url, attempt + 1, self.policy.backoff_s * 2 ** (attempt - 1))
            logger.warning("alert %s to %s: try %d failed (%s); retrying", alert_id, url, attempt, error)
        else:
            self.store.append({**record, "state": "dead", "error": error})
            self.store.dead_letter({"alert_id": alert_id, "url": url, "attempts": attempt, "error": error,
                                    "at": record["at"], "body": public})
            logger.error("alert %s to %s: dead after %d tries (%s)", alert_id, url, attempt, error)
