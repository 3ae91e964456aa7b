"""API keys, roles, rate limits and the audit log, through the real app on the demo stack."""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.audit import AuditLog
from api.security import KeyStore
from tests.conftest import run_cli


@pytest.fixture()
def keys(demo_stack: Any) -> Iterator[dict[str, str]]:
    """One key per role on the demo stack; all revoked afterwards (the other tests run keyless)."""
    store = KeyStore(demo_stack.data_dir)
    made = {role: store.create(role, f"test {role}")[0] for role in ("broker", "cs_bot", "compliance", "admin")}
    try:
        yield made
    finally:
        for record in store.list():
            if not record.get("revoked_at"):
                store.revoke(record["key_id"])


def _h(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_without_keys_only_loopback_clients_are_served(demo_stack: Any) -> None:
    remote = TestClient(create_app(demo_stack), client=("203.0.113.7", 40000))
    r = remote.post("/v1/ask", json={"question": "保险法第十六条说什么"})
    assert r.status_code == 403 and "loopback" in r.json()["error"]["message"]
    local = TestClient(create_app(demo_stack), client=("127.0.0.1", 40000))
    assert local.post("/v1/ask", json={"question": "保险法第十六条说什么"}).status_code == 200


def test_keys_and_roles_on_every_endpoint(demo_stack: Any, keys: dict[str, str]) -> None:
    c = TestClient(create_app(demo_stack), client=("203.0.113.7", 40000))
    endpoints = [
        ("POST", "/v1/ask", {"question": "康宁2019的等待期多久"}),
        ("POST", "/v1/search", {"query": "等待期"}),
        ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "康宁2019的等待期多久"}]}),
        ("GET", "/v1/products", None),
        ("GET", "/v1/products/RH-CI-2019", None),
        ("GET", "/v1/products/RH-CI-2019/overview", None),
        ("GET", "/v1/audit", None),
        ("PATCH", "/v1/products/RH-CI-2019", {"status": "discontinued"}),
    ]
    for method, path, body in endpoints:
        r = c.request(method, path, json=body)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", (path, r.text)
        bad = c.request(method, path, json=body, headers=_h("bkg_0000_nope"))
        assert bad.status_code == 401, path
    allowed = {
        "broker": {"/v1/ask", "/v1/search", "/v1/chat/completions", "/v1/products", "/v1/products/RH-CI-2019",
                   "/v1/products/RH-CI-2019/overview"},
        "compliance": {"/v1/audit"},
        "admin": {"/v1/audit", "PATCH"},
    }
    for method, path, body in endpoints:
        broker = c.request(method, path, json=body, headers=_h(keys["broker"]))
        expected = 200 if path in allowed["broker"] and method != "PATCH" else 403
        assert broker.status_code == expected, (path, method, broker.text)
    assert c.get("/v1/audit", headers=_h(keys["cs_bot"])).status_code == 403
    assert c.get("/v1/audit", headers=_h(keys["compliance"])).status_code == 200
    assert c.patch("/v1/products/RH-CI-2019", json={"status": "discontinued"}, headers=_h(keys["admin"])).status_code == 200
    # the key header form and revocation
    assert c.get("/v1/products", headers={"X-API-Key": keys["broker"]}).status_code == 200
    key_id = keys["broker"].split("_")[1]
    KeyStore(demo_stack.data_dir).revoke(key_id)  # takes effect without a restart
    revoked = c.get("/v1/products", headers=_h(keys["broker"]))
    assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]["message"]
    # the page itself holds no data; the data behind it needs a key
    assert c.get("/").status_code == 200 and c.get("/v1/documents/x").status_code == 401


def test_keys_are_stored_hashed_and_managed_from_the_cli(tmp_path: Path) -> None:
    data = tmp_path / "data"
    created = run_cli(["keys", "create", "--role", "compliance", "--name", "审计组"], data)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("bkg_")
    stored = (data / "security" / "keys.json").read_text(encoding="utf-8")
    assert token.split("_", 2)[2] not in stored and (data / "security" / "keys.json").stat().st_mode & 0o077 == 0
    listed = run_cli(["keys", "list"], data)
    assert "compliance" in listed.stdout and "active" in listed.stdout and token not in listed.stdout
    key_id = token.split("_")[1]
    assert run_cli(["keys", "revoke", key_id], data).returncode == 0
    assert "revoked" in run_cli(["keys", "list"], data).stdout
    bad = run_cli(["keys", "revoke", "nope"], data)
    assert bad.returncode == 1 and "unknown key id" in bad.stderr


def test_rate_limit_answers_429_with_retry_after(demo_stack: Any, keys: dict[str, str]) -> None:
    c = TestClient(create_app(demo_stack, rate_limit=(6.0, 3)))
    statuses = [c.get("/v1/products", headers=_h(keys["broker"])).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = c.get("/v1/products", headers=_h(keys["broker"]))
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["error"]["code"] == "rate_limited"
    assert c.get("/v1/products", headers=_h(keys["compliance"])).status_code == 200  # per key


def test_every_request_has_exactly_one_audit_record(demo_stack: Any, keys: dict[str, str]) -> None:
    c = TestClient(create_app(demo_stack, rate_limit=(0.0, 1)))
    audit = AuditLog(demo_stack.data_dir)
    before = sum(1 for _ in audit.records())
    rng = random.Random(7)
    requests = [
        ("GET", "/v1/products", None, "broker"),
        ("GET", "/v1/products/NOPE", None, "broker"),  # 404
        ("POST", "/v1/search", {"query": ""}, "broker"),  # 400
        ("GET", "/v1/audit", None, "cs_bot"),  # 403
        ("GET", "/v1/products", None, None),  # 401
        ("POST", "/v1/ask", {"question": "被保险人身份证号330106198503124512能理赔吗"}, "broker"),
        ("GET", "/healthz", None, None),
    ]
    sent = []
    for i in range(1000):
        method, path, body, role = requests[0 if i % 10 else rng.randrange(len(requests))] if i % 3 else requests[rng.randrange(len(requests))]
        headers = _h(keys[role]) if role else {}
        sent.append((path, c.request(method, path, json=body, headers=headers).status_code))
    records = list(audit.records())[before:]
    assert len(records) == len(sent) == 1000
    assert [(r["path"], r["status"]) for r in records] == sent  # one each, in order
    assert {s for _, s in sent} >= {200, 400, 401, 403, 404}
    asked = [r for r in records if r["path"] == "/v1/ask"]
    assert asked and all("330106198503124512" not in json.dumps(r, ensure_ascii=False) for r in asked)
    assert all(r["question"].startswith("被保险人身份证号3301") for r in asked)
    assert all(r["sources"] and r["role"] == "broker" for r in asked)
    verify = audit.verify()
    assert verify.ok, verify.problems
    filtered = c.get("/v1/audit", params={"endpoint": "POST /v1/ask", "limit": 5}, headers=_h(keys["compliance"])).json()
    assert filtered["count"] == 5 and all(r["endpoint"] == "POST /v1/ask" for r in filtered["records"])


def _tamper(path: Path, kind: str, rng: random.Random) -> None:
    lines = [line + "\n" for line in path.read_text(encoding="utf-8").split("\n")[:-1]]
    i = rng.randrange(1, len(lines) - 1)
    if kind == "modify":
        record = json.loads(lines[i])
        record["status"] = 200 if record["status"] != 200 else 500
        lines[i] = json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"
    elif kind == "modify-and-rehash":  # the attacker recomputes this record's own hash
        from api.audit import _digest

        record = json.loads(lines[i])
        record["question"] = "被篡改"
        record["hash"] = _digest(record)
        lines[i] = json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"
    elif kind == "delete":
        del lines[i]
    elif kind == "insert":
        lines.insert(i, lines[i - 1])
    elif kind == "reorder":
        lines[i], lines[i + 1] = lines[i + 1], lines[i]
    elif kind == "truncate":
        lines = lines[:i]
    path.write_text("".join(lines), encoding="utf-8")


def test_any_tampering_with_the_audit_log_is_detected(demo_stack: Any, tmp_path: Path) -> None:
    source = AuditLog(demo_stack.data_dir)
    client = TestClient(create_app(demo_stack))
    for _ in range(60):
        client.get("/v1/products")
    assert sum(1 for _ in source.records()) >= 60 and source.verify().ok
    rng = random.Random(11)
    kinds = ["modify", "modify-and-rehash", "delete", "insert", "reorder", "truncate"]
    for trial in range(60):
        copy = tmp_path / f"t{trial}"
        shutil.copytree(source.dir, copy / "audit")
        kind = kinds[trial % len(kinds)]
        _tamper(copy / "audit" / "audit.jsonl", kind, rng)
        report = AuditLog(copy).verify()
        assert not report.ok, (kind, trial)
    # the CLI says so too
    copy = tmp_path / "cli"
    shutil.copytree(source.dir, copy / "audit")
    assert run_cli(["audit", "verify"], copy).returncode == 0
    _tamper(copy / "audit" / "audit.jsonl", "reorder", rng)
    result = run_cli(["audit", "verify"], copy)
    assert result.returncode == 1 and "TAMPERED" in result.stderr and "BROKEN" in result.stdout


def test_audit_chain_holds_with_concurrent_writers(tmp_path: Path) -> None:
    """Several apps (or threads) on one data dir share the chain: each append re-reads the head under a lock."""
    import threading

    logs = [AuditLog(tmp_path) for _ in range(3)]

    def write(log: AuditLog) -> None:
        for i in range(100):
            # line and paragraph separators inside a question do not split its record
            log.append({"endpoint": "GET /v1/products", "status": 200, "question": "问\u2028答\x85" * (i * 10)})

    threads = [threading.Thread(target=write, args=(log,)) for log in logs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = AuditLog(tmp_path).verify()
    assert report.records == 300 and report.ok, report.problems[:3]


def test_records_of_responses_started_together_are_written_together_in_order(tmp_path: Path) -> None:
    """The app's audit thread (group commit): records that wait while one write runs go in the next
    write, one fsync for all, in the order they were handed over; a failed write fails each of its
    responses, and the writer goes on; close writes what waits."""
    import threading

    from api.audit import AuditWriter
    from domain.errors import BrokerKGError

    log = AuditLog(tmp_path)
    writes: list[int] = []  # records per write
    first_started, release = threading.Event(), threading.Event()
    real = log.append_many

    def watched(entries: list[dict[str, Any]], **kw: Any) -> list[dict[str, Any]]:
        writes.append(len(entries))
        if len(writes) == 1:  # the first write of a round waits until the test lets it go
            first_started.set()
            assert release.wait(10)
        if any(e.get("status") == 507 for e in entries):
            raise BrokerKGError("audit log: disk full")
        return real(entries, **kw)

    log.append_many = watched  # type: ignore[method-assign]
    writer = AuditWriter(log)
    first = writer.submit({"path": "/0", "status": 200})
    assert first_started.wait(10)
    rest = [writer.submit({"path": f"/{i}", "status": 200}) for i in range(1, 21)]  # while /0 is written
    release.set()
    records = [f.result(10) for f in [first, *rest]]
    assert writes == [1, 20]
    assert [r["path"] for r in records] == [f"/{i}" for i in range(21)] and [r["seq"] for r in records] == list(range(1, 22))

    failing = writer.submit({"path": "/full", "status": 507})
    with pytest.raises(BrokerKGError, match="disk full"):
        failing.result(10)

    # a client that goes away cancels its wait: its record is written anyway and the writer goes on;
    # an entry that is not JSON fails alone, not the others written with it
    release.clear()
    writes.clear()
    first_started.clear()
    first = writer.submit({"path": "/gate", "status": 200})
    assert first_started.wait(10)  # /gate is being written: the next three wait together
    gone = writer.submit({"path": "/gone", "status": 200})
    bad = writer.submit({"path": "/bad", "status": 200, "question": object()})
    good = writer.submit({"path": "/good", "status": 200})
    assert gone.cancel()
    release.set()
    assert first.result(10)["path"] == "/gate" and good.result(10)["path"] == "/good"
    with pytest.raises(TypeError):
        bad.result(10)

    last = [writer.submit({"path": f"/late{i}", "status": 200}) for i in range(3)]
    writer.close()
    assert all(f.done() for f in last)
    paths = [r["path"] for r in AuditLog(tmp_path).records()]
    assert paths[-6:] == ["/gate", "/gone", "/good", "/late0", "/late1", "/late2"]
    report = AuditLog(tmp_path).verify()
    assert report.records == 27 and report.ok, report.problems[:3]
    with pytest.raises(BrokerKGError, match="closed"):
        writer.submit({"path": "/after", "status": 200})


def test_a_write_that_fails_after_its_records_reached_the_disk_leaves_no_record_behind(tmp_path: Path, monkeypatch: Any) -> None:
    """Records written but not named by the head would be chained again by the next write (the same
    seq and prev) and break the chain: a failed write takes its records back off."""
    import api.audit as audit_module
    from domain.errors import BrokerKGError

    log = AuditLog(tmp_path)
    log.append({"path": "/1", "status": 200})
    real = audit_module.replace_atomically

    def head_unwritable(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(audit_module, "replace_atomically", head_unwritable)
    with pytest.raises(BrokerKGError, match="No space left"):
        log.append_many([{"path": "/2", "status": 200}, {"path": "/3", "status": 200}])
    monkeypatch.setattr(audit_module, "replace_atomically", real)
    log.append({"path": "/4", "status": 200})
    assert [r["path"] for r in log.records()] == ["/1", "/4"]
    report = log.verify()
    assert report.records == 2 and report.ok, report.problems[:3]

    def fsync_fails(fd: int) -> None:  # the records written, not yet on disk (the alert store appends alike)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(audit_module.os, "fsync", fsync_fails)
    with pytest.raises(BrokerKGError, match="Input/output error"):
        log.append({"path": "/5", "status": 200})
    monkeypatch.undo()
    log.append({"path": "/6", "status": 200})
    assert [r["path"] for r in log.records()] == ["/1", "/4", "/6"]
    report = log.verify()
    assert report.records == 3 and report.ok, report.problems[:3]
