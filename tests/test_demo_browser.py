"""The demo page in real Chromium: it fetches the configuration and records a choice."""

from __future__ import annotations

import jwt
import pytest
from playwright.sync_api import sync_playwright

from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def test_demo_page_records_a_choice_and_shows_the_signed_receipt(
    live_server: LiveServer, demo_site: str, chromium_path: str
):
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{live_server.url}/demo")
            status = page.locator("#config-status")
            status.filter(has_text="revision 1").wait_for()
            with page.expect_response(lambda r: r.url.endswith("/consents")) as posted:
                page.get_by_role("button", name="Neka alla").click()
            assert posted.value.status == 201
            receipt = posted.value.json()["receipt"]
            claims = jwt.decode(receipt, options={"verify_signature": False})
            assert claims["method"] == "reject_all"
            assert claims["decisions"] == {
                "necessary": True,
                "preferences": False,
                "analytics": False,
                "marketing": False,
            }
            assert claims["ip_truncated"] == "127.0.0.0/24"
            assert claims["user_agent_family"] in {"Chrome", "HeadlessChrome", "Chromium"}
            page.locator("#history").filter(has_text="reject_all").wait_for()
        finally:
            browser.close()
