"""Sale status in sync with the insurer's own stop-sale list, on the real stack."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.errors import InputError
from ingest.pipeline import import_catalog
from ingest.status_sync import FeedPoller, read_status_list, sync_status
from tests.conftest import DEMO, ROOT

STOP_SALE = ROOT.parent / "shared" / "corpus" / "insurer-lian" / "stop-sale-2025-08-31.json"
LISTED = {"LA-113013", "LA-115050", "LA-211013", "LA-212021", "LA-222020", "LA-411009"}  # of the 14 real products


@pytest.fixture()
def stack(tmp_path: Path) -> Iterator[Any]:
    """The 14 real products of demo/lian/catalog.csv (their documents left out: names are what matter here)."""
    from brokerkg.settings import load_settings
    from brokerkg.stack import Stack

    rows = list(csv.DictReader((DEMO / "lian" / "catalog.csv").open(encoding="utf-8")))
    for row in rows:
        row["documents"] = ""
    catalog = tmp_path / "catalog.csv"
    with catalog.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    s = Stack(load_settings(data_dir=tmp_path / "data")).open()
    try:
        assert import_catalog(s.ingestor, catalog).ok
        yield s
    finally:
        s.close()


def _statuses(stack: Any) -> dict[str, str]:
    return {p["product_id"]: p["status"] for p in stack.graph.list_products()}


def test_the_insurers_list_flags_exactly_the_listed_products_and_a_rerun_changes_nothing(stack: Any) -> None:
    entries = read_status_list(STOP_SALE.read_bytes(), STOP_SALE.name)
    assert len(entries) == 34 and entries[0].date == "2025-08-31"
    dry = sync_status(stack.graph, entries, STOP_SALE.name, dry_run=True)
    assert {c.product_id for c in dry.changed} == LISTED
    assert set(_statuses(stack).values()) == {"on_sale"}  # a dry run changes nothing
    report = sync_status(stack.graph, entries, STOP_SALE.name)
    assert {c.product_id for c in report.changed} == LISTED and not report.ambiguous
    assert len(report.unmatched) == 34 - len(LISTED)  # listed products that are not loaded are reported, not guessed
    statuses = _statuses(stack)
    assert {pid for pid, s in statuses.items() if s == "discontinued"} == LISTED
    # siblings that differ by one word stay on sale: 典藏版 (臻享版 is listed), 金瑜版 (金琪版 is listed)
    assert statuses["LA-113012"] == "on_sale" and statuses["LA-411008"] == "on_sale"
    product = stack.graph.get_product("LA-113013")
    assert product["discontinued_date"] == "2025-08-31"
    history = stack.graph.status_history(product)
    assert history[-1]["source"] == f"status sync: {STOP_SALE.name}" and history[-1]["listed_as"].startswith("利安颐享年年 (臻享版)")
    again = sync_status(stack.graph, entries, STOP_SALE.name)
    assert again.changed == [] and set(again.unchanged) == LISTED
    assert len(stack.graph.status_history(stack.graph.get_product("LA-113013"))) == len(history)


def test_csv_and_html_lists_match_names_however_written_and_never_guess(stack: Any) -> None:
    text = ("产品名称,停售日期,状态\n"
            "利安 金满堂 两全保险,2025/9/1,停售\n"          # spaces inside the name
            "鑫利来（金琪版）终身寿险,2025年9月2日,暂停销售\n"  # without the insurer's brand
            "利安鑫利来终身寿险,2025-09-03,停售\n"             # fits no product exactly: the siblings differ
            "泰康尊享人生年金保险,2025-09-03,停售\n")
    report = sync_status(stack.graph, read_status_list(text.encode(), "notice.csv"), "notice.csv")
    changed = {c.product_id: (c.new_status, c.new_date) for c in report.changed}
    assert changed == {"LA-212021": ("discontinued", "2025-09-01"), "LA-411009": ("suspended", "2025-09-02")}
    assert [u.split(": ", 1)[1] for u in report.unmatched] == ["利安鑫利来终身寿险", "泰康尊享人生年金保险"]
    html = ("<html><body><h1>停售公告</h1><table><tr><th>序号</th><th>产品名称</th><th>停止销售日期</th></tr>"
            "<tr><td>1</td><td>利安颐享年年（典藏版）养老年金保险</td><td>2025-10-01</td></tr></table></body></html>")
    report = sync_status(stack.graph, read_status_list(html.encode(), "notice.html"), "notice.html")
    assert [(c.product_id, c.new_date) for c in report.changed] == [("LA-113012", "2025-10-01")]


def test_two_products_a_name_fits_equally_are_reported_as_ambiguous(stack: Any) -> None:
    stack.graph.update_product("LA-411008", {"aliases": ["鑫利来"]})
    stack.graph.update_product("LA-411009", {"aliases": ["鑫利来"]})
    report = sync_status(stack.graph, read_status_list(b'[{"ProductName": "\xe9\x91\xab\xe5\x88\xa9\xe6\x9d\xa5"}]', "x.json"), "x.json")
    assert report.changed == [] and report.ambiguous == ["line 1: 鑫利来 → LA-411008, LA-411009"]


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b'[{"SalesStopTime": "20250831"}]', "a.json", "entry 1: no product name"),
        (b'[{"ProductName": "X", "SalesStopTime": "2025-13-40"}]', "a.json", "entry 1: '2025-13-40' is not a valid date"),
        (b'{"oops": ', "a.json", "not valid JSON"),
        (b"<html><p>no table</p></html>", "a.html", "no table with a product-name column"),
        (b'[{"ProductName": "X", "status": "maybe"}]', "a.json", "status 'maybe'"),
    ],
)
def test_a_bad_list_is_refused_naming_the_entry(data: bytes, name: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_status_list(data, name)


def test_a_polled_feed_applies_a_new_list_once(stack: Any, tmp_path: Path) -> None:
    feed = tmp_path / "feed"
    feed.mkdir()
    poller = FeedPoller(stack.graph, [str(feed)], tmp_path / "state.json", interval_s=3600)
    assert poller.poll_once() == []
    (feed / "2025-08-31.json").write_text(json.dumps([{"ProductName": "利安吉瑞终身寿险", "SalesStopTime": "20250831"}],
                                                     ensure_ascii=False), encoding="utf-8")
    first = poller.poll_once()
    assert [c.product_id for r in first for c in r.changed] == ["LA-211013"]
    assert poller.poll_once() == []  # the same content is not applied again
    (feed / "bad.json").write_text("{", encoding="utf-8")  # a broken list is logged, the poller goes on
    assert poller.poll_once() == []
    assert _statuses(stack)["LA-211013"] == "discontinued"


def test_the_api_applies_an_uploaded_list_for_admins(stack: Any) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(stack)) as client:
        body = {"content": "产品名称,停售日期\n利安金满堂两全保险,2025-08-31\n", "format": "csv", "dry_run": True}
        dry = client.post("/v1/status/sync", json=body)
        assert dry.status_code == 200 and dry.json()["changed"][0]["product_id"] == "LA-212021"
        assert _statuses(stack)["LA-212021"] == "on_sale"
        done = client.post("/v1/status/sync", json={**body, "dry_run": False})
        assert done.json()["changed"][0]["new_status"] == "discontinued"
        assert client.get("/v1/products/LA-212021").json()["status"] == "discontinued"
        bad = client.post("/v1/status/sync", json={"content": "[{}]", "format": "json"})
        assert bad.status_code == 400 and "no product name" in bad.json()["error"]["message"]
        neither = client.post("/v1/status/sync", json={"dry_run": True})
        assert neither.status_code == 400
