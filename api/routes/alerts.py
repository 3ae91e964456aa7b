"""Stop-sale alerts: the caller's own (unread first), marking one read; compliance and admin see all
with their webhook delivery state. The alerts are made in api/alerts/service.py."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api.deps import AlertsDep, AlertsReader
from api.middleware import broker_of
from api.schemas import AlertOut, AlertPage, AlertQuery
from api.security import Principal, check
from domain.alerts import alert_message
from domain.errors import NotFoundError

router = APIRouter()


def _mine(alert: dict[str, Any], who: Principal, broker: str | None) -> bool:
    recipient = alert["recipient"]
    return recipient.get("key_id") == who.key_id and (broker is None or recipient.get("broker") == broker)


def _out(alert: dict[str, Any], with_deliveries: bool) -> dict[str, Any]:
    """The alert as served: its message counted from today (3天前 stays true), deliveries for compliance."""
    successor = alert.get("successor")
    text = f"{successor['name']}（{successor['product_id']}）" if successor else None
    out = {k: v for k, v in alert.items() if k not in ("deliveries", "recipient_key", "event_id")}
    out["message"] = alert_message(alert["kind"], alert["name"], alert["status"], alert["since"], text, date.today())
    if with_deliveries:
        out["deliveries"] = list(alert["deliveries"].values())
    return out


@router.get("/v1/alerts", response_model=AlertPage)
def list_alerts(query: Annotated[AlertQuery, Query()], request: Request, who: AlertsReader, alerts: AlertsDep) -> dict[str, Any]:
    """The caller's stop-sale alerts (with ``X-Broker-ID``: that broker's), unread first, newest first;
    ``scope=all``: everyone's with their webhook delivery state (compliance, admin)."""
    everyone = query.scope == "all"
    if everyone:
        check(who, "alerts.all")
    broker = broker_of(request.headers)
    found = [a for a in alerts.store.state().alerts.values() if everyone or _mine(a, who, broker)]
    found.sort(key=lambda a: a["created_at"], reverse=True)
    found.sort(key=lambda a: a.get("read_at") is not None)  # stable: unread first, each newest first
    count = sum(1 for a in found if a.get("read_at") is None)
    if query.unread:
        found = [a for a in found if a.get("read_at") is None]
    return {"unread": count, "alerts": [_out(a, everyone) for a in found[: query.limit]]}


@router.post("/v1/alerts/{alert_id}/read", response_model=AlertOut)
def mark_read(alert_id: str, request: Request, who: AlertsReader, alerts: AlertsDep) -> dict[str, Any]:
    """Mark one of the caller's own alerts read (again: no change)."""
    alert = alerts.store.state().alerts.get(alert_id)
    if alert is None or not _mine(alert, who, None):
        raise NotFoundError(f"alert_id: no alert '{alert_id}' for this key")
    if alert.get("read_at") is None:
        alerts.mark_read(alert_id)
        alert = alerts.store.state().alerts[alert_id]
    return _out(alert, False)
