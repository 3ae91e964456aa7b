"""The bundled graph server dies: requests fail fast with 503 + Retry-After, and the app recovers by itself."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from brokerkg.settings import load_settings
from brokerkg.stack import Stack
from tests.conftest import DEMO


def test_killed_graph_server_gives_503_then_recovers_without_restarting_the_app(tmp_path: Path) -> None:
    stack = Stack(load_settings(data_dir=tmp_path / "data")).open()
    try:
        report = stack.ingestor.ingest([DEMO / "cases" / "case-04-grace-period-shouhu.txt"], "case")
        assert not report.failed
        time.sleep(1.2)  # the append-only file is fsynced every second
        client = TestClient(create_app(stack))
        assert client.get("/healthz").status_code == 200
        os.kill(stack._server._pid, signal.SIGKILL)  # noqa: SLF001 (the test plays the crash)
        failed = client.get("/healthz")
        assert failed.status_code == 503 and failed.headers["Retry-After"]
        assert failed.json()["error"]["code"] == "dependency_unavailable"
        statuses = [503]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r = client.get("/healthz")
            statuses.append(r.status_code)
            if r.status_code == 200:
                break
            time.sleep(0.2)
        assert statuses[-1] == 200 and set(statuses) <= {200, 503}, statuses
        # the data written before the crash is back, and answers work again
        answer = client.post("/v1/ask", json={"question": "宽限期内身故保险公司赔吗"}).json()
        assert answer["citations"][0]["title"].startswith("陈某诉鼎信人寿")
        assert stack.graph.executor.restarts == 1
    finally:
        stack.close()
