"""What the banner holds back and releases in real Chromium (Playwright): Google Consent Mode,
blocked frames and their placeholders, blocked scripts, under a strict content security
policy."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.support.banner import (
    ALL_DENIED,
    CSP,
    RUN_ORDER,
    data_layer,
    decisions,
    expect_hidden,
    is_consent_post,
    record,
    visit,
    wait_runs,
)

pytestmark = pytest.mark.browser


def test_google_consent_mode_default_then_update(page: Page, banner_server):
    visit(page, banner_server)
    layer = data_layer(page)
    assert layer[0] == ["consent", "default", ALL_DENIED]
    assert len(layer) == 1
    record(page, lambda: page.evaluate("ConsentManager.accept(['analytics'])"))
    page.wait_for_function("window.runs.length === 3")
    expected = {
        "analytics_storage": "granted",
        "ad_storage": "denied",
        "ad_user_data": "denied",
        "ad_personalization": "denied",
    }
    layer = data_layer(page)
    assert layer[0] == ["consent", "default", ALL_DENIED]
    assert layer[1] == ["consent", "update", expected]
    assert layer[2:] == [[{"event": "analytics-ready"}]]  # tags run after the update

    visit(page, banner_server)
    page.wait_for_function("window.runs.length === 3")
    layer = data_layer(page)
    assert layer[:2] == [["consent", "default", ALL_DENIED], ["consent", "update", expected]]

    record(page, lambda: page.evaluate("ConsentManager.acceptAll()"))
    assert data_layer(page)[-1] == [
        "consent",
        "update",
        {k: "granted" for k in expected},
    ]


def test_iframe_placeholder_grants_its_category(page: Page, banner_server):
    visit(page, banner_server)
    holder = page.locator(".cm-ph")
    holder.wait_for()
    assert page.locator("#video").is_hidden()
    assert "Marknadsföring" in holder.text_content()
    button = holder.get_by_role("button", name="Tillåt: Marknadsföring")
    body, _ = record(page, button.click)
    assert body["method"] == "custom"
    assert body["decisions"] == decisions(marketing=True)
    page.locator("#video[src='/t/frame']").wait_for()
    assert page.frame_locator("#video").locator("#frame-content").text_content() == "video"
    assert page.locator(".cm-ph").count() == 0
    wait_runs(page, ["marketing-inline", "marketing-src"])
    expect_hidden(page)


def test_a_blocked_script_removed_by_the_page_does_not_stall_the_others(page: Page, banner_server):
    visit(page, banner_server)
    with page.expect_response(is_consent_post):
        page.evaluate(
            """() => { ConsentManager.acceptAll();
                 document.querySelector("script[src*='marketing-src']").remove(); }"""
        )
    expected = [r for r in RUN_ORDER if r != "marketing-src"]
    wait_runs(page, expected)


def test_placeholder_of_a_frame_in_a_closed_tab_keeps_a_usable_size(page: Page, banner_server):
    visit(page, banner_server, extra="tab")
    holder = page.locator("#tab .cm-ph")
    holder.wait_for(state="attached")
    page.evaluate("document.getElementById('tab').hidden = false")
    holder.get_by_role("button", name="Tillåt: Inställningar").wait_for()
    box = holder.bounding_box()
    assert box["width"] > 200 and box["height"] > 60, box
    body, _ = record(page, holder.get_by_role("button", name="Tillåt: Inställningar").click)
    assert body["decisions"] == decisions(preferences=True)
    page.locator("#map[src='/t/frame']").wait_for()


def test_works_under_a_strict_content_security_policy(page: Page, banner_server):
    with page.expect_response(lambda r: "/t/page" in r.url) as answer:
        visit(page, banner_server, csp="1", extra="tab")
    assert answer.value.headers["content-security-policy"] == CSP
    page.get_by_role("dialog", name="Vi använder kakor").wait_for()
    assert page.evaluate("getComputedStyle(document.getElementById('cm-banner')).position") == (
        "fixed"
    )
    # The placeholder got the frame's size (CSSOM styles are allowed; style="" would not be).
    holder = page.locator("#video + .cm-ph, .cm-ph:has(+ #video)").first
    assert holder.evaluate("e => e.getBoundingClientRect().width") == 480
    body, _ = record(page, page.get_by_role("button", name="Godkänn alla").click)
    assert body["method"] == "accept_all"
    wait_runs(page, RUN_ORDER)  # released inline scripts inherit the nonce
    page.locator("#video[src='/t/frame']").wait_for()
    assert page.evaluate("window.violations") == []
    # The listener does see violations: an inline style attribute is one.
    page.evaluate("document.body.setAttribute('style', 'color: red')")
    page.wait_for_function("window.violations.length === 1")
    assert page.evaluate("window.violations")[0].startswith("style-src")
