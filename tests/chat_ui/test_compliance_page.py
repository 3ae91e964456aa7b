"""The compliance page (#/compliance) in headless Chromium against a real server on the demo corpus:
a broker pastes a sales text, sees the breach highlighted with the article it breaks, opens that
article; a clean text says so; a chat answer is checked in one click.

Same set-up as test_browser.py: uvicorn on a free loopback port (key-less loopback mode), Debian's
/usr/bin/chromium through Playwright, screenshots in test-output/screenshots/.
"""

from __future__ import annotations

import re
from typing import Any

from tests.chat_ui.conftest import SHOTS

BREACH = "这款产品保本保收益，稳赚不赔。"
CLEAN = "投保前请如实告知健康情况，具体保障以合同条款为准。"
# a wrong waiting period, two products off sale, a promised return and a deposit comparison, overlapping
MANY = "康宁2019等待期只有30天，保本保收益，现在还能买，守护定寿也在卖，稳赚不赔，比存银行划算。张三电话13812345678"


def _check(page: Any, text: str, kind: str = "微信消息") -> Any:
    """Open the page from the nav, paste the text, choose its kind, press 检查; the result region."""
    from playwright.sync_api import expect

    page.get_by_role("link", name="合规检查").click()
    page.get_by_label("待检查的文字").fill(text)
    page.get_by_label("类型").select_option(label=kind)
    with page.expect_response(lambda r: r.url.endswith("/v1/compliance/check")):
        page.get_by_role("button", name="检查", exact=True).click()
    result = page.locator("#compliance-result")
    expect(result.locator("#verdict")).to_be_visible()
    return result


def test_breach_is_highlighted_and_its_article_chip_opens_the_regulation(page: Any) -> None:
    from playwright.sync_api import expect

    result = _check(page, BREACH)
    expect(page.get_by_role("link", name="合规检查")).to_have_class(re.compile("active"))
    expect(result.locator("#verdict")).to_have_text("发现 1 个问题")
    highlight = result.locator("#checked-text mark")
    expect(highlight).to_have_count(1)
    expect(highlight).to_be_visible()
    assert highlight.inner_text() == "这款产品保本保收益，稳赚不赔"  # exactly the quote, not the full stop
    assert "承诺保本保收益" in (highlight.get_attribute("aria-label") or "")

    finding = result.get_by_role("listitem").filter(has_text="承诺保本保收益")
    expect(finding).to_be_visible()
    expect(finding).to_contain_text("高风险")
    expect(finding).to_contain_text("“这款产品保本保收益，稳赚不赔”")
    expect(finding).to_contain_text("说成确定的")  # the explanation
    expect(finding).to_contain_text(re.compile(r"v\d+-[0-9a-f]+"))  # the rule's version, small
    expect(result.locator("#rules-version")).to_contain_text("规则版本")
    chip = finding.get_by_role("link", name="保险销售行为管理办法 第十七条")
    expect(chip).to_be_visible()
    expect(chip).to_have_text("保险销售行为管理办法 第十七条")
    page.screenshot(path=str(SHOTS / "compliance-breach.png"), full_page=True)

    # the highlight leads to its finding (focused, keyboard too) and the quote back to the highlight
    highlight.click()
    expect(finding).to_be_focused()
    finding.get_by_role("button", name=re.compile("在原文中定位")).click()
    expect(highlight).to_be_focused()
    page.keyboard.press("Enter")
    expect(finding).to_be_focused()

    # the article chip opens the regulation at 第十七条, highlighted and in view
    chip.click()
    expect(page.locator("h1")).to_have_text("保险销售行为管理办法")
    hit = page.locator(".doc-section.hit")
    expect(hit).to_be_visible()
    assert hit.get_attribute("data-locator") == "第十七条"
    expect(hit).to_contain_text("保险销售宣传")
    expect(hit).to_be_in_viewport()
    # back: the check is still there (not run again)
    page.go_back()
    expect(page.locator("#checked-text mark")).to_have_text("这款产品保本保收益，稳赚不赔")
    expect(page.get_by_label("待检查的文字")).to_have_value(BREACH)


def test_overlapping_findings_flags_clause_and_successor_chips(page: Any, server: str) -> None:
    from playwright.sync_api import expect

    result = _check(page, MANY)
    findings = result.locator("ol.findings > li")
    assert findings.count() >= 4
    expect(result.locator("#verdict")).to_have_text(f"发现 {findings.count()} 个问题")
    text = result.locator("#checked-text")
    expect(text).to_contain_text("138****5678")  # personal data masked in what is shown
    assert "13812345678" not in text.inner_text()
    # overlapping spans: the text reads exactly as checked, every finding's quote is highlighted
    assert text.inner_text().strip() == MANY.replace("13812345678", "138****5678")
    highlighted = "".join(text.locator("mark").all_inner_texts())
    for quote in ["康宁2019等待期只有30天", "保本保收益", "稳赚不赔", "比存银行划算"]:
        assert quote in highlighted
    assert text.locator("mark.overlap").count() >= 1

    # off-sale products: red banners like the chat, and the finding names the successor
    banner = result.locator(".flag[data-product='RH-CI-2019']")
    expect(banner).to_contain_text("停售")
    expect(banner).to_contain_text("瑞禾康宁终身重大疾病保险（2023版）")
    expect(result.locator(".flag[data-product='DX-TL-2021']")).to_contain_text("暂停销售")
    wrong = findings.filter(has_text="产品要素与条款不符")
    clause = wrong.get_by_role("link", name=re.compile(r"瑞禾康宁终身重大疾病保险（2019版）条款 2\.2"))
    expect(clause).to_contain_text("180日")
    off_sale = findings.filter(has_text="推荐已停售或暂停销售的产品").filter(has_text="替代产品")
    successor = off_sale.get_by_role("link", name=re.compile("替代产品：瑞禾康宁终身重大疾病保险（2023版）"))
    expect(successor).to_be_visible()
    page.screenshot(path=str(SHOTS / "compliance-findings.png"), full_page=True)

    # keyboard only: tab to a highlight, Enter focuses a finding that covers it
    first = text.locator("mark").first
    first.focus()
    page.keyboard.press("Enter")
    expect(page.locator("ol.findings > li:focus")).to_have_count(1)

    clause.click()
    hit = page.locator(".doc-section.hit")
    expect(hit).to_be_visible()
    assert hit.get_attribute("data-locator") == "2.2"
    page.go_back()
    page.locator("ol.findings").get_by_role(
        "link", name=re.compile("替代产品：瑞禾康宁终身重大疾病保险（2023版）")
    ).first.click()
    expect(page.locator("h1")).to_have_text("瑞禾康宁终身重大疾病保险（2023版）")

    # phone width: nothing runs off the side
    page.set_viewport_size({"width": 390, "height": 844})
    page.go_back()
    page.locator("#checked-text mark").first.wait_for()
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(SHOTS / "phone-compliance.png"), full_page=True)


def test_clean_text_shows_the_clean_state_and_the_rules_in_force(page: Any) -> None:
    from playwright.sync_api import expect

    result = _check(page, CLEAN, kind="话术")
    expect(result.locator("#verdict")).to_have_text("✓ 未发现问题")
    expect(result.get_by_role("status")).to_contain_text("未发现问题")
    expect(result.locator("mark")).to_have_count(0)
    expect(result.get_by_role("listitem")).to_have_count(0)
    expect(result).to_contain_text(CLEAN)

    rules = page.locator("details#rules")
    expect(rules.locator(".rules-table")).to_be_hidden()
    rules.get_by_text("现行规则").click()
    table = rules.locator(".rules-table")
    expect(table).to_be_visible()
    row = table.locator("tbody tr").filter(has_text="承诺保本保收益")
    expect(row).to_contain_text("保险销售行为管理办法 第十七条")
    expect(row).to_contain_text(re.compile(r"v\d+-[0-9a-f]+"))
    assert table.locator("tbody tr").count() >= 10
    expect(rules.get_by_role("alert")).to_have_count(0)  # no rule file failed to load
    page.screenshot(path=str(SHOTS / "compliance-clean.png"), full_page=True)


def _ask(page: Any, question: str) -> Any:
    page.fill("#q", question)
    page.click("form.ask button[type=submit]")
    turn = page.locator("article.turn").last
    turn.locator(".actions").wait_for()
    return turn


def test_chat_answer_is_checked_in_one_click(page: Any) -> None:
    from playwright.sync_api import expect

    turn = _ask(page, "康宁2019的等待期多久")
    answer = turn.locator(".a").inner_text()
    with page.expect_response(lambda r: r.url.endswith("/v1/compliance/check")):
        turn.get_by_role("button", name="合规检查").click()
    expect(page.locator("h1")).to_have_text("合规检查")
    box = page.get_by_label("待检查的文字")
    value = box.input_value()
    assert "180日" in value and "[1]" not in value  # the answer, without its citation markers
    assert re.sub(r"\[\d+\]", "", answer).split("\n")[0].strip()[:12] in value
    expect(page.get_by_label("类型")).to_have_value("message")
    expect(page.locator("#verdict")).to_be_visible()
    expect(page.locator("#rules-version")).to_contain_text("微信消息")
    page.screenshot(path=str(SHOTS / "compliance-from-chat.png"), full_page=True)

    # a comparison answer is checked as a comparison
    page.get_by_role("link", name="对话").click()
    turn = _ask(page, "对比康宁2019和安享重疾")
    turn.locator("table.facts.compare").wait_for()
    turn.get_by_role("button", name="合规检查").click()
    expect(page.get_by_label("类型")).to_have_value("comparison")
    expect(page.locator("#rules-version")).to_contain_text("产品对比")
