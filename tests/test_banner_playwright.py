"""The banner in real Chromium (Playwright): choices, blocking, GCM, GPC, keyboard, queue."""

from __future__ import annotations

import copy
import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
from flask import Blueprint, Flask, Response, request
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from playwright.sync_api import Response as PwResponse

from consent_server.sites.service import apply_declaration
from declaration.loader import load_declaration
from tests.conftest import CHROMIUM_ARGS, EXAMPLE, LiveServer, make_app, reset_database

pytestmark = pytest.mark.browser

EXAMPLE_DATA: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
OPTIONAL = ("preferences", "analytics", "marketing")
ALL_DENIED = {
    "ad_storage": "denied",
    "ad_user_data": "denied",
    "ad_personalization": "denied",
    "analytics_storage": "denied",
    "functionality_storage": "denied",
    "personalization_storage": "denied",
    "security_storage": "denied",
    "wait_for_update": 500,
}
# Blocked scripts in document order; a slow external one proves later ones wait for it.
RUN_ORDER = [
    "analytics-inline-1",
    "analytics-src",
    "marketing-inline",
    "marketing-src",
    "analytics-inline-2",
]
ANALYTICS_RUNS = ["analytics-inline-1", "analytics-src", "analytics-inline-2"]

# --- a test-only site that embeds the banner ------------------------------------------------

PAGE = """<!doctype html>
<html{lang}>
<head>
<meta charset="utf-8">
<title>Banner test page</title>
<style nonce="{nonce}">
  body{{margin:0;font:16px sans-serif}} iframe{{display:block;border:0}}
</style>
<script nonce="{nonce}">
  window.violations = [];
  document.addEventListener("securitypolicyviolation", function (e) {{
    window.violations.push(e.violatedDirective + " " + e.blockedURI);
  }});
  window.runs = [];
  window.cls = 0;
  try {{
    window.clsObserver = new PerformanceObserver(function (list) {{
      list.getEntries().forEach(function (e) {{ if (!e.hadRecentInput) window.cls += e.value; }});
    }});
    window.clsObserver.observe({{type: "layout-shift", buffered: true}});
  }} catch (e) {{}}
</script>
<script src="/banner/banner.js" data-site="{site}" nonce="{nonce}" defer></script>
<script type="text/plain" data-category="analytics" nonce="{nonce}">
  window.runs.push("analytics-inline-1");
  document.cookie = "_ga=GA1.1.42.1700000000; Max-Age=3600; Path=/; SameSite=Lax";
</script>
<script type="text/plain" data-category="analytics"
  src="/t/script/analytics-src.js?delay=0.15"></script>
<script type="text/plain" data-category="marketing" nonce="{nonce}">
  window.runs.push("marketing-inline");
  document.cookie = "_fbp=fb.1.1700000000.42; Max-Age=3600; Path=/; SameSite=Lax";
</script>
<script type="text/plain" data-category="marketing" src="/t/script/marketing-src.js"></script>
<script type="text/plain" data-category="analytics" nonce="{nonce}">
  window.runs.push("analytics-inline-2");
  window.dataLayer.push({{event: "analytics-ready"}});
</script>
</head>
<body>
<h1 id="top">Test shop</h1>
<p>Some text above the video.</p>
<iframe id="video" data-src="/t/frame" data-category="marketing" title="Video"
  width="480" height="270"></iframe>
<p id="below">Text below the video.</p>
{extra}
<script nonce="{nonce}">
  var box = document.getElementById("below").getBoundingClientRect();
  window.before = {{top: box.top, left: box.left, width: box.width, height: box.height}};
</script>
</body>
</html>
"""

NONCE = "dGVzdC1ub25jZQ"
# A strict policy as docs/banner.md recommends: no inline script or style without the nonce.
CSP = (
    f"default-src 'none'; script-src 'self' 'nonce-{NONCE}'; style-src 'self' 'nonce-{NONCE}'; "
    "connect-src 'self'; frame-src 'self'; img-src 'self'"
)
# A blocked map in a tab that is closed when the banner boots.
TAB = """<div id="tab" hidden>
<iframe id="map" data-src="/t/frame" data-category="preferences" title="Map"></iframe>
</div>"""

pages = Blueprint("banner_test_pages", __name__, url_prefix="/t")


@pages.get("/page")
def shop_page() -> Response:
    """A shop page with blocked scripts and a blocked iframe; ?lang=none drops <html lang>."""
    lang = request.args.get("lang", "sv")
    attr = "" if lang == "none" else f' lang="{lang}"'
    site = request.args.get("site", "demo-shop")
    extra = TAB if request.args.get("extra") == "tab" else ""
    html = PAGE.format(lang=attr, site=site, extra=extra, nonce=NONCE)
    headers = {"Content-Security-Policy": CSP} if request.args.get("csp") else {}
    return Response(html, mimetype="text/html", headers=headers)


@pages.get("/script/<name>.js")
def blocked_script(name: str) -> Response:
    """An external script that records that it ran (and sets a cookie of its category)."""
    delay = min(float(request.args.get("delay", "0")), 0.5)
    if delay:
        time.sleep(delay)  # server-side latency, so document order really has to be waited for
    cookie = {
        "analytics-src": "_ga_TEST1=GS1.1.1700000000.1.0",
        "marketing-src": "_gcl_au=1.1.42.1700000000",
    }.get(name, "x=1")
    body = f'window.runs.push("{name}"); document.cookie = "{cookie}; Max-Age=3600; Path=/";'
    return Response(body, mimetype="text/javascript", headers={"Cache-Control": "no-store"})


@pages.get("/frame")
def frame() -> Response:
    """The embedded video stand-in."""
    return Response("<!doctype html><p id=frame-content>video</p>", mimetype="text/html")


def example(**changes: Any) -> dict[str, Any]:
    """The example declaration (examples/site.yaml) as a dict, with top-level changes."""
    data = copy.deepcopy(EXAMPLE_DATA)
    data.update(changes)
    return data


def apply(app: Flask, data: dict[str, Any]) -> int:
    """Apply a declaration; returns the current revision number."""
    with app.app_context():
        return apply_declaration(load_declaration(data)).revision


def build_app(tmp: Path) -> Flask:
    """A SQLite app with the example site and the test pages.

    The config's HTTP caching is turned off so that the next page view sees a new revision
    at once (in production the browser may use a cached configuration for up to a minute).
    """
    app = make_app(
        tmp,
        f"sqlite:///{tmp}/db.sqlite3",
        CONFIG_MAX_AGE=0,
        CONFIG_STALE_WHILE_REVALIDATE=0,
    )
    reset_database(app)
    app.register_blueprint(pages)
    apply(app, example())
    return app


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def banner_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    return build_app(tmp_path_factory.mktemp("banner"))


@pytest.fixture(scope="module")
def server(banner_app: Flask) -> Iterator[LiveServer]:
    with LiveServer(banner_app) as live:
        yield live


@pytest.fixture(scope="module")
def pw() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(pw: Playwright, chromium_path: str) -> Iterator[Browser]:
    browser = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    """Makes fresh browser contexts (a new profile each), closed after the test."""
    made: list[BrowserContext] = []

    def make(**options: Any) -> BrowserContext:
        options.setdefault("locale", "sv-SE")
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


@pytest.fixture
def page(new_context: Callable[..., BrowserContext]) -> Page:
    """A page in a fresh context."""
    return new_context().new_page()


# --- helpers --------------------------------------------------------------------------------


def visit(page: Page, server: LiveServer, **query: str) -> None:
    """Open the test page and wait until the banner has booted."""
    qs = urllib.parse.urlencode(query)
    page.goto(f"{server.url}/t/page" + (f"?{qs}" if qs else ""))
    page.wait_for_function("window.ConsentManager && window.ConsentManager.ready")
    page.evaluate("ConsentManager.ready")


def is_consent_post(response: PwResponse) -> bool:
    return response.request.method == "POST" and response.url.endswith("/consents")


def record(page: Page, action: Callable[[], Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run `action`, wait for the consent POST; returns (request body, receipt claims)."""
    with page.expect_response(is_consent_post) as info:
        action()
    response = info.value
    assert response.status == 201, response.text()
    return response.request.post_data_json, verified(response.url, response.json()["receipt"])


def verified(url: str, receipt: str) -> dict[str, Any]:
    """The claims of a receipt after checking its EdDSA signature against the server's JWKS."""
    origin = "/".join(url.split("/")[:3])
    key = jwt.PyJWKClient(f"{origin}/.well-known/jwks.json").get_signing_key_from_jwt(receipt)
    return jwt.decode(receipt, key.key, algorithms=["EdDSA"], options={"verify_aud": False})


def stored_choice(context: BrowserContext) -> dict[str, Any] | None:
    for cookie in context.cookies():
        if cookie["name"] == "cm_consent":
            return json.loads(urllib.parse.unquote(cookie["value"]))
    return None


def cookie_names(page: Page) -> set[str]:
    return {c.split("=")[0] for c in page.evaluate("document.cookie").split("; ") if c}


def data_layer(page: Page) -> list[Any]:
    return page.evaluate("(window.dataLayer || []).map((e) => Array.from(e.length ? e : [e]))")


def wait_runs(page: Page, expected: list[str]) -> None:
    page.wait_for_function("n => window.runs.length >= n", arg=len(expected))
    assert page.evaluate("window.runs") == expected


def expect_hidden(page: Page) -> None:
    page.wait_for_function("!document.getElementById('cm-banner')")


def decisions(**granted: bool) -> dict[str, bool]:
    return {"necessary": True, **{k: granted.get(k, False) for k in OPTIONAL}}


# --- tests ----------------------------------------------------------------------------------


def test_first_visit_shows_an_accessible_overlay_with_equal_choices(page: Page, server):
    visit(page, server)
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


def test_accept_all_records_the_choice_and_runs_blocked_content_once_in_order(page: Page, server):
    visit(page, server)
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
    assert body["page_url"] == f"{server.url}/t/page"
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
    visit(page, server)
    wait_runs(page, RUN_ORDER)
    assert page.locator("#cm-banner").count() == 0
    assert page.locator("#cm-open").is_visible()


def test_reject_all_runs_nothing(page: Page, server):
    visit(page, server)
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
    visit(page, server)
    assert page.locator("#cm-banner").count() == 0
    page.locator(".cm-ph").wait_for()
    assert page.evaluate("window.runs") == []
    assert page.locator("script[type='text/plain']").count() == 5
    assert page.locator("#video").get_attribute("src") is None
    assert not cookie_names(page) & {"_ga", "_ga_TEST1", "_fbp", "_gcl_au"}


def test_settings_layer_saves_a_custom_choice(page: Page, server):
    visit(page, server)
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


def focused(page: Page) -> dict[str, Any]:
    return page.evaluate(
        """() => { const e = document.activeElement; const s = getComputedStyle(e);
          return {action: e.getAttribute('data-cm-action'), tag: e.tagName, cls: e.className,
                  outline: s.outlineStyle, outlineWidth: s.outlineWidth}; }"""
    )


def tab_to(page: Page, action: str, key: str = "Tab", limit: int = 20) -> dict[str, Any]:
    for _ in range(limit):
        page.keyboard.press(key)
        now = focused(page)
        if now["action"] == action:
            return now
    raise AssertionError(f"{key} never reached {action}")


def test_keyboard_only(page: Page, server):
    visit(page, server)
    page.locator("#cm-banner .cm-l1").wait_for()
    # The first layer takes focus; Tab reaches each button, with a visible focus ring.
    for action in ("accept-all", "reject-all", "preferences"):
        now = tab_to(page, action)
        assert now["outline"] != "none" and now["outlineWidth"] != "0px", now
    page.keyboard.press("Enter")
    l2 = page.locator("#cm-banner .cm-l2")
    l2.wait_for()
    assert page.evaluate("document.activeElement.classList.contains('cm-l2')")

    # Focus is trapped in the settings dialog.
    page.keyboard.press("Shift+Tab")
    assert focused(page)["action"] == "save"
    page.keyboard.press("Tab")
    first = focused(page)
    assert first["action"] == "close" and first["outline"] != "none"
    page.keyboard.press("Shift+Tab")
    assert focused(page)["action"] == "save"
    for _ in range(12):  # Tab through everything: focus never leaves the dialog
        page.keyboard.press("Tab")
        assert page.evaluate("!!document.activeElement.closest('.cm-l2')")
    # A click on the backdrop moves focus out; the next Shift+Tab comes back into the dialog.
    page.mouse.click(3, 3)
    assert page.evaluate("!document.activeElement.closest('.cm-l2')")
    page.keyboard.press("Shift+Tab")
    assert focused(page)["action"] == "save"

    # Esc closes the settings; with no choice yet the first layer is back.
    page.keyboard.press("Escape")
    page.locator("#cm-banner .cm-l1").wait_for()
    assert l2.count() == 0 or l2.is_hidden()
    tab_to(page, "reject-all")
    body, _ = record(page, lambda: page.keyboard.press("Enter"))
    assert body["method"] == "reject_all"
    expect_hidden(page)

    # The persistent control reopens the settings; Esc closes them and focus returns to it.
    opener = page.locator("#cm-open")
    opener.wait_for()
    opener.focus()
    page.keyboard.press("Enter")
    l2.wait_for()
    page.keyboard.press("Escape")
    expect_hidden(page)
    assert page.evaluate("document.activeElement.id") == "cm-open"


def test_global_privacy_control_is_a_recorded_refusal(new_context, server):
    context = new_context()
    context.add_init_script(
        "Object.defineProperty(navigator, 'globalPrivacyControl', {get: () => true})"
    )
    page = context.new_page()
    with page.expect_response(is_consent_post) as info:
        visit(page, server)
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
    visit(page, server)
    wait_runs(page, RUN_ORDER)
    assert posts == [] and page.locator("#cm-banner").count() == 0


def test_google_consent_mode_default_then_update(page: Page, server):
    visit(page, server)
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

    visit(page, server)
    page.wait_for_function("window.runs.length === 3")
    layer = data_layer(page)
    assert layer[:2] == [["consent", "default", ALL_DENIED], ["consent", "update", expected]]

    record(page, lambda: page.evaluate("ConsentManager.acceptAll()"))
    assert data_layer(page)[-1] == [
        "consent",
        "update",
        {k: "granted" for k in expected},
    ]


def test_iframe_placeholder_grants_its_category(page: Page, server):
    visit(page, server)
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


def test_withdrawal_removes_refused_cookies(page: Page, server):
    visit(page, server)
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


def test_new_revision_asks_again(new_context, server, banner_app):
    site = "reconsent-shop"
    apply(banner_app, example(site=site))
    page = new_context().new_page()
    visit(page, server, site=site)
    body, _ = record(page, page.get_by_role("button", name="Godkänn alla").click)
    assert body["revision"] == 1
    visit(page, server, site=site)
    assert page.locator("#cm-banner").count() == 0

    texts = copy.deepcopy(EXAMPLE_DATA["texts"])
    texts["sv"]["title"] = "Vi har ändrat våra kakor"
    assert apply(banner_app, example(site=site, texts=texts)) == 2
    visit(page, server, site=site)
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


def test_undelivered_receipt_is_queued_and_sent_on_the_next_page_view(page: Page, server):
    page.route("**/consents", lambda route: route.abort())
    visit(page, server)
    with page.expect_event("requestfailed"):
        page.get_by_role("button", name="Godkänn alla").click()
    page.wait_for_function("(JSON.parse(localStorage.getItem('cm_queue')) || []).length === 1")
    queued = page.evaluate("JSON.parse(localStorage.getItem('cm_queue'))")[0]
    assert queued["method"] == "accept_all"
    # The page itself works offline: the choice is applied.
    wait_runs(page, RUN_ORDER)

    page.unroute("**/consents")
    with page.expect_response(is_consent_post) as info:
        visit(page, server)
    assert info.value.status == 201
    page.wait_for_function("localStorage.getItem('cm_queue') === null")
    receipt = page.evaluate("JSON.parse(localStorage.getItem('cm_receipt'))")
    assert receipt["consent_id"] == queued["consent_id"]
    url = f"{server.url}/api/v1/consents/{queued['consent_id']}"
    with urllib.request.urlopen(url, timeout=10) as answer:
        history = json.load(answer)
    assert [r["record"]["method"] for r in history["receipts"]] == ["accept_all"]
    assert history["receipts"][0]["record"]["decisions"] == queued["decisions"]


HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(2)</script>",
    '"><svg onload=alert(3)>',
    "<iframe src=javascript:alert(4)>",
]


def test_hostile_texts_are_shown_as_text(new_context, server, banner_app):
    site = "hostile-shop"
    data = example(site=site, default_language="en", languages=["en"])
    h = iter(HOSTILE * 20)
    data["texts"] = {
        "en": {key: next(h) for key in ("title", "body", "accept_all", "reject_all", "settings")}
    }
    data["texts"]["en"].update(settings_title=next(h), save=next(h), blocked=next(h), allow=next(h))
    for cat in data["categories"]:
        cat["title"] = {"en": next(h)}
        cat["description"] = {"en": next(h)}
    for cookie in data["cookies"]:
        cookie["purpose"] = {"en": next(h)}
        cookie["provider"] = next(h)
    apply(banner_app, data)

    page = new_context().new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    visit(page, server, site=site, lang="en")
    texts = data["texts"]["en"]
    page.get_by_role("dialog", name=texts["title"]).wait_for()
    assert page.locator("#cm-banner h2").first.text_content() == texts["title"]
    assert page.locator("#cm-d").text_content().startswith(texts["body"])
    assert page.locator("[data-cm-action='accept-all']").first.text_content() == texts["accept_all"]
    page.locator("[data-cm-action='preferences']").first.click()
    page.locator("#cm-banner .cm-l2").wait_for()
    for details in page.locator("#cm-banner details").all():
        details.locator("summary").click()
    banner_text = page.locator("#cm-banner").text_content()
    for cat in data["categories"]:
        assert cat["title"]["en"] in banner_text and cat["description"]["en"] in banner_text
    for cookie in data["cookies"]:
        assert cookie["purpose"]["en"] in banner_text and cookie["provider"] in banner_text
    assert texts["blocked"] in page.locator(".cm-ph").text_content()
    injected = ", ".join(
        f"{where} {tag}"
        for where in ("#cm-banner", ".cm-ph")
        for tag in ("img", "svg", "script", "iframe")
    )
    assert page.locator(injected).count() == 0
    assert page.evaluate("document.querySelectorAll('img, svg').length") == 0
    body, _ = record(page, page.locator("#cm-banner [data-cm-action='save']").click)
    assert body["method"] == "custom" and body["language"] == "en"
    assert dialogs == []


@pytest.mark.parametrize(
    ("lang", "locale", "title", "accept"),
    [
        ("en", "sv-SE", "We use cookies", "Accept all"),
        ("sv", "en-US", "Vi använder kakor", "Godkänn alla"),
        ("none", "en-US", "We use cookies", "Accept all"),
        ("none", "de-DE", "Vi använder kakor", "Godkänn alla"),
    ],
)
def test_language(new_context, server, lang, locale, title, accept):
    page = new_context(locale=locale).new_page()
    visit(page, server, lang=lang)
    dialog = page.get_by_role("dialog", name=title)
    dialog.wait_for()
    assert dialog.get_by_role("button", name=accept).is_visible()
    expected = "en" if accept == "Accept all" else "sv"
    assert page.locator("#cm-banner").get_attribute("lang") == expected
    body, _ = record(page, dialog.get_by_role("button", name=accept).click)
    assert body["language"] == expected


def test_consent_expires_after_the_consent_lifetime(page: Page, server):
    visit(page, server)
    record(page, page.get_by_role("button", name="Godkänn alla").click)
    choice = stored_choice(page.context)
    choice["t"] -= 366 * 86_400_000  # consent_lifetime is P12M
    value = urllib.parse.quote(json.dumps(choice, separators=(",", ":")))
    page.context.add_cookies([{"name": "cm_consent", "value": value, "url": server.url}])
    visit(page, server)
    page.get_by_role("dialog", name="Vi använder kakor").wait_for()
    assert page.evaluate("ConsentManager.getConsent()") is None
    assert page.evaluate("window.runs") == []
    body, _ = record(page, page.get_by_role("button", name="Neka alla").click)
    assert body["consent_id"] == choice["id"] and body["method"] == "reject_all"


def test_queued_receipt_is_sent_once_when_a_new_choice_is_made_during_delivery(page: Page, server):
    """A choice made while the queue is being delivered must not post the old receipt twice."""
    page.route("**/consents", lambda route: route.abort())
    visit(page, server)
    with page.expect_event("requestfailed"):
        page.get_by_role("button", name="Godkänn alla").click()
    page.wait_for_function("(JSON.parse(localStorage.getItem('cm_queue')) || []).length === 1")
    page.unroute("**/consents")

    held: list[Any] = []
    posted: list[str] = []

    def hold_first(route: Any) -> None:
        posted.append(route.request.post_data_json["method"])
        if held:
            route.continue_()
        else:
            held.append(route)  # the queued receipt is "in flight" until released below

    page.route("**/consents", hold_first)
    visit(page, server)
    page.wait_for_function("document.querySelector('#cm-open')")
    page.evaluate("ConsentManager.rejectAll()")
    page.wait_for_function("JSON.parse(localStorage.getItem('cm_queue')).length === 2")
    with page.expect_response(lambda r: is_consent_post(r) and r.status == 201):
        held[0].continue_()
    page.wait_for_function("localStorage.getItem('cm_queue') === null")
    consent_id = stored_choice(page.context)["id"]
    url = f"{server.url}/api/v1/consents/{consent_id}"
    with urllib.request.urlopen(url, timeout=10) as answer:
        history = json.load(answer)
    assert sorted(r["record"]["method"] for r in history["receipts"]) == ["accept_all", "withdraw"]
    assert sorted(posted) == ["accept_all", "withdraw"]


def test_queued_receipt_is_sent_when_the_browser_is_back_online(page: Page, server):
    visit(page, server)
    page.context.set_offline(True)
    with page.expect_event("requestfailed"):
        page.get_by_role("button", name="Neka alla").click()
    page.wait_for_function("(JSON.parse(localStorage.getItem('cm_queue')) || []).length === 1")
    with page.expect_response(is_consent_post) as info:
        page.context.set_offline(False)
    assert info.value.status == 201
    assert info.value.request.post_data_json["method"] == "reject_all"
    page.wait_for_function("localStorage.getItem('cm_queue') === null")


def test_a_blocked_script_removed_by_the_page_does_not_stall_the_others(page: Page, server):
    visit(page, server)
    with page.expect_response(is_consent_post):
        page.evaluate(
            """() => { ConsentManager.acceptAll();
                 document.querySelector("script[src*='marketing-src']").remove(); }"""
        )
    expected = [r for r in RUN_ORDER if r != "marketing-src"]
    wait_runs(page, expected)


def test_placeholder_of_a_frame_in_a_closed_tab_keeps_a_usable_size(page: Page, server):
    visit(page, server, extra="tab")
    holder = page.locator("#tab .cm-ph")
    holder.wait_for(state="attached")
    page.evaluate("document.getElementById('tab').hidden = false")
    holder.get_by_role("button", name="Tillåt: Inställningar").wait_for()
    box = holder.bounding_box()
    assert box["width"] > 200 and box["height"] > 60, box
    body, _ = record(page, holder.get_by_role("button", name="Tillåt: Inställningar").click)
    assert body["decisions"] == decisions(preferences=True)
    page.locator("#map[src='/t/frame']").wait_for()


def test_receipt_is_sent_when_the_browser_refuses_local_storage(new_context, server):
    context = new_context()
    context.add_init_script(
        """Object.defineProperty(window, "localStorage", {
             get() { throw new DOMException("The operation is insecure.", "SecurityError"); }
           });"""
    )
    page = context.new_page()
    visit(page, server)
    assert (
        page.evaluate("(() => { try { localStorage; return 1; } catch (e) { return 0; } })()") == 0
    )
    body, claims = record(page, page.get_by_role("button", name="Godkänn alla").click)
    assert body["method"] == "accept_all" == claims["method"]
    wait_runs(page, RUN_ORDER)
    # The receipt is kept for this page view: the settings offer it for download.
    page.locator("#cm-open").click()
    with page.expect_download() as download:
        page.get_by_role("button", name="Ladda ner kvitto").click()
    saved = json.loads(Path(download.value.path()).read_text())
    assert saved["consent_id"] == body["consent_id"]


def test_works_under_a_strict_content_security_policy(page: Page, server):
    with page.expect_response(lambda r: "/t/page" in r.url) as answer:
        visit(page, server, csp="1", extra="tab")
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
