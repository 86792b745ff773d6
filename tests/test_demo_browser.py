"""The /demo page in real Chromium: the banner blocks the demo tags and records choices."""

from __future__ import annotations

import json

import jwt
import pytest
from playwright.sync_api import Page

pytestmark = pytest.mark.browser

ALL_RUNS = "analytics-inline\nanalytics-src\nmarketing-src"
NOTHING = "\u2013"  # what demo.js shows for an empty list


def receipt_of(page: Page, click) -> dict:
    with page.expect_response(
        lambda r: r.request.method == "POST" and "/consents" in r.url
    ) as info:
        click()
    assert info.value.status == 201
    return jwt.decode(info.value.json()["receipt"], options={"verify_signature": False})


def test_demo_page_blocks_then_runs_tags_and_records_choices(page: Page, demo_server):
    page.goto(f"{demo_server.url}/demo")
    banner = page.get_by_role("dialog", name="Vi använder kakor")
    banner.wait_for()
    assert page.locator("html").get_attribute("lang") == "sv"
    # Before a choice: nothing blocked ran, the video is a placeholder, Consent Mode denied.
    page.locator("#consent", has_text="null").wait_for()
    assert page.locator("#runs").text_content() == NOTHING
    assert page.locator(".cm-ph").is_visible()
    assert page.locator("iframe[title='Demo video']").get_attribute("src") is None
    layer = json.loads(page.locator("#datalayer").text_content())
    assert layer[0][:2] == ["consent", "default"]
    assert layer[0][2]["analytics_storage"] == "denied"

    claims = receipt_of(page, banner.get_by_role("button", name="Godkänn alla").click)
    assert claims["method"] == "accept_all"
    assert claims["ip_truncated"] == "127.0.0.0/24"
    assert claims["user_agent_family"] in {"Chrome", "HeadlessChrome", "Chromium"}
    page.locator("#runs", has_text=ALL_RUNS).wait_for()
    page.locator("iframe[title='Demo video'][src='/demo/video']").wait_for()
    video = page.frame_locator("iframe[title='Demo video']").locator("p")
    assert "Demo video" in video.text_content()
    consent = json.loads(page.locator("#consent").text_content())
    assert consent["method"] == "accept_all" and consent["consentId"] == claims["consent_id"]
    assert consent["decisions"] == claims["decisions"]
    cookies = page.locator("#cookies").text_content()
    assert "_ga=" in cookies and "_ga_DEMO42=" in cookies and "_fbp=" in cookies
    layer = json.loads(page.locator("#datalayer").text_content())
    assert layer[1] == [
        "consent",
        "update",
        {
            "analytics_storage": "granted",
            "ad_storage": "granted",
            "ad_user_data": "granted",
            "ad_personalization": "granted",
        },
    ]

    # The page's own "Kakinställningar" link opens the settings; rejecting is a withdrawal
    # and removes the demo tags' cookies.
    page.get_by_role("link", name="Kakinställningar").click()
    settings = page.get_by_role("dialog", name="Inställningar för kakor")
    settings.wait_for()
    claims = receipt_of(page, settings.get_by_role("button", name="Neka alla").click)
    assert claims["method"] == "withdraw"
    assert claims["consent_id"] == consent["consentId"]
    page.locator("#consent", has_text='"withdraw"').wait_for()
    cookies = page.locator("#cookies").text_content()
    assert "_ga" not in cookies and "_fbp" not in cookies and "cm_consent=" in cookies

    # A new page view: nothing runs any more.
    page.reload()
    page.locator("#consent", has_text='"withdraw"').wait_for()
    assert page.locator("#runs").text_content() == NOTHING
    assert page.locator("#cm-banner").count() == 0


def test_demo_page_in_english(page: Page, demo_server):
    page.goto(f"{demo_server.url}/demo?lang=en")
    dialog = page.get_by_role("dialog", name="We use cookies")
    dialog.wait_for()
    claims = receipt_of(page, dialog.get_by_role("button", name="Reject all").click)
    assert claims["method"] == "reject_all" and claims["language"] == "en"
    assert page.get_by_role("link", name="Cookie settings").is_visible()
    assert page.get_by_role("link", name="På svenska").get_attribute("href") == "?lang=sv"
