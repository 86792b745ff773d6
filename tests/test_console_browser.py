"""The console in Chromium: token sign-in, the site list, refusals, idle timeout, OIDC sign-in,
axe-core on the sign-in and site-list pages, and the screenshots in docs/console/."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from consent_server.sites.tokens import revoke_token
from tests.support.apps import ROOT, release
from tests.support.console import Clock, FakeIssuer, console_app, serious_violations, sign_in, token
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser

SHOTS = ROOT / "docs" / "console"


def site_keys(page: Page) -> list[str]:
    return page.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.site)")


def test_an_operator_signs_in_and_sees_every_site(console: LiveServer, page: Page) -> None:
    sign_in(page, console.url, token(console, None, "admin"))
    expect(page).to_have_url(f"{console.url}/admin/")
    expect(page.locator("h1")).to_have_text("Sites")
    assert site_keys(page) == ["demo-shop", "other-shop"]
    other = page.locator("tr[data-site=other-shop]")
    expect(other.locator("td").nth(1)).to_have_text("1")
    expect(other.locator(".status")).to_have_text("Done")
    expect(page.locator("tr[data-site=demo-shop] td").nth(2)).to_have_text("No scan")
    cookie = next(c for c in page.context.cookies() if c["name"] == "console_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/admin"

    page.click("text=Sign out")
    expect(page).to_have_url(f"{console.url}/admin/signin")
    expect(page.locator("[role=status]")).to_have_text("You are signed out.")
    page.goto(f"{console.url}/admin/")
    expect(page).to_have_url(f"{console.url}/admin/signin")


def test_a_wrong_token_is_refused_with_a_message(console: LiveServer, page: Page) -> None:
    sign_in(page, console.url, "cm_not-a-token", lang="sv")
    expect(page.locator("#signin-error")).to_have_text("Nyckeln är okänd eller återkallad.")
    expect(page.locator("#token")).to_have_attribute("aria-invalid", "true")
    page.goto(f"{console.url}/admin/")
    expect(page).to_have_url(f"{console.url}/admin/signin")


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused(
    console: LiveServer, page: Page
) -> None:
    sign_in(page, console.url, token(console, None, "admin"))
    expect(page.locator("h1")).to_have_text("Sites")
    for value in ("", "forged"):
        page.eval_on_selector(
            "tr[data-site=demo-shop] input[name=csrf_token]", "(el, v) => el.value = v", value
        )
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            page.click("tr[data-site=demo-shop] button")
        assert answer.value.status == 400
        expect(page.locator("[role=alert]")).to_contain_text("reload the page")
        page.goto(f"{console.url}/admin/")
    # Through the API's own client, no cookie at all: the sign-in form needs its token too.
    response = page.request.post(
        f"{console.url}/admin/signin", form={"token": "cm_x"}, headers={"Cookie": ""}
    )
    assert response.status == 400


def test_an_auditor_reads_but_cannot_post_a_form(console: LiveServer, page: Page) -> None:
    sign_in(page, console.url, token(console, None, "auditor"))
    expect(page.locator("h1")).to_have_text("Sites")
    expect(page.locator("text=You have read access")).to_be_visible()
    expect(page.locator("tbody button")).to_have_count(0)
    csrf = page.locator("header input[name=csrf_token]").input_value()
    response = page.request.post(
        f"{console.url}/admin/sites/demo-shop/scan", form={"csrf_token": csrf}
    )
    assert response.status == 403
    assert "You are not allowed" in response.text()


def test_a_site_scoped_user_sees_only_their_site(console: LiveServer, page: Page) -> None:
    sign_in(page, console.url, token(console, "demo-shop", "admin"))
    expect(page.locator("h1")).to_have_text("Sites")
    assert site_keys(page) == ["demo-shop"]
    csrf = page.locator("header input[name=csrf_token]").input_value()
    url = f"{console.url}/admin/sites/%s/scan"
    other = page.request.post(url % "other-shop", form={"csrf_token": csrf})
    assert other.status == 404
    own = page.request.post(url % "demo-shop", form={"csrf_token": csrf})
    assert own.status == 200  # redirected to the list, which says why no scan started
    assert "Demo Shop AB has no scan settings (scan:)." in own.text()


def test_an_idle_session_ends(console: LiveServer, page: Page) -> None:
    sign_in(page, console.url, token(console, None, "admin"))
    expect(page.locator("h1")).to_have_text("Sites")
    clock: Clock = console.app.extensions["console_clock"]
    clock.advance(29 * 60)
    page.reload()
    expect(page.locator("h1")).to_have_text("Sites")  # a request renews the idle limit
    clock.advance(30 * 60 + 1)
    page.reload()
    expect(page).to_have_url(f"{console.url}/admin/signin")
    expect(page.locator("[role=status]")).to_have_text(
        "Your session has expired. Please sign in again."
    )


def test_the_absolute_lifetime_ends_a_busy_session(console: LiveServer, page: Page) -> None:
    sign_in(page, console.url, token(console, None, "admin"))
    clock: Clock = console.app.extensions["console_clock"]
    # Requests of the page's own context share its cookies: the session stays busy without
    # two dozen navigations racing each other in the browser.
    for _ in range(12 * 2):
        clock.advance(30 * 60 - 1)
        assert page.context.request.get(f"{console.url}/admin/", max_redirects=0).status == 200
    clock.advance(60)
    page.goto(f"{console.url}/admin/")
    expect(page).to_have_url(f"{console.url}/admin/signin")


def test_revoking_the_token_ends_its_sessions(console: LiveServer, page: Page) -> None:
    secret = token(console, None, "admin")
    sign_in(page, console.url, secret)
    expect(page.locator("h1")).to_have_text("Sites")
    with console.app.app_context():
        assert revoke_token(secret[:10]) == 1
    page.reload()
    expect(page).to_have_url(f"{console.url}/admin/signin")


def test_oidc_sign_in_through_a_provider(tmp_path: Path, page: Page) -> None:
    with FakeIssuer() as issuer:
        app = console_app(
            tmp_path,
            CONSOLE_OIDC_ISSUER=issuer.url,
            CONSOLE_OIDC_CLIENT_ID=issuer.client_id,
            CONSOLE_OIDC_CLIENT_SECRET=issuer.client_secret,
            CONSOLE_OIDC_USERS={"dpo@example.se": {"role": "auditor", "site": "demo-shop"}},
            CONSOLE_OIDC_GROUPS={"privacy-admins": {"role": "admin", "site": None}},
        )
        with LiveServer(app) as server:
            issuer.claims = {"email": "DPO@example.se", "email_verified": True}
            bounced: list[str] = []
            page.on("request", lambda r: bounced.append(r.url) if "again=1" in r.url else None)
            page.goto(f"{server.url}/admin/signin?lang=en")
            page.click("text=Sign in with your organisation's account")
            page.click("#approve")
            expect(page.locator("h1")).to_have_text("Sites")
            assert site_keys(page) == ["demo-shop"]
            expect(page.locator(".who")).to_contain_text("dpo@example.se (auditor, demo-shop)")
            assert issuer.token_requests == 1
            # The provider's redirect is cross-site (localhost to 127.0.0.1): the SameSite=Strict
            # cookie came back only on the console's own same-site step.
            assert len(bounced) == 1

            page.click("text=Sign out")
            issuer.claims = {"email": "someone@example.se", "groups": ["privacy-admins"]}
            page.click("text=Sign in with your organisation's account")
            page.click("#approve")
            expect(page.locator("h1")).to_have_text("Sites")
            assert site_keys(page) == ["demo-shop", "other-shop"]

            page.click("text=Sign out")
            issuer.claims = {"email": "stranger@example.se", "groups": ["staff"]}
            page.click("text=Sign in with your organisation's account")
            page.click("#approve")
            expect(page.locator("#signin-error")).to_have_text(
                "This account has no access to the console."
            )
            page.goto(f"{server.url}/admin/")
            expect(page).to_have_url(f"{server.url}/admin/signin")

            # A callback nobody asked for (no state in the session) signs no one in.
            page.goto(f"{server.url}/admin/oidc/callback?code=x&state=y")
            expect(page.locator("[role=status]")).to_contain_text("identity provider failed")
        release(app)


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_pages_pass_axe_and_are_photographed(
    console: LiveServer, new_context: Callable[..., BrowserContext], lang: str
) -> None:
    # The console's CSP refuses inline scripts: axe is injected past it.
    page = new_context(viewport={"width": 1100, "height": 640}, bypass_csp=True).new_page()
    page.goto(f"{console.url}/admin/signin?lang={lang}")
    assert serious_violations(page) == []
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"signin-{lang}.png"))
    sign_in(page, console.url, token(console, None, "admin"), lang=lang)
    expect(page.locator("tbody tr")).to_have_count(2)
    assert serious_violations(page) == []
    page.screenshot(path=str(SHOTS / f"sites-{lang}.png"))
