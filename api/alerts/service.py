"""Stop-sale alerts: who was told about a product that has just left sale, found in the audit trail.

Every status route ends in ``GraphStore.log_status`` (PATCH, catalog import, status sync, the polled
feed), which tells the stack's status listeners. The listener here only appends the change to the
alert store (one fsynced line) and wakes a worker thread, so the change is never slowed by the
audit scan or a webhook. The worker then:

- **stop-sale** (to ``discontinued``/``suspended``): every successful audit record of the look-back
  window (``BROKERKG_ALERT_WINDOW_DAYS`` before the change) whose ``products`` hold the product and
  whose ``flags`` do not (the caller was told it was on sale) names a recipient: the key, or for a
  cs_bot key its owner (``brokerkg keys create --role cs_bot --owner KEY_ID``), with the broker a
  shared key or chat client names (``X-Broker-ID``). One alert per recipient and product: a
  recipient whose newest alert about it is a stop-sale gets none, so a change that arrives twice
  (a replayed list, a repeated PATCH, a re-import) raises nothing new.
- **correction** (back to ``on_sale``): everyone whose newest alert about it is a stop-sale.

An alert keeps the audit records (seq, hash) that told the recipient, so compliance can rebuild what
was said. A status change recorded but not yet processed (a crash, a CLI run that ended) is processed
when the service next starts. One service per data dir (``attach``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from api.alerts.store import AlertState, AlertStore
from api.alerts.webhooks import WebhookPolicy, WebhookSender
from api.audit import AuditLog
from api.security import KeyStore
from brokerkg.settings import Settings
from brokerkg.stack import Stack
from domain.alerts import CORRECTION, STOP_SALE, StatusEvent, alert_message
from domain.errors import BrokerKGError
from domain.mask import mask_pii

logger = logging.getLogger(__name__)

# recipient key → (who: key_id, broker, via_key_id; the audit records that told them)
Told = dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]

_SERVICES: dict[str, AlertService] = {}
_SERVICES_GUARD = threading.Lock()


def _time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def recipient_key(key_id: str, broker: str | None) -> str:
    return f"{key_id}/{broker}" if broker else key_id


class AlertService:
    def __init__(self, data_dir: Path, settings: Settings, relay: Callable[[], None] | None = None) -> None:
        """``relay``: a worker of ``brokerkg serve --workers N`` records status changes and wakes the
        owner's service with it; only the owner makes alerts and sends webhooks (none sent twice)."""
        self.relay = relay
        self.store = AlertStore(data_dir)
        self.audit = AuditLog(data_dir)
        self.keys = KeyStore(data_dir)
        self.window = timedelta(days=settings.alert_window_days)
        urls = tuple(settings.webhook_urls)
        self.webhooks = WebhookSender(self.store, WebhookPolicy(
            urls, settings.alert_webhook_secret, settings.alert_webhook_attempts, settings.alert_webhook_backoff_s,
            settings.alert_webhook_timeout_s,
        )) if urls and relay is None else None
        self._cond = threading.Condition()
        self._queued = 0
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="stop-sale-alerts", daemon=True)

    def start(self) -> AlertService:
        if self.relay is not None:
            return self
        with self._cond:
            self._queued += len(self.store.state().pending_events())  # left over from a crash or a CLI run
        self._thread.start()
        if self.webhooks is not None:
            resumed = self.webhooks.resume()
            if resumed:
                logger.info("resuming %d pending webhook deliveries", resumed)
        return self

    # --- the listener: on the status change's own thread, so it only records and wakes ----------

    def on_status(self, event: StatusEvent) -> None:
        try:
            self.store.append({"type": "event", "event_id": uuid.uuid4().hex, "event": event.to_dict()})
        except BrokerKGError as exc:  # the change itself stands; say loudly that no alert will follow
            logger.error("stop-sale alerts for %s not recorded: %s", event.product_id, exc)
            return
        if self.relay is not None:
            try:
                self.relay()
            except BrokerKGError as exc:  # recorded: the owner takes it at its next wake or start
                logger.warning("stop-sale alerts for %s wait for the owning process: %s", event.product_id, exc)
            return
        self.wake()

    def wake(self) -> None:
        """Changes were recorded (here or by a worker): process them."""
        with self._cond:
            self._queued += 1
            self._cond.notify_all()

    # --- the worker --------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queued and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                taken = self._queued  # changes recorded meanwhile are in the store: the next round takes them
            try:
                self.process_pending()
            except Exception:  # noqa: BLE001 (the worker must outlive one bad change; the event stays pending)
                logger.exception("stop-sale alerts: processing failed")
                with self._cond:
                    self._cond.wait(1.0)
                continue
            with self._cond:
                self._queued -= taken
                self._cond.notify_all()

    def process_pending(self) -> list[dict[str, Any]]:
        """Make the alerts of every recorded change not yet processed (one pass over the audit trail
        for all of them: a status list may change many products at once); returns the new alerts."""
        pending = [(eid, StatusEvent.from_dict(e)) for eid, e in self.store.state().pending_events()]
        told = self._told([event for _, event in pending if event.off_sale])
        made: list[dict[str, Any]] = []
        for event_id, event in pending:
            made += self._process(event, event_id, told.get(id(event), {}))
        return made

    def _process(self, event: StatusEvent, event_id: str, told: Told) -> list[dict[str, Any]]:
        with self.store.locked() as state:
            if event_id in state.processed:
                return []
            alerts = self._alerts_for(event, event_id, state, told)
            records: list[dict[str, Any]] = [{"type": "alert", "alert": a} for a in alerts]
            for alert in alerts:
                for url in self.webhooks.policy.urls if self.webhooks else ():
                    records.append({"type": "delivery", "alert_id": alert["alert_id"], "url": url, "state": "pending",
                                    "attempts": 0, "error": None, "at": alert["created_at"]})
            records.append({"type": "processed", "event_id": event_id, "alerts": [a["alert_id"] for a in alerts]})
            self.store.append(*records)
        if alerts:
            logger.info("%s of %s: %d alert(s)", event.status, event.product_id, len(alerts))
        for alert in alerts:
            for url in self.webhooks.policy.urls if self.webhooks else ():
                self.webhooks.submit(alert["alert_id"], url)  # type: ignore[union-attr]
        return alerts

    def _told(self, events: list[StatusEvent]) -> dict[int, Told]:
        """For each event (by ``id``): recipient → (who, the audit records of the window that told them
        the product was on sale)."""
        out: dict[int, Told] = {}
        if not events:
            return out
        windows = [(event, _time(event.at) - self.window, _time(event.at)) for event in events]
        for record in self.audit.records():
            products = record.get("products")
            if not products or not record.get("key_id") or not record.get("time") or int(record.get("status") or 500) >= 400:
                continue
            flagged = record.get("flags") or []
            when = None
            for event, since, until in windows:
                if event.product_id not in products or event.product_id in flagged:
                    continue
                when = when or _time(str(record.get("time")))
                if since <= when <= until:
                    self._add_recipient(out.setdefault(id(event), {}), record, event.product_id)
        return out

    def _add_recipient(self, told: Told, record: dict[str, Any], product_id: str) -> None:
        key_id = record["key_id"]
        owner = self.keys.owner_of(key_id) if record.get("role") == "cs_bot" else key_id
        if owner is None:
            logger.warning("cs_bot key %s has no owner: its stop-sale alert for %s goes to compliance only", key_id, product_id)
        broker = record.get("broker") if owner == key_id else None
        key = recipient_key(owner or f"unowned:{key_id}", broker)
        who = {"key_id": owner, "broker": broker, "via_key_id": key_id if owner != key_id else None}
        told.setdefault(key, (who, []))[1].append(
            {"seq": record.get("seq"), "hash": record.get("hash"), "time": record.get("time"), "endpoint": record.get("endpoint")}
        )

    def _alerts_for(self, event: StatusEvent, event_id: str, state: AlertState, told: Told) -> list[dict[str, Any]]:
        out = []
        if event.off_sale:
            for key, (who, records) in told.items():
                last = state.latest(key, event.product_id)
                if last is None or last["kind"] != STOP_SALE:
                    out.append(self._alert(STOP_SALE, event, event_id, key, who, records))
        elif event.status == "on_sale":
            for key, last in state.latest_by_recipient(event.product_id).items():
                if last["kind"] == STOP_SALE:
                    out.append(self._alert(CORRECTION, event, event_id, key, last["recipient"], last["audit_records"]))
        return out

    def _alert(self, kind: str, event: StatusEvent, event_id: str, key: str, who: dict[str, Any],
               records: list[dict[str, Any]]) -> dict[str, Any]:
        when = event.discontinued_date if kind == STOP_SALE and event.discontinued_date else event.at[:10]
        successor = {"product_id": event.successor_id, "name": event.successor_name} if event.successor_id else None
        name = mask_pii(self.keys_name(who.get("key_id")))
        return {
            "alert_id": hashlib.sha256(f"{key}|{event.product_id}|{kind}|{event_id}".encode()).hexdigest()[:16],
            "kind": kind, "recipient_key": key,
            "recipient": {**who, "name": name},
            "product_id": event.product_id, "name": event.name, "status": event.status, "since": when,
            "discontinued_date": event.discontinued_date, "successor": successor,
            "message": alert_message(kind, event.name, event.status, when, _successor_text(successor), date.today()),
            "changed_at": event.at, "source": event.source, "event_id": event_id,
            "audit_records": records, "created_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }

    def keys_name(self, key_id: str | None) -> str:
        if not key_id:
            return ""
        for record in self.keys.list():
            if record["key_id"] == key_id:
                return str(record.get("name") or "")
        return "loopback" if key_id == "local" else ""

    # --- reading -----------------------------------------------------------------------------

    def mark_read(self, alert_id: str) -> None:
        self.store.append({"type": "read", "alert_id": alert_id, "at": datetime.now(UTC).isoformat(timespec="seconds")})

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Wait until every recorded change is processed and no webhook try is due or running (tests,
        the CLI before it exits); False when ``timeout_s`` passed first."""
        deadline = datetime.now(UTC) + timedelta(seconds=timeout_s)
        with self._cond:
            while self._queued:
                left = (deadline - datetime.now(UTC)).total_seconds()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        if self.webhooks is None:
            return True
        return self.webhooks.wait_idle(max(0.0, (deadline - datetime.now(UTC)).total_seconds()))

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        if self.webhooks is not None:
            self.webhooks.close()


def _successor_text(successor: dict[str, Any] | None) -> str | None:
    return f"{successor['name']}（{successor['product_id']}）" if successor else None


def attach(stack: Stack, settings: Settings | None = None, relay: Callable[[], None] | None = None) -> AlertService:
    """The data dir's one alert service, started and listening to the stack's status changes;
    ``settings`` instead of the stack's when it starts (a test's webhooks); ``relay``: a worker's
    (AlertService)."""
    with _SERVICES_GUARD:
        where = str(stack.data_dir.resolve())
        service = _SERVICES.get(where)
        if service is None or service._stopped:
            service = _SERVICES[where] = AlertService(stack.data_dir, settings or stack.settings, relay).start()
        if service.on_status not in stack.status_listeners:
            stack.status_listeners.append(service.on_status)
        return service


def detach(stack: Stack, service: AlertService, wait_s: float = 0.0) -> bool:
    """Stop listening and end the service (after up to ``wait_s`` for pending work); True if nothing
    was left pending. What is left stays in the store for the next start."""
    done = service.wait_idle(wait_s) if wait_s > 0 else False
    if service.on_status in stack.status_listeners:
        stack.status_listeners.remove(service.on_status)
    with _SERVICES_GUARD:
        _SERVICES.pop(str(stack.data_dir.resolve()), None)
    service.close()
    return done
