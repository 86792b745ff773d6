"""The npm package's ES module (dist/banner.mjs) in real Chromium (Playwright), as a site that
bundles it serves it: from the site's own origin (http://localhost:<port>, one of the demo
site's domains), talking to the consent server on another origin (http://127.0.0.1:<port>)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler

import pytest
from flask import Flask
from playwright.sync_api import Page

from tests.support.apps import ROOT, apply_data, example_data
from tests.support.banner import is_consent_post, stored_choice, verified
from tests.support.live import LiveServer, Serving, serve_http

pytestmark = pytest.mark.browser

SITE = "demo-shop"
GERMAN = json.loads((ROOT / "static/banner/src/i18n/de.json").read_text(encoding="utf-8"))
PAGE = """<!doctype html>
<html lang="de">
<head><meta charset="utf-8"><title>Shop</title></head>
<body>
<h1>Shop</h1>
<script type="module">
  import {{ start }} from "./banner.mjs";
  const options = {{site: "{site}", api: "{api}", layout: "box"}};
  window.first = start(options);
  // twice.html: a second start() while the first is still loading its configuration.
  const calls = [window.first{again}];
  Promise.all(calls.map((c) => c.ready)).then(() => {{ window.booted = true; }});
</script>
</body>
</html>
"""


@pytest.fixture(scope="module")
def german_site(banner_app: Flask) -> str:
    """The demo site, also in German (without texts of its own: the built-in ones)."""
    apply_data(banner_app, example_data(languages=["sv", "en", "de"]))
    return SITE


@pytest.fixture(scope="module")
def shop(
    tmp_path_factory: pytest.TempPathFactory, banner_server: LiveServer, german_site: str
) -> Iterator[Serving]:
    """The shop's own server: its page and its copy of banner.mjs, as a bundler would ship it."""
    root = tmp_path_factory.mktemp("shop")
    shutil.copy(ROOT / "static/banner/dist/banner.mjs", root / "banner.mjs")
    for name, again in (("index.html", ""), ("twice.html", ", start(options)")):
        page = PAGE.format(site=german_site, api=banner_server.url, again=again)
        (root / name).write_text(page, encoding="utf-8")

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            """Keep the test output clean."""

    with serve_http(partial(Quiet, directory=str(root))) as served:  # type: ignore[arg-type]
        yield served


def shop_url(shop: Serving) -> str:
    """The shop page on localhost: a domain of the site, another origin than the server's."""
    return f"http://localhost:{shop.port}/"


def open_shop(page: Page, shop: Serving) -> None:
    """The shop page with the module's first start() finished."""
    page.goto(shop_url(shop))
    page.wait_for_function("window.booted === true")


def test_module_shows_the_box_banner_in_the_page_language(
    new_context, shop: Serving, banner_server: LiveServer
):
    page = new_context(locale="en-US").new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    loaded: list[str] = []
    page.on("response", lambda r: loaded.append(r.url))
    open_shop(page, shop)
    dialog = page.get_by_role("dialog", name=GERMAN["title"])
    assert dialog.is_visible()
    root = page.locator("#cm-banner")
    assert root.get_attribute("class").split() == ["cm", "cm-box"]
    assert root.get_attribute("lang") == "de"
    assert (
        page.locator("#cm-banner .cm-l1 [data-cm-action='reject-all']").text_content()
        == (GERMAN["reject_all"])
    )
    # The stylesheet and the German texts came from the consent server's /banner/.
    assert root.evaluate("(n) => getComputedStyle(n).position") == "fixed"
    server_files = [u for u in loaded if u.startswith(f"{banner_server.url}/banner/")]
    assert [u.split("/")[-1].split(".")[0] for u in server_files if "/i18n/" in u] == ["de"]
    assert any(u.endswith(".css") for u in server_files)
    assert page.evaluate("window.ConsentManager === window.first")
    assert errors == []


def test_accepting_records_the_consent_on_the_server(
    new_context, shop: Serving, banner_server: LiveServer, banner_app: Flask
):
    context = new_context(locale="en-US")
    page = context.new_page()
    open_shop(page, shop)
    with page.expect_response(is_consent_post) as info:
        page.get_by_role("button", name=GERMAN["accept_all"]).first.click()
    response = info.value
    assert response.status == 201, response.text()
    body = response.request.post_data_json
    assert response.request.header_value("origin") == f"http://localhost:{shop.port}"
    claims = verified(response.url, response.json()["receipt"])
    assert claims["consent_id"] == body["consent_id"]
    assert claims["method"] == "accept_all"
    assert claims["language"] == "de"
    assert claims["page_url"] == shop_url(shop)
    assert stored_choice(context)["id"] == body["consent_id"]
    page.wait_for_function("!document.getElementById('cm-banner')")

    # The server has it: the public history, asked as a page of the site would.
    history = banner_app.test_client().get(
        f"/api/v1/consents/{body['consent_id']}",
        headers={"Origin": f"http://localhost:{shop.port}"},
    )
    assert history.status_code == 200
    records = [r["record"] for r in history.get_json()["receipts"]]
    assert [(r["site"], r["method"]) for r in records] == [(SITE, "accept_all")]
    assert records[0]["decisions"] == {
        "necessary": True,
        "preferences": True,
        "analytics": True,
        "marketing": True,
    }

    # The next page view applies the stored choice: no banner.
    open_shop(page, shop)
    assert page.locator("#cm-banner").count() == 0
    assert page.evaluate("ConsentManager.getConsent().consentId") == body["consent_id"]


def accept_once(page: Page, banner_app: Flask, shop: Serving) -> None:
    """Accept all; exactly one receipt goes out and the server has exactly that one."""
    posts: list[str] = []
    page.on("request", lambda r: r.method == "POST" and posts.append(r.url))
    with page.expect_response(is_consent_post) as info:
        page.get_by_role("button", name=GERMAN["accept_all"]).first.click()
    assert info.value.status == 201
    consent_id = info.value.request.post_data_json["consent_id"]
    # The queue is empty once every receipt queued by the click has been delivered.
    page.wait_for_function("localStorage.getItem('cm_queue') === null")
    assert len(posts) == 1, posts
    history = banner_app.test_client().get(
        f"/api/v1/consents/{consent_id}", headers={"Origin": f"http://localhost:{shop.port}"}
    )
    assert len(history.get_json()["receipts"]) == 1


def test_a_second_start_after_the_banner_shows_keeps_one_banner(
    new_context, shop: Serving, banner_server: LiveServer, banner_app: Flask
):
    page = new_context(locale="en-US").new_page()
    open_shop(page, shop)
    same = page.evaluate(
        """async (api) => {
          const { start } = await import("./banner.mjs");
          const again = start({site: "demo-shop", api, layout: "box"});
          await again.ready;
          return again === window.first && again === window.ConsentManager;
        }""",
        banner_server.url,
    )
    assert same is True
    # Consent Mode defaults were pushed by the first start() only.
    defaults = page.evaluate(
        "window.dataLayer.filter((e) => e[0] === 'consent' && e[1] === 'default').length"
    )
    assert defaults == 1
    assert page.locator("#cm-banner").count() == 1
    assert page.locator("#cm-banner").get_attribute("class").split() == ["cm", "cm-box"]
    accept_once(page, banner_app, shop)
    page.wait_for_function("!document.getElementById('cm-banner')")


def test_two_starts_at_once_show_one_banner(
    new_context, shop: Serving, banner_server: LiveServer, banner_app: Flask
):
    page = new_context(locale="en-US").new_page()
    page.goto(shop_url(shop) + "twice.html")
    page.wait_for_function("window.booted === true")
    assert page.locator("#cm-banner").count() == 1
    accept_once(page, banner_app, shop)
