"""The chat UI in headless Chromium (Debian's /usr/bin/chromium driven by Playwright) against a real server.

The server is uvicorn serving the app on the demo corpus on a free loopback port. Screenshots
go to test-output/screenshots/.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import httpx

from tests.chat_ui.conftest import SHOTS


def _ask(page: Any, question: str) -> Any:
    page.fill("#q", question)
    with page.expect_response(lambda r: r.url.endswith("/v1/ask")) as info:
        page.click("form.ask button[type=submit]")
    assert info.value.headers["content-type"].startswith("text/event-stream")  # streamed
    turn = page.locator("article.turn").last
    turn.locator(".actions").wait_for()  # done
    return turn


def test_chat_answers_with_citations_flags_and_successor(page: Any, server: str) -> None:
    assert page.locator(".starters button").count() >= 3  # empty state with starter questions
    turn = _ask(page, "康宁2019的等待期多久")
    assert "180日" in turn.locator(".a").inner_text()
    banner = turn.locator(".flag[data-product='RH-CI-2019']")
    assert "停售" in banner.inner_text() and "瑞禾康宁终身重大疾病保险（2023版）" in banner.inner_text()
    assert turn.locator(".flag").count() == 1  # no warning about a product a cited case concerns
    page.screenshot(path=str(SHOTS / "chat.png"), full_page=True)

    # a citation chip opens the cited passage with its title and locator
    turn.locator(".a .chip").first.click()
    dialog = page.locator("#passage")
    assert dialog.is_visible() and "瑞禾康宁终身重大疾病保险（2019版）条款" in page.inner_text("#passage-title")
    assert page.inner_text("#passage-locator") == "2.2" and "180日" in page.inner_text("#passage-text")
    page.screenshot(path=str(SHOTS / "citation.png"))
    # … and from there the whole document, scrolled to the passage and highlighted
    page.click("#passage-link")
    hit = page.locator(".doc-section.hit")
    hit.wait_for()
    assert hit.get_attribute("data-locator") == "2.2" and hit.is_visible()
    assert page.evaluate("() => { const r = document.querySelector('.doc-section.hit').getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }")
    page.screenshot(path=str(SHOTS / "document.png"))

    # history stays for the session; the flag leads to the successor's page
    page.go_back()
    page.locator("article.turn").first.wait_for()
    assert page.locator("article.turn").count() == 1
    page.locator(".flag a.successor").first.click()
    page.locator("h1", has_text="瑞禾康宁终身重大疾病保险（2023版）").wait_for()
    assert "RH-CI-2019" in page.inner_text("#predecessors")


def test_comparison_and_matching_render_as_tables_with_a_citation_per_cell(page: Any) -> None:
    turn = _ask(page, "对比康宁2019和安享重疾")
    table = turn.locator("table.facts.compare")
    table.wait_for()
    headers = table.locator("thead th").all_inner_texts()
    assert "瑞禾康宁终身重大疾病保险（2019版）" in headers[1] and "已停售" in headers[1] and "安康安享" in headers[2]
    waiting = table.locator("tr", has=page.locator("th", has_text="等待期"))
    cells = waiting.locator("td")
    assert "180日" in cells.nth(0).inner_text() and "90日" in cells.nth(1).inner_text()
    filled = table.locator("tbody td:not(:has(.muted))")
    assert filled.count() > 10 and filled.count() == table.locator("tbody td .chip").count()  # a chip in every value
    assert turn.locator(".flag[data-product='RH-CI-2019']").count() == 1
    page.screenshot(path=str(SHOTS / "compare.png"), full_page=True)
    cells.nth(0).locator(".chip").click()
    assert page.inner_text("#passage-locator") == "2.2" and "180日" in page.inner_text("#passage-text")
    page.keyboard.press("Escape")

    turn = _ask(page, "58岁还能买哪些重疾险？等待期多长")
    rows = turn.locator("table.facts.match tbody tr")
    assert sorted(rows.locator("th").all_inner_texts()) == ["安康安享终身重大疾病保险", "瑞禾康宁终身重大疾病保险（2023版）"]
    assert rows.first.locator(".chip").count() >= 3
    page.screenshot(path=str(SHOTS / "match.png"), full_page=True)


def test_follow_up_copy_and_error_state(page: Any) -> None:
    _ask(page, "老康宁的等待期多久")
    turn = _ask(page, "那它的犹豫期呢？")
    assert "2019" in turn.locator(".resolved").inner_text() and "15日" in turn.locator(".a").inner_text()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    turn.locator(".actions button", has_text="复制答案和出处").click()
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert "参考来源：" in copied and "[1] 《瑞禾康宁终身重大疾病保险（2019版）条款》1.4" in copied
    # a server error is shown as a clear message, and the page keeps working
    page.route("**/v1/ask", lambda route: route.fulfill(status=503, content_type="application/json",
                                                        body='{"error": {"code": "dependency_unavailable", "message": "图数据库暂时不可用"}}'))
    page.fill("#q", "保险法第十六条说什么")
    page.click("form.ask button[type=submit]")
    error = page.locator("article.turn").last.locator(".error")
    error.wait_for()
    assert "图数据库暂时不可用" in error.inner_text()


def test_clause_search_with_filters_highlight_and_csv(page: Any, server: str) -> None:
    page.goto(server + "/#/search")
    page.fill("input[name=query]", "等待期")
    page.select_option("select[name=status]", "on_sale")
    page.select_option("select[name=doc_type]", "clause")
    page.click("form.search button[type=submit]")
    page.locator("#count").wait_for()
    count = int(page.inner_text("#count").split()[1])
    results = page.locator("article.result")
    assert count == results.count() > 0
    assert page.locator("article.result mark", has_text="等待期").count() > 0
    on_sale = {"RH-CI-2023", "AK-CI-2021", "AK-MED-2022", "DX-TL-2021", "DX-AN-2020", "HN-ACC-2022"} - {"DX-TL-2021"}
    shown = {results.nth(i).locator(".meta a").last.inner_text() for i in range(results.count())}
    assert shown <= on_sale, shown
    page.screenshot(path=str(SHOTS / "search.png"), full_page=True)
    with page.expect_download() as info:
        page.click("text=导出 CSV")
    text = Path(info.value.path()).read_text(encoding="utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][:4] == ["排名", "类型", "标题", "位置"] and len(rows) == count + 1


def test_product_page_with_history_sections_cases_laws_and_graph(page: Any, server: str) -> None:
    page.goto(server + "/#/product/RH-CI-2019")
    page.locator("h1", has_text="瑞禾康宁终身重大疾病保险（2019版）").wait_for()
    assert "已停售" in page.inner_text("#status")
    assert "RH-CI-2023" in page.inner_text("#successor")
    assert page.locator(".history li").count() >= 2
    assert page.locator("details.section").count() >= 20  # its clauses by section
    assert page.locator("text=李某诉瑞禾人寿重大疾病保险合同纠纷案").count() >= 1  # a case concerning it
    assert page.locator("a", has_text="中华人民共和国保险法 第十六条").count() >= 1  # a law its clauses cite
    graph = page.locator("svg.graph")
    assert graph.locator("g.node-clause").count() >= 1 and graph.locator("g.node-article").count() >= 1
    assert graph.locator("g.node-case").count() >= 1 and graph.locator("g.node-product").count() >= 2
    page.screenshot(path=str(SHOTS / "product.png"), full_page=True)
    graph.locator("g.node-article").first.click()  # a node opens what it stands for
    page.locator(".doc-section.hit").wait_for()


def test_phone_width_layout(browser: Any, server: str) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto(server + "/")
        turn = _ask(page, "守护定寿还能卖吗？")
        assert "暂停销售" in turn.inner_text()
        no_overflow = "() => document.documentElement.scrollWidth <= window.innerWidth"
        assert page.evaluate(no_overflow)
        assert page.locator("form.ask").is_visible()
        page.screenshot(path=str(SHOTS / "phone-chat.png"), full_page=True)
        page.goto(server + "/#/product/DX-TL-2021")
        page.locator("svg.graph").wait_for()
        assert page.evaluate(no_overflow)
        page.screenshot(path=str(SHOTS / "phone-product.png"), full_page=True)
    finally:
        context.close()


def test_stop_sale_alert_badge_inbox_and_successor_link(page: Any, server: str, demo_stack: Any) -> None:
    """A broker asked about a product on sale; it is withdrawn; the header badge counts the alert, the
    inbox says how recent the change is and leads to the successor's page."""
    from datetime import date, timedelta

    from api.alerts.service import attach

    turn = _ask(page, "金满仓年金的犹豫期多久")
    assert turn.locator(".flag").count() == 0  # on sale when the broker asked
    stopped = (date.today() - timedelta(days=3)).isoformat()
    r = httpx.patch(f"{server}/v1/products/DX-AN-2020", json={"status": "discontinued", "discontinued_date": stopped,
                                                               "replaced_by": "AK-CI-2021"})
    assert r.status_code == 200, r.text
    try:
        assert attach(demo_stack).wait_idle(30)
        page.goto(server + "/#/search")  # any page change refreshes the badge
        count = page.locator("#alerts-badge .count")
        page.wait_for_function("() => document.querySelector('#alerts-badge .count').textContent !== ''")
        unread = int(count.inner_text())
        assert unread >= 1
        page.click("#alerts-badge")
        item = page.locator(".alert-item.unread[data-product='DX-AN-2020']").first
        item.wait_for()
        assert f"已于{stopped}停售（3天前）" in item.inner_text()
        page.screenshot(path=str(SHOTS / "alerts.png"), full_page=True)
        successor = item.locator("a.successor")
        assert "AK-CI-2021" in successor.inner_text()
        successor.click()
        page.locator("h1", has_text="安康安享终身重大疾病保险").wait_for()
        page.wait_for_function(f"() => document.querySelector('#alerts-badge .count').textContent !== '{unread}'")
    finally:
        r = httpx.patch(f"{server}/v1/products/DX-AN-2020", json={"status": "on_sale", "discontinued_date": None,
                                                                   "replaced_by": None})
        assert r.status_code == 200
