"""Sale-status changes and the alerts they raise: the event every status route produces, and the
wording of an alert (how recent the change is). No I/O: the store and delivery are in api/alerts/."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

OFF_SALE = frozenset({"discontinued", "suspended"})
_VERB = {"discontinued": "停售", "suspended": "暂停销售", "on_sale": "恢复销售"}

STOP_SALE = "stop_sale"
CORRECTION = "correction"


@dataclass(frozen=True)
class StatusEvent:
    """One recorded change of a product's sale status, as the graph holds it right after the change.

    ``source`` says which route made it (``api``, ``catalog import: …``, ``status sync: …``);
    ``at`` is the ISO time the change was recorded."""

    product_id: str
    name: str
    status: str
    previous_status: str | None
    discontinued_date: str | None
    successor_id: str | None
    successor_name: str | None
    source: str
    key_id: str | None
    at: str

    @property
    def off_sale(self) -> bool:
        return self.status in OFF_SALE

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StatusEvent:
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})  # type: ignore[arg-type]


StatusListener = Callable[[StatusEvent], None]


def _ago(days: int) -> str:
    if days == 0:
        return "今天"
    if days > 0:
        return f"{days}天前"
    return f"{-days}天后"


def recency_text(status: str, when: str | None, today: date) -> str:
    """``已于2026-11-01停售（3天前）``; a date still ahead reads ``将于…停售（5天后）``; without a
    date, ``已停售``."""
    verb = _VERB.get(status, status)
    if not when:
        return f"已{verb}"
    try:
        days = (today - date.fromisoformat(when[:10])).days
    except ValueError:
        return f"已于{when}{verb}"
    lead = "将于" if days < 0 else "已于"
    return f"{lead}{when[:10]}{verb}（{_ago(days)}）"


def alert_message(kind: str, name: str, status: str, when: str | None, successor: str | None, today: date) -> str:
    """The alert's one line: what happened to the product, how recently, and what to offer instead."""
    if kind == CORRECTION:
        return f"更正：{name}{recency_text('on_sale', when, today)}，此前的停售提醒作废。"
    tail = f"替代产品：{successor}。" if successor else "暂无替代产品。"
    return f"{name}{recency_text(status, when, today)}，不可再向客户推荐。{tail}"
