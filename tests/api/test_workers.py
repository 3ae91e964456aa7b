"""``brokerkg serve --workers 2``: two processes on one port and one data dir (brokerkg/shared.py),
run as a user runs them, with the real stores."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.alerts.store import AlertStore
from brokerkg.cli import _listen
from tests.conftest import run_cli, start_server, two_demo_products

QUESTION = "畅行意外险意外医疗的免赔额"


def _each_process(url: str, send: dict[str, object], processes: int = 2, within_s: float = 90,
                  headers: dict[str, str] | None = None) -> dict[str, httpx.Response]:
    """POST /v1/ask on fresh connections until each process has answered once: process → its response
    (a worker still starting takes no connections: the owner accepts them meanwhile)."""
    seen: dict[str, httpx.Response] = {}
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        with httpx.Client(timeout=30) as client:  # a new connection: the kernel hands it to either process
            response = client.post(f"{url}/v1/ask", json=send, headers=headers or {})
        seen.setdefault(response.headers["X-BrokerKG-Process"], response)
        if len(seen) == processes:
            return seen
    pytest.fail(f"only processes {sorted(seen)} answered within {within_s:.0f} s")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"


def _workers(owner: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{owner}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                if b"brokerkg.cli" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.append(int(child))
            except OSError:  # reaped meanwhile
                continue
    return found


def _graph_servers(data: Path) -> list[int]:
    """The running graph servers started on this data dir."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if b"redis-server" in cmdline and (str(data) in cwd or str(data).encode() in cmdline) and _alive(int(pid)):
            found.append(int(pid))
    return found


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[str]]]:
    data = tmp_path / "data"
    (tmp_path / "feed").mkdir()
    env = {"BROKERKG_RATE_LIMIT_PER_MINUTE": "1", "BROKERKG_RATE_LIMIT_BURST": "3",
           "BROKERKG_STATUS_FEEDS": str(tmp_path / "feed"), "BROKERKG_STATUS_POLL_S": "1"}
    url, server, _ = start_server(data, "--workers", "2", env=env)
    try:
        yield url, data, server
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=30)


def test_two_processes_share_one_data_dir_and_stop_together(served: tuple[str, Path, subprocess.Popen[str]],
                                                            tmp_path: Path) -> None:
    url, data, server = served
    # both processes answer before anything is ingested: each has read the (empty) catalog
    before = _each_process(url, {"question": QUESTION})
    assert all(r.status_code == 200 and not r.json()["citations"] for r in before.values())

    # a scrape of /metrics, whichever process answers it, has every process's series, each labelled
    # (another process's as it published them last: at most PUBLISH_S old)
    answered: set[str] = set()
    complete, metrics = False, ""
    deadline = time.monotonic() + 30
    while answered != {"0", "1"} or not complete:
        assert time.monotonic() < deadline, metrics[:3000]
        with httpx.Client(timeout=30) as client:
            scraped = client.get(f"{url}/metrics")
        metrics = scraped.text
        complete = all(any(line.startswith("brokerkg_http_requests_total{") and f'process="{p}"' in line
                           for line in metrics.splitlines()) for p in ("0", "1"))
        if complete:
            answered.add(scraped.headers["X-BrokerKG-Process"])
        time.sleep(0.5)

    # a catalog import lands on one process; the other sees the same index and the new products
    catalog = two_demo_products(tmp_path / "docs")
    imported = run_cli(["catalog", "import", str(catalog)], data)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    after = _each_process(url, {"question": QUESTION})
    answers = {p: r.json() for p, r in after.items()}
    assert {a["citations"][0]["locator"] for a in answers.values()} == {"2.3"}
    assert answers["0"]["answer"] == answers["1"]["answer"]
    cited = {p: [(c["doc_id"], c["locator"], c.get("product_id")) for c in a["citations"]] for p, a in answers.items()}
    assert cited["0"] == cited["1"] and cited["0"][0][2] == "HN-ACC-2022"

    # each process links the imported products by their aliases (one keep-alive connection stays on one process)
    linked: dict[str, str] = {}
    for n in range(200):
        with httpx.Client(timeout=30) as client:
            first = client.post(f"{url}/v1/ask", json={"question": QUESTION, "conversation_id": f"same-{n}"})
            process = first.headers["X-BrokerKG-Process"]
            if process in linked:
                continue
            follow = client.post(f"{url}/v1/ask", json={"question": "那它的等待期呢？", "conversation_id": f"same-{n}"})
            assert follow.headers["X-BrokerKG-Process"] == process
            linked[process] = follow.json()["resolved_question"] or ""
        if len(linked) == 2:
            break
    assert len(linked) == 2 and all("畅行" in q for q in linked.values()), linked

    # a conversation started on one process goes on on the other: one named by the client, and one the
    # worker began (no id asked for: the worker makes it and the owner keeps it from its first turn)
    first = httpx.post(f"{url}/v1/ask", json={"question": QUESTION, "conversation_id": "conv-1"}, timeout=30)
    starts = [("conv-1", first.headers["X-BrokerKG-Process"])]
    begun = _each_process(url, {"question": QUESTION})["1"].json()["conversation_id"]
    starts.append((begun, "1"))
    for conversation_id, started_on in starts:
        for _ in range(200):
            with httpx.Client(timeout=30) as client:
                follow = client.post(f"{url}/v1/ask", json={"question": "那它的等待期呢？", "conversation_id": conversation_id})
            if follow.headers["X-BrokerKG-Process"] != started_on:
                break
        else:
            pytest.fail("every follow-up landed on the process that started the conversation")
        assert "畅行" in (follow.json()["resolved_question"] or ""), (conversation_id, follow.json())

    # the owner polls the stop-sale feed; every process flags the product from then on
    (tmp_path / "feed" / "stop.json").write_text(
        json.dumps([{"ProductName": "安康安享终身重大疾病保险", "SalesStopTime": "20250831"}], ensure_ascii=False),
        encoding="utf-8")
    deadline = time.monotonic() + 60
    while httpx.get(f"{url}/v1/products/AK-CI-2021", timeout=10).json()["status"] != "discontinued":
        assert time.monotonic() < deadline, "the status feed was not polled"
        time.sleep(0.5)
    flagged = _each_process(url, {"question": "安享重疾的等待期多长"})
    assert all([f["product_id"] for f in r.json()["flags"]] == ["AK-CI-2021"] for r in flagged.values())

    # the graph server killed: each process gets 503 until the owner has started one new server
    graph_pid = json.loads((data / "graph" / "server.json").read_text())["pid"]
    os.kill(graph_pid, signal.SIGKILL)
    back: set[str] = set()
    deadline = time.monotonic() + 90
    while back != {"0", "1"}:
        assert time.monotonic() < deadline, f"only processes {back} answered again"
        with httpx.Client(timeout=30) as client:
            response = client.post(f"{url}/v1/ask", json={"question": QUESTION})
        assert response.status_code in (200, 503), response.text
        if response.status_code == 200:
            back.add(response.headers["X-BrokerKG-Process"])
        else:
            time.sleep(0.2)
    assert _graph_servers(data) == [json.loads((data / "graph" / "server.json").read_text())["pid"]]

    # a worker that dies is started again and answers
    owner = server.pid
    (worker,) = _workers(owner)
    os.kill(worker, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and [p for p in _workers(owner) if p != worker and _alive(p)] == []:
        time.sleep(0.2)
    (restarted,) = [p for p in _workers(owner) if _alive(p)]
    assert restarted != worker
    assert {r.status_code for r in _each_process(url, {"question": QUESTION}).values()} == {200}

    # a status change made through a worker: the owner makes its alerts (only the owner sends webhooks)
    sync = {"content": "产品名称,停售日期\n恒宁畅行综合意外伤害保险（2022版）,2025-08-31\n", "format": "csv"}
    for _ in range(200):
        with httpx.Client(timeout=30) as client:
            made = client.post(f"{url}/v1/status/sync", json={**sync, "dry_run": True})
            if made.headers["X-BrokerKG-Process"] == "1":
                made = client.post(f"{url}/v1/status/sync", json={**sync, "dry_run": False})
                break
    assert made.headers["X-BrokerKG-Process"] == "1" and made.json()["changed"][0]["product_id"] == "HN-ACC-2022"
    deadline = time.monotonic() + 30
    while AlertStore(data).state().pending_events():
        assert time.monotonic() < deadline, "the worker's status change was not processed by the owner"
        time.sleep(0.2)

    # one rate limit per key, whichever process takes the requests (burst 3, 1 a minute)
    token = run_cli(["keys", "create", "--role", "broker", "--name", "w"], data).stdout.strip()
    limited: list[tuple[str, int]] = []
    deadline = time.monotonic() + 90
    while {p for p, _ in limited} != {"0", "1"} or len(limited) < 6:
        assert time.monotonic() < deadline, limited
        with httpx.Client(timeout=30) as client:
            r = client.post(f"{url}/v1/ask", json={"question": QUESTION}, headers={"Authorization": f"Bearer {token}"})
        limited.append((r.headers["X-BrokerKG-Process"], r.status_code))
    assert [status for _, status in limited] == [200, 200, 200] + [429] * (len(limited) - 3), limited

    # SIGTERM to the owner stops every process: workers, the graph server, the shared socket
    graph_pid = json.loads((data / "graph" / "server.json").read_text())["pid"]
    server.terminate()
    server.wait(timeout=60)
    assert not _alive(restarted) and not _alive(graph_pid)
    assert not (data / "share.sock").exists() and not (data / "graph" / "server.json").exists()
    # the audit chain written by both processes is one unbroken chain
    audit = run_cli(["audit", "verify"], data)
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_the_listening_socket_gives_connections_without_nagle_delay() -> None:
    """Without TCP_NODELAY on accepted connections, every response after a keep-alive connection's
    first waited ≈ 40 ms for the client's delayed ACK (measured: 11 ms → 56 ms per answer)."""
    (listener,) = _listen("127.0.0.1", 0)
    port = listener.getsockname()[1]

    async def accepted_nodelay() -> int:
        got: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            got.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(connected, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            value = await asyncio.wait_for(got, 10)
            writer.close()
            return value

    assert asyncio.run(accepted_nodelay()) != 0


def test_the_shared_socket_answers_only_what_is_shared_and_only_this_user(tmp_path: Path) -> None:
    import stat

    from brokerkg.shared import ShareClient, ShareServer
    from domain.errors import BrokerKGError, DependencyError

    class Index:
        writes = 3

        def count(self) -> int:
            return 7

        def retrieve(self, ids: list[str]) -> list[str]:
            raise DependencyError("graph server unavailable")

    deep = tmp_path / ("d" * 90)  # too long a path for a Unix socket: a private temporary folder instead
    deep.mkdir()
    for path in (tmp_path / "share.sock", deep / "share.sock"):
        server = ShareServer(path, {"index": Index()})
        client = ShareClient(server.path)
        try:
            assert stat.S_IMODE(server.path.stat().st_mode) == 0o600
            assert client.call("index", "count") == 7 and client.call("index", "writes") == 3
            with pytest.raises(DependencyError, match="unavailable"):  # a 503 in the worker, as in the owner
                client.call("index", "retrieve", ["a"])
            with pytest.raises(BrokerKGError, match="not shared: index.__init__"):
                client.call("index", "__init__")
            with pytest.raises(BrokerKGError, match="not shared: keys.create"):
                client.call("keys", "create")
            assert client.call("index", "count") == 7  # the owner goes on serving
        finally:
            client.close()
            server.close()
        assert not server.path.exists()
    import tempfile

    assert not any((p / "share.sock").exists() for p in Path(tempfile.gettempdir()).glob("brokerkg-*"))


def test_workers_and_the_graph_server_die_with_a_killed_owner(tmp_path: Path) -> None:
    data = tmp_path / "data"
    url, server, _ = start_server(data, "--workers", "2")
    try:
        _each_process(url, {"question": QUESTION})  # the worker is up
        (worker,) = _workers(server.pid)
        graph_pid = json.loads((data / "graph" / "server.json").read_text())["pid"]
    finally:
        server.kill()  # SIGKILL: no handler runs in the owner
        server.wait(timeout=30)
    deadline = time.monotonic() + 30
    while _alive(worker) or _alive(graph_pid):
        assert time.monotonic() < deadline, "a worker or the graph server outlived the killed owner"
        time.sleep(0.2)
    # the next owner starts cleanly on the same data dir (the stale socket file is replaced)
    url, server, _ = start_server(data, "--workers", "2")
    try:
        assert {r.status_code for r in _each_process(url, {"question": QUESTION}).values()} == {200}
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_each_process_gets_its_own_share_of_new_connections_and_no_one_else_gets_the_port() -> None:
    from domain.errors import BrokerKGError

    group = _listen("127.0.0.1", 0, 2)
    port = group[0].getsockname()[1]
    clients = []
    try:
        assert [s.getsockname()[1] for s in group] == [port, port]
        for _ in range(64):
            clients.append(socket.create_connection(("127.0.0.1", port)))
        taken = []
        for listener in group:
            listener.setblocking(False)
            n = 0
            while True:
                try:
                    conn, _ = listener.accept()
                except BlockingIOError:
                    break
                conn.close()
                n += 1
            taken.append(n)
        assert sum(taken) == 64 and min(taken) > 0, taken  # spread by the kernel, not all to one process
        with pytest.raises(BrokerKGError, match=f"cannot listen on 127.0.0.1:{port}"):
            _listen("127.0.0.1", port, 2)  # a second server on the port would silently share its traffic
    finally:
        for sock in [*clients, *group]:
            sock.close()


_SLOW_WORKER = """
import json, os, sys, time
from pathlib import Path
from brokerkg.shared import WORKER_ENV, ShareClient
info = json.loads(os.environ[WORKER_ENV])
time.sleep(1.5)  # opening its stores
ShareClient(Path(info["share"])).call("workers", "ready", info["process"])
time.sleep(60)
"""


def test_the_owner_serves_once_its_workers_say_they_do(tmp_path: Path) -> None:
    """Until a worker serves, the connections the kernel gives its socket wait in its queue (on a demo
    data dir a worker takes seconds to open its model, stores and name lists): the owner waits."""
    import sys

    from brokerkg.shared import ShareServer, Workers

    class Slow(Workers):
        COMMAND = [sys.executable, "-c", _SLOW_WORKER]

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = ShareServer(tmp_path / "share.sock", {})
    pool = server.targets["workers"] = Slow([listener], server.path)
    pool.start()
    try:
        started = time.monotonic()
        assert pool.wait_ready(30) == []
        assert time.monotonic() - started >= 1.0  # it waited for the worker's word
    finally:
        pool.stop()
        server.close()
        listener.close()


def _starts(path: Path) -> list[float]:
    return [float(line) for line in path.read_text().split()] if path.exists() else []


@pytest.mark.parametrize("runs_s", [0.0, 1.5])
def test_a_worker_that_exits_is_started_again_after_a_pause_that_grows_only_while_it_fails_at_start(
        tmp_path: Path, runs_s: float) -> None:
    """A worker failing at start (a bad setting, a full disk) is started again after 1, 3, 7 s, not
    in a busy loop; one that served a while before it exited is started again at once, each time."""
    import sys

    from brokerkg.shared import Workers

    starts = tmp_path / "starts"
    record = (f"import time; open({str(starts)!r}, 'a').write(repr(time.monotonic()) + '\\n'); "
              f"time.sleep({runs_s}); raise SystemExit(3)")

    class Exiting(Workers):
        START_S = 1.0  # a run of 1.5 s counts as having served
        COMMAND = [sys.executable, "-c", record]

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    pool = Exiting([listener], tmp_path / "share.sock").start()
    try:
        if not runs_s:  # the owner stops waiting for a worker that failed at start: it serves without it
            assert pool.wait_ready(30) == [1] and len(_starts(starts)) == 1
        deadline = time.monotonic() + 30
        while len(_starts(starts)) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        pool.stop()
        listener.close()
    times = _starts(starts)
    assert len(times) >= 4, times
    gaps = [b - a - runs_s for a, b in zip(times, times[1:4], strict=False)]  # from its exit to the next start
    if runs_s:
        assert all(gap < 3.0 for gap in gaps), gaps  # no pause: checked every 0.5 s
    else:
        for gap, pause in zip(gaps, (1.0, 3.0, 7.0), strict=True):
            assert pause <= gap < pause + 3.0, gaps
    time.sleep(1.0)
    assert len(_starts(starts)) == len(times)  # none started after stop()


def test_a_conversation_a_worker_begins_costs_no_call_until_its_first_turn_and_only_its_own_are_kept(
        tmp_path: Path) -> None:
    from brokerkg.shared import RemoteConversations, ShareClient, ShareServer
    from domain.errors import DependencyError
    from retrieval.conversation import Conversation, ConversationStore, Turn

    nobody = RemoteConversations(ShareClient(tmp_path / "nobody.sock"))
    assert nobody.get(None).id  # a new conversation: the owner is not asked
    with pytest.raises(DependencyError):
        nobody.get("conv-1")  # a named one is the owner's

    owner = ConversationStore()
    server = ShareServer(tmp_path / "share.sock", {"conversations": owner})
    client = ShareClient(server.path)
    try:
        worker = RemoteConversations(client)
        begun = worker.get(None)
        turn = Turn("康宁2019的等待期", ["P1"], ["康宁2019"], [])
        worker.add(begun, turn)
        assert owner.get(begun.id).turns == [turn]  # kept by the owner: a follow-up may land on any process
        again = worker.get(begun.id)
        worker.add(again, Turn("那它的免赔额呢？"))
        assert [t.question for t in owner.get(begun.id).turns] == ["康宁2019的等待期", "那它的免赔额呢？"]

        # a conversation the store did not hand out (a chat completion's, rebuilt from its messages) is not kept
        worker.add(Conversation("chat-1"), turn)
        assert owner.get("chat-1").turns == []
    finally:
        client.close()
        server.close()


def test_by_default_serve_runs_one_process_per_core_it_may_use(tmp_path: Path, monkeypatch: Any) -> None:
    """0 (the default): one per core of the CPU affinity, no more than a cgroup's CPU quota allows
    (``docker --cpus 1.5``: 2), at most 4; a number set is taken as it is."""
    from brokerkg.settings import AUTO_WORKERS_MAX, Settings, serving_processes

    assert Settings().workers == 0
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    cpu_max = tmp_path / "cpu.max"
    for quota, processes in [("max 100000", AUTO_WORKERS_MAX), ("150000 100000", 2), ("50000 100000", 1),
                             (None, AUTO_WORKERS_MAX)]:
        cpu_max.unlink(missing_ok=True)
        if quota:
            cpu_max.write_text(quota + "\n")
        assert serving_processes(0, cpu_max) == processes, quota
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    assert serving_processes(0, cpu_max) == 1 and serving_processes(6, cpu_max) == 6
