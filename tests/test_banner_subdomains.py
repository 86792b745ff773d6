"""One consent across subdomains: the declaration's cookie_domain carries the consent cookie to
every host of the site, a withdrawal removes refused cookies set for that domain too, and a
cookie_domain that browsers would refuse or that leaves out a site domain is refused.

Chromium maps www.shop.test and shop.test to the loopback server (--host-resolver-rules)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from playwright.sync_api import Browser, BrowserContext, Page, Playwright

from tests.support.apps import EXAMPLE, apply_data, bearer, example_data, release
from tests.support.banner import (
    RUN_ORDER,
    build_app,
    cookie_names,
    is_consent_post,
    stored_choice,
    verified,
    visit,
    wait_runs,
)
from tests.support.browsers import CHROMIUM_ARGS, open_context
from tests.support.live import LiveServer

DOMAINS = ["www.shop.test", "shop.test"]


@pytest.fixture(scope="module")
def shop_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The banner's test page for a site on www.shop.test and shop.test sharing shop.test."""
    app = build_app(tmp_path_factory.mktemp("subdomains"))
    apply_data(app, example_data(domains=DOMAINS, cookie_domain="shop.test"))
    with LiveServer(app) as live:
        yield live
    release(app)


@pytest.fixture(scope="module")
def shop_browser(pw: Playwright, chromium_path: str) -> Iterator[Browser]:
    """Chromium resolving the shop's hosts to loopback, as DNS would to the real site."""
    rules = "MAP shop.test 127.0.0.1, MAP *.shop.test 127.0.0.1"
    browser = pw.chromium.launch(
        executable_path=chromium_path, args=[*CHROMIUM_ARGS, f"--host-resolver-rules={rules}"]
    )
    yield browser
    browser.close()


@pytest.fixture
def context(shop_browser: Browser) -> Iterator[BrowserContext]:
    """A fresh profile in the shop's browser."""
    ctx = open_context(shop_browser)
    yield ctx
    ctx.close()


def _on(server: LiveServer, host: str) -> LiveServer:
    """The same server addressed by a host name of the shop."""

    class At:
        url = f"http://{host}:{server.port}"

    return At()  # type: ignore[return-value]


def _record(page: Page, server: LiveServer, action: Callable[[], Any]) -> tuple[dict, dict]:
    """Run `action`, wait for the consent POST; (body, claims checked with the server's keys)."""
    with page.expect_response(is_consent_post) as info:
        action()
    response = info.value
    assert response.status == 201, response.text()
    # The test process cannot resolve the shop's names: fetch the keys at the server's address.
    return response.request.post_data_json, verified(server.url, response.json()["receipt"])


def _cookies(context: BrowserContext, name: str) -> list[dict[str, Any]]:
    return [c for c in context.cookies() if c["name"] == name]


def test_a_choice_made_on_www_is_seen_on_the_bare_domain(
    shop_server: LiveServer, context: BrowserContext
):
    www = context.new_page()
    visit(www, _on(shop_server, "www.shop.test"))
    assert www.locator("#cm-banner").is_visible()
    _, claims = _record(www, shop_server, lambda: www.click("[data-cm-action=accept-all]"))
    assert claims["page_url"].startswith("http://www.shop.test:")
    assert [c["domain"] for c in _cookies(context, "cm_consent")] == [".shop.test"]

    shop = context.new_page()
    visit(shop, _on(shop_server, "shop.test"))
    wait_runs(shop, RUN_ORDER)
    assert shop.locator("#cm-banner").count() == 0
    consent = shop.evaluate("ConsentManager.getConsent()")
    assert consent["consentId"] == claims["consent_id"]
    assert consent["method"] == "accept_all"


def test_withdrawal_removes_a_refused_cookie_set_for_the_shared_domain(
    shop_server: LiveServer, context: BrowserContext
):
    www = context.new_page()
    visit(www, _on(shop_server, "www.shop.test"))
    _record(www, shop_server, lambda: www.click("[data-cm-action=accept-all]"))
    wait_runs(www, RUN_ORDER)
    # Analytics as a tag manager sets it: for the whole site, and on the page's own path.
    www.evaluate("document.cookie = '_ga=GA1.2.3.4; Domain=.shop.test; Path=/t; Max-Age=3600'")
    assert {c["domain"] for c in _cookies(context, "_ga")} == {"www.shop.test", ".shop.test"}

    shop = context.new_page()
    visit(shop, _on(shop_server, "shop.test"))
    assert "_ga" in cookie_names(shop)
    body, _ = _record(shop, shop_server, lambda: shop.evaluate("ConsentManager.rejectAll()"))
    assert body["method"] == "withdraw"
    # The shared copy is gone; www's own copy is out of this page's reach...
    assert [c["domain"] for c in _cookies(context, "_ga")] == ["www.shop.test"]
    # ...and goes on the next page view there.
    visit(www, _on(shop_server, "www.shop.test"))
    assert _cookies(context, "_ga") == []
    assert stored_choice(context)["d"]["analytics"] == 0


def test_after_the_cookie_domain_is_dropped_the_newer_host_only_choice_counts(
    shop_server: LiveServer, context: BrowserContext
):
    www = context.new_page()
    visit(www, _on(shop_server, "www.shop.test"))
    _record(www, shop_server, lambda: www.click("[data-cm-action=accept-all]"))
    apply_data(shop_server.app, example_data(domains=DOMAINS))  # a new revision, no cookie_domain
    try:
        visit(www, _on(shop_server, "www.shop.test"))
        _record(www, shop_server, lambda: www.click("[data-cm-action=reject-all]"))
        # The old copy for the whole domain is still there, and the browser sends it first.
        domains = [c["domain"] for c in _cookies(context, "cm_consent")]
        assert sorted(domains) == [".shop.test", "www.shop.test"]
        visit(www, _on(shop_server, "www.shop.test"))
        assert www.locator("#cm-banner").count() == 0
        assert www.evaluate("ConsentManager.getConsent().method") == "reject_all"
    finally:
        apply_data(shop_server.app, example_data(domains=DOMAINS, cookie_domain="shop.test"))


def test_a_page_outside_the_cookie_domain_keeps_the_choice_for_its_host_and_warns(
    shop_server: LiveServer, context: BrowserContext
):
    page = context.new_page()
    warnings: list[str] = []
    page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    visit(page, shop_server)  # http://127.0.0.1:port: the server's own address
    # Not a site domain, so the server refuses its receipt (403); the choice is still kept.
    page.click("[data-cm-action=reject-all]")
    page.wait_for_function("document.cookie.includes('cm_consent=')")
    assert [c["domain"] for c in _cookies(context, "cm_consent")] == ["127.0.0.1"]
    assert any("not within cookie_domain shop.test" in w for w in warnings), warnings
    assert page.evaluate("window.runs") == []


# -- refused values --------------------------------------------------------------------------

BAD = [
    ("co.uk", ["www.shop.co.uk", "shop.co.uk"], "public suffix"),
    ("se", ["www.example.se", "example.se"], "public suffix"),
    ("github.io", ["shop.github.io"], "public suffix"),
    ("other.test", DOMAINS, "not: www.shop.test, shop.test"),
    ("www.shop.test", DOMAINS, "not: shop.test"),
    ("shop.test", [*DOMAINS, "shop-cdn.test"], "not: shop-cdn.test"),
    ("127.0.0.1", ["127.0.0.1"], "IP address"),
]


@pytest.mark.parametrize(("cookie_domain", "domains", "message"), BAD)
def test_a_bad_cookie_domain_is_refused_by_the_api(
    client: FlaskClient,
    tokens: dict[str, str],
    cookie_domain: str,
    domains: list[str],
    message: str,
):
    data = example_data(domains=domains, cookie_domain=cookie_domain)
    resp = client.put("/api/v1/sites/demo-shop", json=data, headers=bearer(tokens["admin"]))
    assert resp.status_code == 422, resp.get_json()
    errors = resp.get_json()["errors"]["json"]["cookie_domain"]
    assert any(message in e for e in errors), errors


@pytest.mark.parametrize(("cookie_domain", "domains", "message"), BAD)
def test_a_bad_cookie_domain_is_refused_by_sites_apply(
    runner: FlaskCliRunner, tmp_path: Path, cookie_domain: str, domains: list[str], message: str
):
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data.update(domains=domains, cookie_domain=cookie_domain)
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = runner.invoke(args=["sites", "apply", str(path)])
    assert result.exit_code == 2
    assert "cookie_domain:" in result.stderr and message in result.stderr


def test_a_cookie_domain_covering_a_wildcard_domain_is_accepted(
    client: FlaskClient, tokens: dict[str, str], app: Flask
):
    data = example_data(domains=["*.shop.test", "shop.test"], cookie_domain=".Shop.test")
    resp = client.put("/api/v1/sites/demo-shop", json=data, headers=bearer(tokens["admin"]))
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["new_revision"] is True
    cfg = client.get("/api/v1/sites/demo-shop/config").get_json()
    assert cfg["cookie_domain"] == "shop.test"
