"""The banner's choices in real Chromium (Playwright): an accessible first layer with equal
buttons, accept, reject, custom settings, withdrawal, GPC as a recorded refusal, and asking
again after a new revision or once the consent has expired."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.support.apps import apply_data, example_data
from tests.support.banner import (
    ANALYTICS_RUNS,
    RUN_ORDER,
    cookie_names,
    decisions,
    expect_hidden,
    is_consent_post,
    record,
    stored_choice,
    visit,
    wait_runs,
)

pytestmark = pytest.mark.browser


def test_first_visit_shows_an_accessible_overlay_with_equal_choices(page: Page, banner_server):
    visit(page, banner_server)
    root = page.locator("#cm-banner")
    dialog = root.get_by_role("dialog", name="Vi använder kakor")
    dialog.wait_for()
    assert root.evaluate("e => getComputedStyle(e).position") == "fixed"
    accept = dialog.get_by_role("button", name="Godkänn alla")
    reject = dialog.get_by_role("button", name="Neka alla")
    settings = dialog.get_by_role("button", name="Inställningar")
    for button, action in (
        (accept, "accept-all"),
        (reject, "reject-all"),
        (settings, "preferences"),
    ):
        assert button.is_visible()
        assert button.get_attribute("data-cm-action") == action

    # Reject has exactly the weight of accept.
    style = """e => { const s = getComputedStyle(e); const r = e.getBoundingClientRect();
      return {tag: e.tagName, font: s.fontSize, weight: s.fontWeight, padding: s.padding,
              bg: s.backgroundColor, border: s.borderColor + " " + s.borderWidth, color: s.color,
              width: r.width, height: r.height}; }"""
    a, r = accept.evaluate(style), reject.evaluate(style)
    for key in ("tag", "font", "weight", "padding", "bg", "border", "color"):
        assert a[key] == r[key], key
    assert abs(a["width"] - r["width"]) <= 1, (a, r)
    assert abs(a["height"] - r["height"]) <= 1, (a, r)
    page.set_viewport_size({"width": 360, "height": 740})  # a phone: still equal
    a, r = accept.evaluate(style), reject.evaluate(style)
    assert abs(a["width"] - r["width"]) <= 1 and abs(a["height"] - r["height"]) <= 1, (a, r)
    page.set_viewport_size({"width": 1280, "height": 720})

    # Nothing blocked ran; the page did not move (the iframe's placeholder keeps its box).
    assert page.evaluate("window.runs") == []
    assert page.locator("#video").get_attribute("src") is None
    page.locator(".cm-ph").wait_for()
    after = page.locator("#below").evaluate(
        """e => { const b = e.getBoundingClientRect();
                  return {top: b.top, left: b.left, width: b.width, height: b.height}; }"""
    )
    assert after == page.evaluate("window.before")
    cls = page.evaluate(
        """() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => {
             for (const e of window.clsObserver.takeRecords())
               if (!e.hadRecentInput) window.cls += e.value;
             done(window.cls); })))"""
    )
    assert cls == 0
    assert page.evaluate("ConsentManager.getConsent()") is None


def test_accept_all_records_the_choice_and_runs_blocked_content_once_in_order(
    page: Page, banner_server
):
    visit(page, banner_server)
    page.evaluate(
        """() => { window.events = [];
          for (const name of ['consent', 'change'])
            ConsentManager.on(name, (c) => window.events.push([name, c.method])); }"""
    )
    body, claims = record(page, page.get_by_role("button", name="Godkänn alla").click)
    assert body["method"] == "accept_all" and claims["method"] == "accept_all"
    assert page.evaluate("window.events") == [["consent", "accept_all"], ["change", "accept_all"]]
    assert body["decisions"] == decisions(preferences=True, analytics=True, marketing=True)
    assert body["revision"] == 1 and body["language"] == "sv" and body["gpc"] is False
    assert body["page_url"] == f"{banner_server.url}/t/page"
    expect_hidden(page)

    choice = stored_choice(page.context)
    assert choice["id"] == body["consent_id"] and choice["rev"] == 1
    assert choice["d"] == {"necessary": 1, "preferences": 1, "analytics": 1, "marketing": 1}
    wait_runs(page, RUN_ORDER)
    page.locator("#video[src='/t/frame']").wait_for()
    assert page.frame_locator("#video").locator("#frame-content").text_content() == "video"
    assert page.locator(".cm-ph").count() == 0

    consent = page.evaluate("ConsentManager.getConsent()")
    assert consent["consentId"] == body["consent_id"]
    assert consent["decisions"] == body["decisions"]
    assert consent["revision"] == 1 and consent["method"] == "accept_all"

    # Choosing again (or the API) never runs a script a second time.
    page.evaluate("ConsentManager.acceptAll()")
    page.evaluate("ConsentManager.accept(['analytics', 'marketing'])")
    assert page.evaluate("window.runs") == RUN_ORDER
    assert page.locator("script[type='text/plain']").count() == 0
    # The same decisions again are a "consent" event but no "change"; dropping one is both.
    assert page.evaluate("window.events") == [
        ["consent", "accept_all"],
        ["change", "accept_all"],
        ["consent", "accept_all"],
        ["consent", "custom"],
        ["change", "custom"],
    ]

    # The next page view applies the stored choice without asking.
    visit(page, banner_server)
    wait_runs(page, RUN_ORDER)
    assert page.locator("#cm-banner").count() == 0
    assert page.locator("#cm-open").is_visible()


def test_reject_all_runs_nothing(page: Page, banner_server):
    visit(page, banner_server)
    body, claims = record(page, page.get_by_role("button", name="Neka alla").click)
    assert body["method"] == "reject_all" and claims["method"] == "reject_all"
    assert body["decisions"] == decisions() == claims["decisions"]
    expect_hidden(page)
    assert stored_choice(page.context)["d"] == {
        "necessary": 1,
        "preferences": 0,
        "analytics": 0,
        "marketing": 0,
    }
    assert page.evaluate("ConsentManager.getConsent().decisions") == decisions()
    # A reload proves nothing blocked ever ran (no timing guess needed).
    visit(page, banner_server)
    assert page.locator("#cm-banner").count() == 0
    page.locator(".cm-ph").wait_for()
    assert page.evaluate("window.runs") == []
    assert page.locator("script[type='text/plain']").count() == 5
    assert page.locator("#video").get_attribute("src") is None
    assert not cookie_names(page) & {"_ga", "_ga_TEST1", "_fbp", "_gcl_au"}


def test_settings_layer_saves_a_custom_choice(page: Page, banner_server):
    visit(page, banner_server)
    page.get_by_role("button", name="Inställningar").click()
    settings = page.get_by_role("dialog", name="Inställningar för kakor")
    settings.wait_for()
    assert settings.get_attribute("aria-modal") == "true"
    assert page.locator("#cm-banner .cm-l1").is_hidden()
    necessary = settings.get_by_role("switch", name="Nödvändiga")
    assert necessary.is_checked() and necessary.is_disabled()
    for title in ("Inställningar", "Statistik", "Marknadsföring"):
        assert not settings.get_by_role("switch", name=title).is_checked()
    settings.get_by_role("switch", name="Statistik").check()
    body, claims = record(page, settings.get_by_role("button", name="Spara val").click)
    assert body["method"] == "custom" == claims["method"]
    assert body["decisions"] == decisions(analytics=True) == claims["decisions"]
    wait_runs(page, ANALYTICS_RUNS)
    assert page.locator("#video").get_attribute("src") is None
    assert page.locator(".cm-ph").is_visible()
    # The settings reopen with the saved state.
    page.locator("#cm-open").click()
    settings.wait_for()
    assert settings.get_by_role("switch", name="Statistik").is_checked()
    assert not settings.get_by_role("switch", name="Marknadsföring").is_checked()


def test_withdrawal_removes_refused_cookies(page: Page, banner_server):
    visit(page, banner_server)
    first, _ = record(page, page.get_by_role("button", name="Godkänn alla").click)
    wait_runs(page, RUN_ORDER)
    set_by_tags = {"_ga", "_ga_TEST1", "_fbp", "_gcl_au"}
    assert set_by_tags <= cookie_names(page)

    page.evaluate("ConsentManager.showPreferences()")
    settings = page.get_by_role("dialog", name="Inställningar för kakor")
    settings.wait_for()
    assert settings.get_by_role("switch", name="Statistik").is_checked()
    # The visitor sees their consent id and can download the signed receipt.
    assert settings.locator(".cm-rc code").text_content() == first["consent_id"]
    with page.expect_download() as download:
        settings.get_by_role("button", name="Ladda ner kvitto").click()
    assert download.value.suggested_filename.startswith("consent-receipt-")
    saved = json.loads(Path(download.value.path()).read_text())
    assert saved["consent_id"] == first["consent_id"] and saved["receipt"].count(".") == 2
    body, claims = record(page, settings.get_by_role("button", name="Neka alla").click)
    assert body["method"] == "withdraw" == claims["method"]
    assert body["consent_id"] == first["consent_id"]
    assert body["decisions"] == decisions()
    # Declared names (_ga, _fbp) and name_pattern matches (_ga_TEST1) are gone; _gcl_au is
    # not declared, so the banner leaves it; its own cookie stays.
    names = cookie_names(page)
    assert not names & {"_ga", "_ga_TEST1", "_fbp"}
    assert {"_gcl_au", "cm_consent"} <= names
    assert stored_choice(page.context)["m"] == "withdraw"

    # The persistent control: a later change of mind is a new receipt too.
    page.locator("#cm-open").click()
    body, _ = record(page, settings.get_by_role("button", name="Godkänn alla").click)
    assert body["method"] == "accept_all" and body["consent_id"] == first["consent_id"]


def test_global_privacy_control_is_a_recorded_refusal(new_context, banner_server):
    context = new_context()
    context.add_init_script(
        "Object.defineProperty(navigator, 'globalPrivacyControl', {get: () => true})"
    )
    page = context.new_page()
    with page.expect_response(is_consent_post) as info:
        visit(page, banner_server)
    assert info.value.status == 201
    body = info.value.request.post_data_json
    assert body["method"] == "gpc" and body["gpc"] is True
    assert body["decisions"] == decisions()
    note = page.locator("#cm-banner .cm-gpc")
    note.wait_for()
    assert "Global Privacy Control" in note.text_content()
    assert page.evaluate("ConsentManager.getConsent().decisions") == decisions()
    assert page.evaluate("window.runs") == []
    # The visitor may still opt in explicitly.
    body, claims = record(page, page.get_by_role("button", name="Godkänn alla").click)
    assert body["method"] == "accept_all" and body["gpc"] is True
    assert claims["decisions"] == decisions(preferences=True, analytics=True, marketing=True)
    wait_runs(page, RUN_ORDER)
    # An explicit choice is kept on the next page view; no new GPC receipt.
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    visit(page, banner_server)
    wait_runs(page, RUN_ORDER)
    assert posts == [] and page.locator("#cm-banner").count() == 0


def test_new_revision_asks_again(new_context, banner_server, banner_app):
    site = "reconsent-shop"
    apply_data(banner_app, example_data(site=site))
    page = new_context().new_page()
    visit(page, banner_server, site=site)
    body, _ = record(page, page.get_by_role("button", name="Godkänn alla").click)
    assert body["revision"] == 1
    visit(page, banner_server, site=site)
    assert page.locator("#cm-banner").count() == 0

    texts = example_data()["texts"]
    texts["sv"]["title"] = "Vi har ändrat våra kakor"
    assert apply_data(banner_app, example_data(site=site, texts=texts)).revision == 2
    visit(page, banner_server, site=site)
    first_layer = page.get_by_role("dialog", name="Vi har ändrat våra kakor")
    first_layer.wait_for()
    assert page.evaluate("ConsentManager.getConsent()") is None
    assert page.evaluate("window.runs") == []
    assert page.locator("#cm-open").is_hidden()
    # Leaving the settings without choosing returns to the first layer (the old choice
    # does not count any more), by Esc and by the close button alike.
    settings = page.get_by_role("dialog", name="Inställningar för kakor")
    page.get_by_role("button", name="Inställningar").click()
    settings.wait_for()
    page.keyboard.press("Escape")
    first_layer.wait_for()
    page.get_by_role("button", name="Inställningar").click()
    settings.get_by_role("button", name="Stäng").click()
    first_layer.wait_for()
    assert page.locator("#cm-open").is_hidden()
    body, _ = record(page, page.get_by_role("button", name="Godkänn alla").click)
    assert body["revision"] == 2
    assert stored_choice(page.context)["rev"] == 2


def test_consent_expires_after_the_consent_lifetime(page: Page, banner_server):
    visit(page, banner_server)
    record(page, page.get_by_role("button", name="Godkänn alla").click)
    choice = stored_choice(page.context)
    choice["t"] -= 366 * 86_400_000  # consent_lifetime is P12M
    value = urllib.parse.quote(json.dumps(choice, separators=(",", ":")))
    page.context.add_cookies([{"name": "cm_consent", "value": value, "url": banner_server.url}])
    visit(page, banner_server)
    page.get_by_role("dialog", name="Vi använder kakor").wait_for()
    assert page.evaluate("ConsentManager.getConsent()") is None
    assert page.evaluate("window.runs") == []
    body, _ = record(page, page.get_by_role("button", name="Neka alla").click)
    assert body["consent_id"] == choice["id"] and body["method"] == "reject_all"
