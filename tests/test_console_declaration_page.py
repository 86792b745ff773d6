"""The console's declaration pages in Chromium: revisions with who applied them and when, the
difference between two, bad revision numbers, site scope, axe-core and the screenshots in
docs/console/; and the language switch that keeps the page's query."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable

import pytest
import yaml
from playwright.sync_api import BrowserContext, Page, expect

from consent_server.sites.service import list_revisions
from consent_server.sites.tokens import create_token
from tests.support.apps import ROOT, bearer, example_data
from tests.support.consent import DEMO_PAGE, consent_body
from tests.support.console import serious_violations, sign_in, token
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser

SHOTS = ROOT / "docs" / "console"
PAGE = "/admin/sites/demo-shop/declaration"


@pytest.fixture
def axe_page(new_context: Callable[..., BrowserContext]) -> Page:
    """A page whose context lets axe-core in past the console's CSP (no inline scripts)."""
    return new_context(viewport={"width": 1100, "height": 640}, bypass_csp=True).new_page()


def put_declaration(server: LiveServer, label: str, **changes: object) -> tuple[int, str]:
    """Apply a changed example declaration over the admin API with a token labelled `label`;
    the new revision's number and the token's prefix."""
    with server.app.app_context():
        row, secret = create_token(None, "admin", label=label)
        prefix = row.prefix
    data = example_data(site="demo-shop", **copy.deepcopy(changes))
    # YAML, as a customer's CI sends its site.yaml: the keys keep their order.
    body = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    resp = server.app.test_client().put(
        "/api/v1/sites/demo-shop",
        data=body.encode(),
        headers={**bearer(secret), "Content-Type": "application/yaml"},
    )
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["revision"], prefix


def longer_ga(lifetime: str = "P25M") -> list[dict[str, object]]:
    """The example's cookies with _ga kept longer than declared before."""
    cookies = example_data()["cookies"]
    (ga,) = [c for c in cookies if c.get("name") == "_ga"]
    ga["lifetime"] = lifetime
    return cookies


def test_revisions_show_who_applied_them_and_a_diff(console: LiveServer, axe_page: Page) -> None:
    page = axe_page
    second, prefix = put_declaration(console, "ci deploy", cookies=longer_ga())
    assert second == 2
    sign_in(page, console.url, token(console, None, "auditor"))
    page.locator("tr[data-site=demo-shop] a.declaration-link").click()
    expect(page.locator("h1")).to_have_text("Declaration of Demo Shop AB")

    rows = page.locator("tr[data-revision]")
    expect(rows).to_have_count(2)
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.revision)") == ["2", "1"]
    newest = page.locator("tr[data-revision='2']")
    expect(newest.locator("th")).to_have_text("2 (current)")
    # Applied through the API: the token's prefix and label are recorded and shown.
    expect(newest.locator("td").nth(2)).to_have_text(f"token:{prefix} ci deploy")
    with console.app.app_context():
        revs = list_revisions("demo-shop")
        at = revs[0].created_at.strftime("%Y-%m-%d %H:%M")
        digest = revs[0].content_hash
    expect(newest.locator("td").nth(1)).to_have_text(f"{at} UTC")
    expect(newest.locator("td code")).to_have_text(digest[:12])
    expect(newest.locator("td code")).to_have_attribute("title", digest)
    expect(page.locator("tr[data-revision='1'] td").nth(2)).to_have_text("(unknown)")
    assert serious_violations(page) == []
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "declaration-en.png"), full_page=True)

    # The form starts on the newest change: 1 -> 2.
    expect(page.locator("#rev_a")).to_have_value("1")
    expect(page.locator("#rev_b")).to_have_value("2")
    page.click("form.compare button[type=submit]")
    assert page.url.endswith(f"{PAGE}/diff?a=1&b=2")
    expect(page.locator("h1")).to_have_text("Demo Shop AB: revision 1 compared with revision 2")
    changed = page.locator("#diff-cookies")
    expect(changed.locator("h3")).to_have_text(["Changed: _ga"])
    lifetime = changed.locator("tr[data-field=lifetime] td")
    expect(lifetime).to_have_text(["P2Y", "P25M"])
    expect(page.locator("#diff-categories")).to_contain_text("No changes.")
    unified = page.locator("#diff-unified pre")
    expect(unified.locator("span.minus")).to_have_count(1)
    expect(unified.locator("span.minus")).to_contain_text("lifetime: P2Y")
    expect(unified.locator("span.plus")).to_contain_text("lifetime: P25M")
    expect(unified).to_contain_text("--- revision 1")
    assert serious_violations(page) == []
    page.screenshot(path=str(SHOTS / "declaration-diff-en.png"), full_page=True)


def test_added_and_removed_entries_and_texts(console: LiveServer, page: Page) -> None:
    data = example_data()
    cookies = [c for c in data["cookies"] if c.get("name") != "_fbp"]
    cookies.append(
        {"name": "_hj", "provider": "Hotjar", "category": "analytics", "lifetime": "P1Y"}
    )
    texts = copy.deepcopy(data["texts"])
    texts["en"]["title"] = "We use <b>cookies</b>"
    put_declaration(console, "editor", cookies=cookies, texts=texts, consent_lifetime="P6M")
    sign_in(page, console.url, token(console, "demo-shop", "auditor"))
    page.goto(f"{console.url}{PAGE}/diff?a=1&b=2")
    cookies_part = page.locator("#diff-cookies")
    expect(cookies_part.locator("ul.added li code")).to_have_text(["_hj"])
    expect(cookies_part.locator("ul.removed li code")).to_have_text(["_fbp"])
    title = page.locator("#diff-texts tr[data-field=title] td").nth(1)
    # Declared texts are shown as text, never as markup.
    expect(title).to_have_text("We use <b>cookies</b>")
    expect(page.locator("#diff-texts b")).to_have_count(0)
    expect(page.locator("#diff-fields tr[data-field=consent_lifetime] td")).to_have_text(
        ["P12M", "P6M"]
    )
    # The reverse direction swaps added and removed.
    page.goto(f"{console.url}{PAGE}/diff?a=2&b=1")
    expect(page.locator("#diff-cookies ul.added li code")).to_have_text(["_fbp"])


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("a=1&b=9", 404, "The site has no revision 9."),
        ("a=0&b=1", 404, "The site has no revision 0."),
        ("a=1", 400, "Pick two revisions to compare: a and b must be revision numbers."),
        ("a=x&b=1", 400, "Pick two revisions to compare: a and b must be revision numbers."),
        ("a=-1&b=1", 400, "Pick two revisions to compare: a and b must be revision numbers."),
        ("a=99999999999999999999&b=1", 400, "Pick two revisions"),
    ],
)
def test_a_bad_revision_number_gets_a_message(
    console: LiveServer, axe_page: Page, query: str, status: int, message: str
) -> None:
    page = axe_page
    sign_in(page, console.url, token(console, None, "auditor"))
    resp = page.goto(f"{console.url}{PAGE}/diff?{query}")
    assert resp is not None and resp.status == status
    expect(page.locator("#declaration_error")).to_contain_text(message)
    # The list and the form are still there to pick again.
    expect(page.locator("tr[data-revision]")).to_have_count(1)
    expect(page.locator("#rev_a")).to_be_visible()
    if query == "a=1&b=9":
        assert serious_violations(page) == []


def test_a_site_scoped_user_sees_only_their_site(console: LiveServer, page: Page) -> None:
    sign_in(page, console.url, token(console, "demo-shop", "auditor"))
    for path in ("declaration", "declaration/diff?a=1&b=1"):
        resp = page.goto(f"{console.url}/admin/sites/other-shop/{path}")
        assert resp is not None and resp.status == 404
        resp = page.goto(f"{console.url}/admin/sites/demo-shop/{path}")
        assert resp is not None and resp.status == 200
    resp = page.goto(f"{console.url}/admin/sites/no-such-site/declaration")
    assert resp is not None and resp.status == 404


@pytest.mark.parametrize("lang", ["en", "sv"])
def test_both_pages_pass_axe_core(console: LiveServer, axe_page: Page, lang: str) -> None:
    page = axe_page
    put_declaration(console, "ci deploy", cookies=longer_ga())
    sign_in(page, console.url, token(console, None, "admin"), lang=lang)
    for path in (PAGE, f"{PAGE}/diff?a=1&b=2"):
        page.goto(f"{console.url}{path}")
        expect(page.locator("html")).to_have_attribute("lang", lang)
        assert serious_violations(page) == [], path
    expect(page.locator("h1")).to_have_text(
        "Demo Shop AB: version 1 jämförd med version 2"
        if lang == "sv"
        else "Demo Shop AB: revision 1 compared with revision 2"
    )


def test_the_language_switch_keeps_the_query(console: LiveServer, page: Page) -> None:
    consent_id = str(uuid.uuid4())
    resp = console.app.test_client().post(
        "/api/v1/sites/demo-shop/consents",
        json=consent_body(consent_id=consent_id),
        headers=DEMO_PAGE,
    )
    assert resp.status_code == 201
    sign_in(page, console.url, token(console, None, "auditor"), lang="sv")
    page.goto(f"{console.url}/admin/sites/demo-shop/receipts?consent_id={consent_id}")
    expect(page.locator("tr[data-receipt]")).to_have_count(1)
    page.click("a[hreflang=en]")
    expect(page.locator("h1")).to_have_text("Receipts of Demo Shop AB")
    expect(page.locator("tr[data-receipt]")).to_have_count(1)
    expect(page.locator("#consent_id")).to_have_value(consent_id)
    assert f"consent_id={consent_id}" in page.url
    # On the statistics page the range stays too, and only one lang is ever in the query.
    page.goto(
        f"{console.url}/admin/sites/demo-shop/stats?since=2026-01-01&until=2026-01-31&lang=en"
    )
    page.click("a[hreflang=sv]")
    expect(page.locator("html")).to_have_attribute("lang", "sv")
    assert page.url.endswith("/stats?since=2026-01-01&until=2026-01-31&lang=sv")
