"""The banner on a test page in Chromium: a shop page with blocked scripts and frames under a
strict content security policy, the app that serves it, and what a test reads from the page."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Callable
from html import escape as html_escape
from pathlib import Path
from typing import Any

import jwt
from flask import Blueprint, Flask, Response, request
from playwright.sync_api import BrowserContext, Page
from playwright.sync_api import Response as PwResponse

from tests.support.apps import apply_data, example_data, make_app, reset_database
from tests.support.live import LiveServer

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
<script src="/banner/banner.js" data-site="{site}"{layout} nonce="{nonce}" defer></script>
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
    # ?layout= sets the script tag's data-layout (html-escaped: a test may send anything).
    layout = request.args.get("layout")
    layout = f' data-layout="{html_escape(layout)}"' if layout else ""
    html = PAGE.format(lang=attr, site=site, extra=extra, nonce=NONCE, layout=layout)
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
    apply_data(app, example_data())
    return app


def visit(page: Page, server: LiveServer, **query: str) -> None:
    """Open the test page and wait until the banner has booted."""
    qs = urllib.parse.urlencode(query)
    page.goto(f"{server.url}/t/page" + (f"?{qs}" if qs else ""))
    page.wait_for_function("window.ConsentManager && window.ConsentManager.ready")
    page.evaluate("ConsentManager.ready")


def is_consent_post(response: PwResponse) -> bool:
    """Whether a response answers a consent POST."""
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
    """The choice the banner stored in its cm_consent cookie, if any."""
    for cookie in context.cookies():
        if cookie["name"] == "cm_consent":
            return json.loads(urllib.parse.unquote(cookie["value"]))
    return None


def cookie_names(page: Page) -> set[str]:
    """The names of the cookies a script on the page can see."""
    return {c.split("=")[0] for c in page.evaluate("document.cookie").split("; ") if c}


def data_layer(page: Page) -> list[Any]:
    """The page's dataLayer, each entry as a list."""
    return page.evaluate("(window.dataLayer || []).map((e) => Array.from(e.length ? e : [e]))")


def wait_runs(page: Page, expected: list[str]) -> None:
    """Until the blocked scripts that ran are as many as expected; they are exactly those."""
    page.wait_for_function("n => window.runs.length >= n", arg=len(expected))
    assert page.evaluate("window.runs") == expected


def expect_hidden(page: Page) -> None:
    """Until the banner is gone."""
    page.wait_for_function("!document.getElementById('cm-banner')")


def decisions(**granted: bool) -> dict[str, bool]:
    """Decisions with the given optional categories granted, the others refused."""
    return {"necessary": True, **{k: granted.get(k, False) for k in OPTIONAL}}
