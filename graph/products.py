"""Products in the graph: catalog rows, sale status and its history, facts, the product page's overview."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from domain.alerts import StatusEvent, StatusListener
from domain.facts import FACT_TYPES
from graph import queries as q
from graph.base import GraphExecutor


class ProductGraph:
    """Product reads and writes; part of ``GraphStore``."""

    executor: GraphExecutor
    status_listeners: list[StatusListener]

    def upsert_products(self, rows: list[dict[str, Any]]) -> None:
        """rows: catalog rows (product_id, name, insurer, category, status, dates, replaced_by, aliases)."""
        if not rows:
            return
        payload = [
            {
                "product_id": r["product_id"],
                "insurer": r["insurer"],
                "replaced_by": r.get("replaced_by"),
                "props": {k: v for k, v in r.items() if k not in ("product_id", "documents")},
            }
            for r in rows
        ]
        self.executor.run(q.UPSERT_PRODUCTS, {"rows": payload}, write=True)
        self.executor.run(q.SET_SUCCESSORS, {"rows": payload}, write=True)

    def update_product(self, product_id: str, changes: dict[str, Any]) -> None:
        props = dict(changes)
        self.executor.run(q.UPDATE_PRODUCT, {"product_id": product_id, "props": props}, write=True)
        if "replaced_by" in changes:
            rows = [{"product_id": product_id, "replaced_by": changes["replaced_by"]}]
            self.executor.run(q.SET_SUCCESSORS, {"rows": rows}, write=True)

    def get_product(self, product_id: str) -> dict[str, Any] | None:
        rows = self.executor.run(q.GET_PRODUCT, {"product_id": product_id})
        if not rows:
            return None
        product = dict(rows[0]["product"])
        product["documents"] = [
            {"doc_id": r["doc_id"], "title": r["title"], "filing_no": r["filing_no"], "superseded_by": r["superseded_by"]}
            for r in self.executor.run(q.PRODUCT_DOCUMENTS, {"product_id": product_id})
        ]
        return product

    def list_products(self) -> list[dict[str, Any]]:
        return self.executor.run(q.LIST_PRODUCTS)

    def filter_product_ids(
        self,
        insurers: list[str],
        product_ids: list[str],
        statuses: list[str],
        effective_from: str | None,
        effective_to: str | None,
    ) -> list[str]:
        """Ids of the products matching every given filter (an empty list or no date: that field is not
        filtered); dates are ISO ``YYYY-MM-DD`` strings, bounds included."""
        params = {
            "insurers": list(insurers),
            "product_ids": list(product_ids),
            "statuses": list(statuses),
            "effective_from": effective_from or None,
            "effective_to": effective_to or None,
        }
        return [r["product_id"] for r in self.executor.run(q.FILTER_PRODUCT_IDS, params)]

    def log_status(self, product_id: str, entry: dict[str, Any]) -> None:
        """Append one line to the product's status history and tell the status listeners.

        Every route that changes a sale status ends here (PATCH, catalog import, status sync, the
        polled feed), so this is where stop-sale alerts start. ``entry`` holds the changes, ``source``,
        ``key_id`` and, where the caller knows it, ``previous_status``."""
        at = datetime.now(UTC).isoformat(timespec="milliseconds")  # alerts compare it with audit record times
        line = json.dumps({"at": at, **entry}, ensure_ascii=False)
        self.executor.run(q.APPEND_STATUS_LOG, {"product_id": product_id, "entry": line}, write=True)
        if not self.status_listeners:
            return
        rows = self.product_status([product_id])
        if not rows:
            return
        now = rows[0]
        event = StatusEvent(
            product_id=product_id, name=str(now.get("name") or ""), status=str(now.get("status") or ""),
            previous_status=entry.get("previous_status"), discontinued_date=now.get("discontinued_date"),
            successor_id=now.get("successor_id"), successor_name=now.get("successor_name"),
            source=str(entry.get("source") or ""), key_id=entry.get("key_id"), at=at,
        )
        for listener in list(self.status_listeners):
            listener(event)

    def status_history(self, product: dict[str, Any]) -> list[dict[str, Any]]:
        """Catalog dates first (上市, 停售), then every recorded change, oldest first."""
        events: list[dict[str, Any]] = []
        if product.get("effective_date"):
            events.append({"date": product["effective_date"], "status": "on_sale", "source": "catalog"})
        for line in product.get("status_log") or []:
            try:
                entry = json.loads(line)
            except (TypeError, ValueError):
                continue
            events.append({"date": entry.get("at", "")[:10], **entry})
        if product.get("discontinued_date") and product.get("status") != "on_sale":
            events.append({"date": product["discontinued_date"], "status": product.get("status"), "source": "catalog"})
        return sorted(events, key=lambda e: str(e.get("date") or ""))

    def product_overview(self, product_id: str) -> dict[str, Any] | None:
        """Everything the product page shows: facts, history, clauses' citations, cases, neighbours."""
        product = self.get_product(product_id)
        if product is None:
            return None
        run = self.executor.run
        cites = run(q.PRODUCT_CLAUSE_CITATIONS, {"product_id": product_id})
        cases = run(q.PRODUCT_CASES, {"product_id": product_id})
        case_cites = run(q.CASE_CITATIONS, {"doc_ids": [c["doc_id"] for c in cases]}) if cases else []
        successor = self.product_status([product["replaced_by"]]) if product.get("replaced_by") else []
        return {
            "product": product,
            "history": self.status_history(product),
            "clause_citations": cites,
            "cases": cases,
            "case_citations": case_cites,
            "predecessors": run(q.PREDECESSORS, {"product_id": product_id}),
            "successor": successor[0] if successor else None,
        }

    def product_status(self, product_ids: list[str]) -> list[dict[str, Any]]:
        if not product_ids:
            return []
        return self.executor.run(q.PRODUCT_STATUS, {"ids": product_ids})

    def product_facts(self, product_ids: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
        """Facts by product (all products when ``product_ids`` is None), in fact-type order."""

        order = {t.key: i for i, t in enumerate(FACT_TYPES)}
        out: dict[str, list[dict[str, Any]]] = {}
        ids = list(product_ids) if product_ids is not None else None
        for row in self.executor.run(q.PRODUCT_FACTS, {"ids": ids}):
            out.setdefault(row["product_id"], []).append(row["fact"])
        for facts in out.values():
            facts.sort(key=lambda f: order.get(str(f.get("type")), 99))
        return out
