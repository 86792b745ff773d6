"""The console's receipts lookup page in Chromium: one site's receipts for a consent id, a
malformed id, site scope, the JSONL download, axe-core and the screenshot in docs/console/."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from consent_server.consent_log.seals import seal_site
from tests.support.apps import ROOT
from tests.support.consent import DEMO_PAGE, consent_body
from tests.support.console import serious_violations, sign_in, token
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser

SHOTS = ROOT / "docs" / "console"


@pytest.fixture
def axe_page(new_context: Callable[..., BrowserContext]) -> Page:
    """A page whose context lets axe-core in past the console's CSP (no inline scripts)."""
    return new_context(viewport={"width": 1100, "height": 640}, bypass_csp=True).new_page()


def post(server: LiveServer, site: str, consent_id: str, **changes: object) -> str:
    """Record a consent over the public API; its receipt id."""
    client = server.app.test_client()
    body = consent_body(consent_id=consent_id, **changes)
    resp = client.post(f"/api/v1/sites/{site}/consents", json=body, headers=DEMO_PAGE)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["receipt_id"]


def test_a_visitors_receipts_of_one_site_are_shown(console: LiveServer, axe_page: Page) -> None:
    page = axe_page
    consent_id = str(uuid.uuid4())
    first = post(console, "demo-shop", consent_id)
    with console.app.app_context():
        (sealed,) = seal_site("demo-shop")
    second = post(
        console,
        "demo-shop",
        consent_id,
        method="reject_all",
        decisions={"necessary": True},
        language="en",
        page_url="https://demo.example.se/<b>kassa</b>",
    )
    other = post(console, "other-shop", consent_id)
    sign_in(page, console.url, token(console, None, "auditor"), lang="sv")
    page.locator("tr[data-site=demo-shop] a", has_text="Kvitton").click()
    expect(page.locator("h1")).to_have_text("Kvitton för Demo Shop AB")
    page.fill("#consent_id", consent_id)
    page.click("form.card button[type=submit]")

    rows = page.locator("tr[data-receipt]")
    expect(rows).to_have_count(2)
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.receipt)") == [second, first]
    assert other not in page.content()
    newest = page.locator(f"tr[data-receipt='{second}']")
    expect(newest.locator("td").nth(0)).to_have_text("reject_all")
    expect(newest.locator("td").nth(1)).to_contain_text("marketing: nej")
    expect(newest.locator("td").nth(2)).to_have_text("en")
    # The page URL is shown as text, never as markup.
    expect(newest.locator("td").nth(4)).to_have_text("https://demo.example.se/<b>kassa</b>")
    expect(newest.locator("b")).to_have_count(0)
    expect(newest.locator("td").nth(5)).to_have_text("Inte ännu")
    oldest = page.locator(f"tr[data-receipt='{first}'] td").nth(5)
    expect(oldest).to_have_text(f"Ja, försegling {sealed.sequence}")
    details = page.locator(f"tr[data-receipt-record='{second}']")
    details.locator("summary").click()
    record = json.loads(details.locator("pre").inner_text())
    assert record["receipt_id"] == second and record["consent_id"] == consent_id
    assert record["site"] == "demo-shop"
    expect(details).to_contain_text("Postens hash (SHA-256)")
    expect(page.locator("text=sparas inte på servern")).to_be_visible()
    assert serious_violations(page) == []
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "receipts-sv.png"), full_page=True)

    with page.expect_download() as info:
        page.click("text=Ladda ned webbplatsens samtyckeslogg")
    lines = Path(info.value.path()).read_text(encoding="utf-8").splitlines()
    exported = {json.loads(line)["record"]["receipt_id"] for line in lines if line}
    assert {first, second} <= exported and other not in exported


def test_a_malformed_or_unknown_id_gives_a_message(console: LiveServer, axe_page: Page) -> None:
    page = axe_page
    sign_in(page, console.url, token(console, "demo-shop", "auditor"))
    resp = page.goto(f"{console.url}/admin/sites/demo-shop/receipts?consent_id=not-a-uuid")
    assert resp is not None and resp.status == 400
    expect(page.locator("#consent_id_error")).to_have_text(
        "The consent id is not a valid version 4 UUID."
    )
    expect(page.locator("#consent_id")).to_have_attribute("aria-invalid", "true")
    assert serious_violations(page) == []
    page.goto(f"{console.url}/admin/sites/demo-shop/receipts?consent_id={uuid.uuid4()}")
    expect(page.locator("[role=status]")).to_have_text(
        "No receipts for this consent id on this site."
    )


def test_a_site_scoped_user_cannot_open_another_sites_page(console: LiveServer, page: Page) -> None:
    sign_in(page, console.url, token(console, "demo-shop", "auditor"))
    for path in ("receipts", "export.jsonl"):
        resp = page.request.get(f"{console.url}/admin/sites/other-shop/{path}")
        assert resp.status == 404
    resp = page.goto(f"{console.url}/admin/sites/no-such-site/receipts")
    assert resp is not None and resp.status == 404
    resp = page.goto(f"{console.url}/admin/sites/demo-shop/receipts")
    assert resp is not None and resp.status == 200
